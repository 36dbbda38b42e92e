// EgressMonitor: sees, and reports, every attempt the container makes to reach past its own
// loopback, in every phase. The registry gateway only hears what is sent to it; a direct
// connection (`net.connect("1.1.1.1", 443)`) or a DNS query never reaches it.
//
// How: the container's network namespace has nothing but `lo`. Without a route, a connection
// to another address fails inside connect() (ENETUNREACH) and leaves no trace. The monitor
// adds "local" default routes (IPv4 and IPv6) to that namespace's local table, so that every
// address is delivered to `lo` instead: the attempt becomes a packet, which nothing answers
// (ECONNREFUSED at once; a DNS query gets "port unreachable"), and an AF_PACKET socket on
// `lo`, opened in the namespace by the agent, records it. A classic-BPF filter keeps every
// outgoing packet whose destination is not loopback, whatever its protocol, plus TCP and UDP to
// loopback port 53 (the resolver's default server is 127.0.0.1); ParseEgressPacket reads each
// one again and leaves out what the kernel sent in answer.
//
// Nothing leaves the namespace: it has no interface but `lo`, and the routes only make
// unreachable addresses local. The container cannot change them (it has no CAP_NET_ADMIN).
// A process that listens on 0.0.0.0 in the container is reachable through any address, which
// is the container talking to itself.
//
// A thread of the monitor reads the socket as packets come, so that a flood cannot fill the
// kernel's queue and push a real attempt out; what the kernel still had to drop is counted.
// Attempts are kept per destination (an address, or a DNS name): repeats to the same
// destination, on any port or protocol, are counted, so decoys at many ports cost an attacker
// nothing but hide nothing. Up to kMaxDestinations destinations are kept per Drain(); past that
// the rest are counted, and that many destinations is itself the finding.
#ifndef OVVOC_AGENT_REGISTRY_EGRESS_MONITOR_H_
#define OVVOC_AGENT_REGISTRY_EGRESS_MONITOR_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "common/unique_fd.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc::agent::registry {

// One attempt to reach an address that is not the container's own loopback.
struct EgressAttempt {
  int protocol = 0;      // IP protocol number (IPPROTO_TCP, IPPROTO_UDPLITE, ...)
  std::string address;   // "1.1.1.1", "2606:4700::1111"
  int port = 0;          // 0 when the protocol has none, or in a later fragment
  std::string dns_name;  // a DNS query's name (UDP to port 53), "" otherwise
  // Behind an IPv6 routing header, `address` is the header's final destination and `via` the
  // first hop the packet was addressed to, when they differ. `route_unread`: the header could
  // not be read to its end, so `address` is only the first hop.
  std::string via;
  bool route_unread = false;

  bool dns() const;
  // Where it went: the DNS name when there is one, else the address.
  std::string destination() const { return dns_name.empty() ? address : dns_name; }
  // "tcp 1.1.1.1:443", "udplite 1.1.1.1:9", "ipv6-route 2001:db8::1",
  // "DNS query for example.com (udp 127.0.0.1:53)".
  std::string Describe() const;
  friend bool operator==(const EgressAttempt&, const EgressAttempt&) = default;
};

// `packet` is an outgoing IPv4 or IPv6 packet without a link-layer header. An attempt when it
// goes to a non-loopback address (whatever its protocol, through any IPv6 extension headers),
// or is a DNS query to loopback; nullopt for anything else: malformed packets, and what the
// kernel sends in answer to an attempt (TCP resets, ICMP errors and replies).
std::optional<EgressAttempt> ParseEgressPacket(absl::Span<const uint8_t> packet);

class EgressMonitor {
 public:
  // Installs the routes and opens the socket inside the network namespace at `netns_path`
  // ("/proc/PID/ns/net"), and starts reading it. Call before anything runs in the container.
  static absl::StatusOr<std::unique_ptr<EgressMonitor>> Start(const std::string& netns_path);
  ~EgressMonitor();

  struct Observed {
    EgressAttempt attempt;  // the first attempt at this destination
    uint64_t count = 0;     // every attempt at it, the first included
    // Other protocol/port pairs tried at the same destination ("udp 53"), up to kMaxVariants.
    std::vector<std::string> variants;
    uint64_t more_variants = 0;

    // attempt.Describe(), and the variants when there are any.
    std::string Describe() const;
  };
  struct Report {
    std::vector<Observed> attempts;  // one per destination, in the order first seen
    uint64_t more_destinations = 0;  // distinct destinations past kMaxDestinations
    uint64_t dropped = 0;            // packets the kernel dropped before the monitor read them
  };
  static constexpr size_t kMaxDestinations = 4096;
  static constexpr size_t kMaxVariants = 8;

  // Every attempt since the last call. Call once a phase's processes are gone.
  Report Drain() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  EgressMonitor(UniqueFd socket, UniqueFd stop);
  void ReadLoop();
  // Reads at most `max_packets` from the socket's queue, fewer when it empties.
  void ReadQueued(size_t max_packets) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Add(EgressAttempt attempt) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Immutable after construction.
  const UniqueFd socket_;
  const UniqueFd stop_;  // an eventfd: readable once the destructor wants the thread gone

  absl::Mutex mu_;
  Report report_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, size_t> index_ ABSL_GUARDED_BY(mu_);  // destination -> entry

  std::thread reader_;
};

// A phase's report as findings. Each destination is named: the first kMaxEgressFindings as
// blocked-egress findings of their own (HIGH during install, when the code that runs is the
// dependencies', MEDIUM in build and test), the rest listed in egress-flood findings that each
// fit a result field (kMaxEgressListBytes). What the monitor could only count (destinations
// past its cap, packets the kernel dropped) is said as such: the list may then be incomplete.
inline constexpr size_t kMaxEgressFindings = 64;
inline constexpr size_t kMaxEgressListBytes = 3000;
std::vector<ovvoc::v1::SecurityFinding> EgressFindings(const EgressMonitor::Report& report,
                                                       absl::string_view phase);

}  // namespace ovvoc::agent::registry

#endif  // OVVOC_AGENT_REGISTRY_EGRESS_MONITOR_H_
