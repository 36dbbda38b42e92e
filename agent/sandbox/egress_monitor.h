// EgressMonitor: sees, and reports, every attempt the container makes to reach past its own
// loopback, in every phase. The egress proxy only hears what is sent to it; a direct
// connection (`net.connect("1.1.1.1", 443)`) or a DNS query never reaches it.
//
// How: the container's network namespace has nothing but `lo`. Without a route, a connection
// to another address fails inside connect() (ENETUNREACH) and leaves no trace. The monitor
// adds "local" default routes (IPv4 and IPv6) to that namespace's local table, so that every
// address is delivered to `lo` instead: the attempt becomes a packet, which nothing answers
// (ECONNREFUSED at once; a DNS query gets "port unreachable"), and an AF_PACKET socket on
// `lo`, opened in the namespace by the agent, records it. A classic-BPF filter keeps only
// outgoing TCP SYNs and UDP datagrams whose destination is not loopback, plus anything to port
// 53 (the resolver's default server is 127.0.0.1); ParseEgressPacket checks every packet again.
//
// Nothing leaves the namespace: it has no interface but `lo`, and the routes only make
// unreachable addresses local. The container cannot change them (it has no CAP_NET_ADMIN).
// A process that listens on 0.0.0.0 in the container is reachable through any address, which
// is the container talking to itself.
//
// Packets queue in the socket's receive buffer (no thread); Drain() reads them after a phase.
// What the kernel had to drop for lack of room is counted, never silently lost.
#ifndef OVVOC_AGENT_SANDBOX_EGRESS_MONITOR_H_
#define OVVOC_AGENT_SANDBOX_EGRESS_MONITOR_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/unique_fd.h"

namespace ovvoc::agent::sandbox {

// One attempt to reach an address that is not the container's own loopback.
struct EgressAttempt {
  enum class Protocol { kTcp, kUdp };
  Protocol protocol = Protocol::kTcp;
  std::string address;   // "1.1.1.1", "2606:4700::1111"
  int port = 0;
  std::string dns_name;  // a DNS query's name (UDP to port 53), "" otherwise

  bool dns() const { return port == 53; }
  // "tcp 1.1.1.1:443", "DNS query for example.com (udp 127.0.0.1:53)".
  std::string Describe() const;
  friend bool operator==(const EgressAttempt&, const EgressAttempt&) = default;
};

// `packet` is an outgoing IPv4 or IPv6 packet without a link-layer header. An attempt when it
// opens a TCP connection (SYN without ACK) or is a UDP datagram, to a non-loopback address or
// to port 53; nullopt for anything else, including malformed packets.
std::optional<EgressAttempt> ParseEgressPacket(absl::Span<const uint8_t> packet);

class EgressMonitor {
 public:
  // Installs the routes and opens the socket inside the network namespace at `netns_path`
  // ("/proc/PID/ns/net"). Call before anything runs in the container.
  static absl::StatusOr<std::unique_ptr<EgressMonitor>> Start(const std::string& netns_path);

  struct Observed {
    EgressAttempt attempt;
    uint64_t count = 0;  // identical attempts (a retrying client) are counted, not repeated
  };
  struct Report {
    std::vector<Observed> attempts;  // in the order first seen
    uint64_t more = 0;  // attempts beyond kMaxDistinct distinct ones, or dropped by the kernel
  };
  static constexpr size_t kMaxDistinct = 64;

  // Every attempt queued since the last call. Call once a phase's processes are gone.
  Report Drain();

 private:
  explicit EgressMonitor(UniqueFd socket) : socket_(std::move(socket)) {}
  UniqueFd socket_;
};

}  // namespace ovvoc::agent::sandbox

#endif  // OVVOC_AGENT_SANDBOX_EGRESS_MONITOR_H_
