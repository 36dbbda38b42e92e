#include "agent/registry/egress_monitor.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/process/netns.h"
#include "common/logging.h"

namespace ovvoc::agent::registry {
namespace {

constexpr int kDnsPort = 53;
// IP headers, the longest IPv6 routing header (2 KiB) and a transport header with a DNS question.
constexpr size_t kSnapLength = 2560;
constexpr int kReceiveBuffer = 32 << 20;  // used only while a flood outruns the reader
constexpr uint8_t kTcpSyn = 0x02, kTcpAck = 0x10;
constexpr size_t kReadBatch = 4096;
constexpr size_t kDrainLimit = 1 << 20;

uint16_t Be16(absl::Span<const uint8_t> p, size_t at) { return uint16_t(p[at] << 8 | p[at + 1]); }

// The first question's name of a DNS message, printable; "" when there is none to read.
std::string DnsQuestionName(absl::Span<const uint8_t> message) {
  constexpr size_t kHeader = 12, kMaxName = 253;
  if (message.size() <= kHeader || Be16(message, 4) == 0) return "";
  std::string name;
  for (size_t at = kHeader; at < message.size();) {
    size_t length = message[at++];
    if (length == 0) return name;
    if (length > 63 || name.size() + length + 1 > kMaxName) break;  // a pointer, or oversized
    length = std::min(length, message.size() - at);  // a truncated message: what is there
    if (!name.empty()) name += '.';
    for (size_t i = 0; i < length; ++i) {
      const char c = static_cast<char>(message[at + i]);
      const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '-' || c == '_';
      name += plain ? c : '?';
    }
    at += length;
  }
  return name.empty() ? "" : name + "...";
}

const char* ProtocolName(int protocol) {
  switch (protocol) {
    case IPPROTO_TCP:
      return "tcp";
    case IPPROTO_UDP:
      return "udp";
    case IPPROTO_UDPLITE:
      return "udplite";
    case IPPROTO_SCTP:
      return "sctp";
    case IPPROTO_DCCP:
      return "dccp";
    case IPPROTO_ICMP:
      return "icmp";
    case IPPROTO_ICMPV6:
      return "icmpv6";
    case IPPROTO_ROUTING:
      return "ipv6-route";
    case IPPROTO_FRAGMENT:
      return "ipv6-frag";
    case IPPROTO_ESP:
      return "esp";
    case IPPROTO_AH:
      return "ah";
    case IPPROTO_GRE:
      return "gre";
    default:
      return nullptr;
  }
}

// Where in `packet` the final destination of the routing header at `at` (`length` bytes)
// starts: type 0's last address; the first entry of types 2 (mobile IPv6's home address) and 4
// (segment routing, whose list is in reverse order); nullopt for other types or a header cut
// short.
std::optional<size_t> FinalSegment(absl::Span<const uint8_t> packet, size_t at, size_t length) {
  if (packet.size() < at + length || length < 24) return std::nullopt;
  switch (packet[at + 2]) {
    case 0:
      return at + length - 16;
    case 2:
    case 4:
      return at + 8;
    default:
      return std::nullopt;
  }
}

bool HasPorts(int protocol) {
  return protocol == IPPROTO_TCP || protocol == IPPROTO_UDP || protocol == IPPROTO_UDPLITE ||
         protocol == IPPROTO_SCTP || protocol == IPPROTO_DCCP;
}

// What the kernel sends in answer to an attempt (the routes make every address local, so the
// answers are outgoing packets too): TCP resets and ICMP errors and replies. Not the job's.
bool IsKernelAnswer(int protocol, absl::Span<const uint8_t> transport) {
  if (protocol == IPPROTO_TCP) {
    // Only an opening is an attempt; without raw sockets nothing else can come from the job.
    return transport.size() < 14 || (transport[13] & (kTcpSyn | kTcpAck)) != kTcpSyn;
  }
  if (protocol == IPPROTO_ICMP) {
    if (transport.empty()) return true;
    const uint8_t type = transport[0];  // echo, timestamp, information, address mask requests
    return !(type == 8 || type == 13 || type == 15 || type == 17);
  }
  if (protocol == IPPROTO_ICMPV6) return transport.empty() || transport[0] != 128;  // echo
  return false;
}

// The attempt in a packet to `address` whose (last) header said `protocol`; `transport` is
// what follows that header, empty in a later fragment.
std::optional<EgressAttempt> ParseTransport(int protocol, absl::Span<const uint8_t> transport,
                                            std::string address, bool loopback,
                                            bool later_fragment) {
  EgressAttempt attempt;
  attempt.protocol = protocol;
  attempt.address = std::move(address);
  if (!later_fragment && IsKernelAnswer(protocol, transport)) return std::nullopt;
  if (!later_fragment && HasPorts(protocol) && transport.size() >= 4) {
    attempt.port = Be16(transport, 2);
  }
  const bool dns = attempt.dns();
  if (loopback && !dns) return std::nullopt;  // the container talking to itself
  if (dns && protocol != IPPROTO_TCP && transport.size() > 8) {
    attempt.dns_name = DnsQuestionName(transport.subspan(8));
  }
  return attempt;
}

// Builds a classic BPF program with forward jumps to labels.
class FilterBuilder {
 public:
  enum Label { kV4, kV6, kPort4, kPort6, kAccept, kDrop, kLabels };

  void Op(uint16_t code, uint32_t k) { code_.push_back(BPF_STMT(code, k)); }
  // if (A == k) goto yes; else goto no. kLabels: the next instruction.
  void JumpIfEqual(uint32_t k, Label yes, Label no) {
    fixups_.push_back({code_.size(), yes, no});
    code_.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, k, 0, 0));
  }
  void Bind(Label label) { at_[label] = code_.size(); }

  std::vector<sock_filter> Finish() {
    for (const Fixup& f : fixups_) {
      code_[f.at].jt = f.yes == kLabels ? 0 : static_cast<uint8_t>(at_[f.yes] - f.at - 1);
      code_[f.at].jf = f.no == kLabels ? 0 : static_cast<uint8_t>(at_[f.no] - f.at - 1);
    }
    return code_;
  }

 private:
  struct Fixup {
    size_t at;
    Label yes, no;
  };
  std::vector<sock_filter> code_;
  std::vector<Fixup> fixups_;
  size_t at_[kLabels] = {};
};

// The kernel-side half of ParseEgressPacket: every outgoing packet to a non-loopback address,
// and TCP or UDP to loopback port 53. Offsets are from the IP header (SOCK_DGRAM). What the
// kernel answers is kept too (it goes to the same non-loopback address) and left out by the
// parser: the filter must not miss an attempt, and cannot follow IPv6 extension headers.
std::vector<sock_filter> EgressFilter() {
  using F = FilterBuilder;
  F f;
  constexpr auto kNext = F::kLabels;
  f.Op(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE);
  f.JumpIfEqual(PACKET_OUTGOING, kNext, F::kDrop);  // lo shows each packet twice
  f.Op(BPF_LD | BPF_B | BPF_ABS, 0);
  f.Op(BPF_ALU | BPF_RSH | BPF_K, 4);
  f.JumpIfEqual(4, F::kV4, kNext);
  f.JumpIfEqual(6, F::kV6, F::kDrop);

  f.Bind(F::kV4);
  f.Op(BPF_LD | BPF_B | BPF_ABS, 16);  // the destination's first byte
  f.JumpIfEqual(127, kNext, F::kAccept);
  f.Op(BPF_LD | BPF_B | BPF_ABS, 9);  // loopback: DNS only
  f.JumpIfEqual(IPPROTO_TCP, F::kPort4, kNext);
  f.JumpIfEqual(IPPROTO_UDP, F::kPort4, F::kDrop);
  f.Bind(F::kPort4);
  f.Op(BPF_LDX | BPF_B | BPF_MSH, 0);  // X = IPv4 header length
  f.Op(BPF_LD | BPF_H | BPF_IND, 2);   // the destination port
  f.JumpIfEqual(kDnsPort, F::kAccept, F::kDrop);

  f.Bind(F::kV6);  // ::1 is loopback; anything else is kept
  for (uint32_t offset : {24, 28, 32}) {
    f.Op(BPF_LD | BPF_W | BPF_ABS, offset);
    f.JumpIfEqual(0, kNext, F::kAccept);
  }
  f.Op(BPF_LD | BPF_W | BPF_ABS, 36);
  f.JumpIfEqual(1, kNext, F::kAccept);
  // Loopback: DNS only, and anything behind an extension header (a routing header can name
  // another final destination; the parser follows the headers, the filter cannot).
  f.Op(BPF_LD | BPF_B | BPF_ABS, 6);
  f.JumpIfEqual(IPPROTO_TCP, F::kPort6, kNext);
  f.JumpIfEqual(IPPROTO_UDP, F::kPort6, kNext);
  f.JumpIfEqual(IPPROTO_HOPOPTS, F::kAccept, kNext);
  f.JumpIfEqual(IPPROTO_ROUTING, F::kAccept, kNext);
  f.JumpIfEqual(IPPROTO_DSTOPTS, F::kAccept, kNext);
  f.JumpIfEqual(IPPROTO_FRAGMENT, F::kAccept, kNext);
  f.JumpIfEqual(IPPROTO_AH, F::kAccept, kNext);
  f.JumpIfEqual(135 /* mobility */, F::kAccept, F::kDrop);
  f.Bind(F::kPort6);
  f.Op(BPF_LD | BPF_H | BPF_ABS, 40 + 2);
  f.JumpIfEqual(kDnsPort, F::kAccept, F::kDrop);

  f.Bind(F::kAccept);
  f.Op(BPF_RET | BPF_K, kSnapLength);
  f.Bind(F::kDrop);
  f.Op(BPF_RET | BPF_K, 0);
  return f.Finish();
}

// `ip route add local default dev lo table local` for `family`, through rtnetlink.
absl::Status AddLocalDefaultRoute(int family, int loopback_index) {
  UniqueFd sock(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!sock.valid()) return absl::InternalError(absl::StrCat("netlink: ", std::strerror(errno)));
  struct {
    nlmsghdr header;
    rtmsg route;
    rtattr oif_attr;
    int oif;
  } request{};
  request.header.nlmsg_len = sizeof(request);
  request.header.nlmsg_type = RTM_NEWROUTE;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
  request.route.rtm_family = static_cast<uint8_t>(family);
  request.route.rtm_table = RT_TABLE_LOCAL;
  request.route.rtm_protocol = RTPROT_STATIC;
  request.route.rtm_scope = RT_SCOPE_HOST;
  request.route.rtm_type = RTN_LOCAL;
  request.oif_attr.rta_len = RTA_LENGTH(sizeof(int));
  request.oif_attr.rta_type = RTA_OIF;
  request.oif = loopback_index;
  if (::send(sock.get(), &request, sizeof(request), 0) < 0) {
    return absl::InternalError(absl::StrCat("netlink send: ", std::strerror(errno)));
  }
  struct {
    nlmsghdr header;
    nlmsgerr error;
  } reply{};
  const ssize_t n = ::recv(sock.get(), &reply, sizeof(reply), 0);
  if (n < static_cast<ssize_t>(sizeof(reply)) || reply.header.nlmsg_type != NLMSG_ERROR) {
    return absl::InternalError("netlink: no acknowledgement for the route");
  }
  if (reply.error.error != 0) {
    return absl::InternalError(absl::StrCat(family == AF_INET6 ? "IPv6" : "IPv4",
                                            " route: ", std::strerror(-reply.error.error)));
  }
  return absl::OkStatus();
}

}  // namespace

bool EgressAttempt::dns() const {
  return port == kDnsPort &&
         (protocol == IPPROTO_TCP || protocol == IPPROTO_UDP || protocol == IPPROTO_UDPLITE);
}

std::string EgressAttempt::Describe() const {
  const char* name = ProtocolName(protocol);
  const std::string host =
      absl::StrContains(address, ':') ? absl::StrCat("[", address, "]") : address;
  const std::string target =
      absl::StrCat(name != nullptr ? name : absl::StrCat("ip protocol ", protocol), " ",
                   port > 0 ? absl::StrCat(host, ":", port) : address);
  std::string routed;
  if (route_unread) {
    routed = " behind a routing header too long to read: its final destination is unknown";
  } else if (!via.empty()) {
    routed = absl::StrCat(" routed via ", via);
  }
  if (!dns()) return target + routed;
  return absl::StrCat("DNS query", dns_name.empty() ? "" : absl::StrCat(" for ", dns_name), " (",
                      target, ")", routed);
}

std::string EgressMonitor::Observed::Describe() const {
  if (variants.empty()) return attempt.Describe();
  return absl::StrCat(attempt.Describe(), " (also ", absl::StrJoin(variants, ", "),
                      more_variants > 0 ? absl::StrCat(" and ", more_variants, " more") : "", ")");
}

std::optional<EgressAttempt> ParseEgressPacket(absl::Span<const uint8_t> packet) {
  if (packet.empty()) return std::nullopt;
  char text[INET6_ADDRSTRLEN] = {};
  if (packet[0] >> 4 == 4) {
    const size_t header = size_t(packet[0] & 0x0f) * 4;
    if (header < 20 || packet.size() < header) return std::nullopt;
    const bool later_fragment = (Be16(packet, 6) & 0x1fff) != 0;  // no ports in it
    ::inet_ntop(AF_INET, packet.data() + 16, text, sizeof(text));
    return ParseTransport(packet[9],
                          later_fragment ? absl::Span<const uint8_t>() : packet.subspan(header),
                          text, packet[16] == 127, later_fragment);
  }
  if (packet[0] >> 4 == 6) {
    constexpr size_t kHeader = 40;
    if (packet.size() < kHeader) return std::nullopt;
    static constexpr uint8_t kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    bool loopback = std::memcmp(packet.data() + 24, kLoopback, 16) == 0;
    ::inet_ntop(AF_INET6, packet.data() + 24, text, sizeof(text));
    // Through the extension headers to the transport (RFC 8200 section 4). A routing header
    // names where the packet is finally going: that is the destination reported, whatever the
    // header's first hop (the address field) says, loopback included.
    int next = packet[6];
    size_t at = kHeader;
    bool routed = false;
    std::string first_hop = text;
    bool route_unread = false;
    auto finish = [&](std::optional<EgressAttempt> attempt) {
      if (attempt && routed) {
        attempt->route_unread = route_unread;
        if (!route_unread && attempt->address != first_hop) attempt->via = first_hop;
      }
      return attempt;
    };
    for (int hops = 0; hops < 16; ++hops) {
      const bool extension = next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING ||
                             next == IPPROTO_DSTOPTS || next == IPPROTO_FRAGMENT ||
                             next == IPPROTO_AH || next == 135 /* mobility */;
      if (!extension) break;
      if (packet.size() < at + 8) {
        // Cut short by the snap length: where it went is known, the rest is not.
        return finish(ParseTransport(next, {}, text, loopback, /*later_fragment=*/true));
      }
      const int following = packet[at];
      size_t length = (size_t(packet[at + 1]) + 1) * 8;
      if (next == IPPROTO_FRAGMENT) {
        length = 8;
        if ((Be16(packet, at + 2) & 0xfff8) != 0) {  // a later fragment
          return finish(ParseTransport(following, {}, text, loopback, /*later_fragment=*/true));
        }
      } else if (next == IPPROTO_AH) {
        length = (size_t(packet[at + 1]) + 2) * 4;
      } else if (next == IPPROTO_ROUTING && !routed) {
        routed = true;
        loopback = false;
        if (const std::optional<size_t> final = FinalSegment(packet, at, length)) {
          ::inet_ntop(AF_INET6, packet.data() + *final, text, sizeof(text));
        } else {
          route_unread = true;
        }
      }
      next = following;
      at += length;
    }
    const bool cut = packet.size() < at;
    return finish(ParseTransport(next, cut ? absl::Span<const uint8_t>() : packet.subspan(at), text,
                                 loopback, /*later_fragment=*/cut));
  }
  return std::nullopt;
}

absl::StatusOr<std::unique_ptr<EgressMonitor>> EgressMonitor::Start(const std::string& netns_path) {
  UniqueFd socket;
  absl::Status status = RunInNetns(netns_path, [&socket]() -> absl::Status {
    const int lo = static_cast<int>(::if_nametoindex("lo"));
    if (lo == 0) return absl::InternalError("the container has no lo");
    if (absl::Status s = AddLocalDefaultRoute(AF_INET, lo); !s.ok()) return s;
    if (absl::Status s = AddLocalDefaultRoute(AF_INET6, lo); !s.ok()) {
      // Without IPv6 in the namespace there is nothing to reach over it either.
      log::Info("egress monitor: no IPv6 route (%s); IPv6 attempts stay unreported", s.message());
    }
    // Protocol 0: nothing is queued before the filter is attached and the socket bound.
    socket.reset(::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!socket.valid()) {
      return absl::InternalError(absl::StrCat("packet socket: ", std::strerror(errno)));
    }
    std::vector<sock_filter> code = EgressFilter();
    sock_fprog program{static_cast<unsigned short>(code.size()), code.data()};
    if (::setsockopt(socket.get(), SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof(program)) != 0) {
      return absl::InternalError(absl::StrCat("packet filter: ", std::strerror(errno)));
    }
    const int size = kReceiveBuffer;
    (void)::setsockopt(socket.get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
    sockaddr_ll address{};
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ETH_P_ALL);
    address.sll_ifindex = lo;
    if (::bind(socket.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      return absl::InternalError(absl::StrCat("packet socket bind: ", std::strerror(errno)));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot watch the container's network: ", status.message()));
  }
  UniqueFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop.valid()) return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  return std::unique_ptr<EgressMonitor>(new EgressMonitor(std::move(socket), std::move(stop)));
}

EgressMonitor::EgressMonitor(UniqueFd socket, UniqueFd stop)
    : socket_(std::move(socket)), stop_(std::move(stop)) {
  reader_ = std::thread([this] { ReadLoop(); });
}

EgressMonitor::~EgressMonitor() {
  const uint64_t one = 1;
  (void)!::write(stop_.get(), &one, sizeof(one));
  reader_.join();
}

void EgressMonitor::ReadLoop() {
  for (;;) {
    pollfd p[2] = {{socket_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (::poll(p, 2, -1) < 0 && errno != EINTR) return;
    if (p[1].revents != 0) return;
    if (p[0].revents & (POLLERR | POLLNVAL)) return;
    absl::MutexLock lock(&mu_);
    ReadQueued(kReadBatch);  // then back to poll(): a flood cannot keep the thread from stopping
  }
}

void EgressMonitor::ReadQueued(size_t max_packets) {
  uint8_t buffer[kSnapLength];
  for (size_t read = 0; read < max_packets; ++read) {
    const ssize_t n = ::recv(socket_.get(), buffer, sizeof(buffer), MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // EAGAIN: the queue is empty
    }
    std::optional<EgressAttempt> attempt =
        ParseEgressPacket(absl::MakeConstSpan(buffer, std::min<size_t>(n, sizeof(buffer))));
    if (attempt) Add(*std::move(attempt));
  }
}

void EgressMonitor::Add(EgressAttempt attempt) {
  const std::string destination = attempt.destination();
  auto it = index_.find(destination);
  if (it == index_.end()) {
    if (report_.attempts.size() >= kMaxDestinations) {
      ++report_.more_destinations;
      return;
    }
    index_.emplace(destination, report_.attempts.size());
    report_.attempts.push_back({std::move(attempt), 1, {}, 0});
    return;
  }
  Observed& seen = report_.attempts[it->second];
  ++seen.count;
  if (attempt == seen.attempt) return;
  const char* name = ProtocolName(attempt.protocol);
  const std::string variant = absl::StrCat(
      name != nullptr ? name : absl::StrCat("ip protocol ", attempt.protocol),
      attempt.port > 0 ? absl::StrCat(" ", attempt.port) : "",
      attempt.address != seen.attempt.address ? absl::StrCat(" at ", attempt.address) : "");
  if (std::find(seen.variants.begin(), seen.variants.end(), variant) != seen.variants.end()) {
    return;
  }
  if (seen.variants.size() < kMaxVariants) {
    seen.variants.push_back(variant);
  } else {
    ++seen.more_variants;
  }
}

std::vector<ovvoc::v1::SecurityFinding> EgressFindings(const EgressMonitor::Report& report,
                                                       absl::string_view phase) {
  std::vector<ovvoc::v1::SecurityFinding> findings;
  const ovvoc::v1::Severity severity =
      phase == "install" ? ovvoc::v1::SEVERITY_HIGH : ovvoc::v1::SEVERITY_MEDIUM;
  auto add = [&](const char* kind, ovvoc::v1::Severity level, std::string detail) {
    ovvoc::v1::SecurityFinding& finding = findings.emplace_back();
    finding.set_kind(kind);
    finding.set_severity(level);
    finding.set_detail(std::move(detail));
  };
  const size_t itemised = std::min(report.attempts.size(), kMaxEgressFindings);
  for (size_t i = 0; i < itemised; ++i) {
    const EgressMonitor::Observed& seen = report.attempts[i];
    add("blocked-egress", severity,
        absl::StrCat(seen.Describe(), " refused during ", phase,
                     seen.count > 1 ? absl::StrCat(" (", seen.count, " times)") : "",
                     ": the sandbox has no network but the registry gateway"));
  }
  if (report.attempts.size() == itemised && report.more_destinations == 0 && report.dropped == 0) {
    return findings;
  }
  const uint64_t total = report.attempts.size() + report.more_destinations;
  std::string head = absl::StrCat("the job tried to reach ", total, " destinations during ", phase,
                                  "; besides the ", itemised, " above, every one is named below");
  if (report.more_destinations > 0) {
    absl::StrAppend(&head, " but ", report.more_destinations, " past the first ",
                    report.attempts.size(), ", which were counted and not kept");
  }
  if (report.dropped > 0) {
    absl::StrAppend(&head, "; ", report.dropped,
                    " packets came faster than the monitor could read them, so attempts may be "
                    "missing");
  }
  add("egress-flood", ovvoc::v1::SEVERITY_HIGH, head);
  // The rest, every one named, in findings that each fit a result field.
  std::string list;
  auto flush = [&] {
    if (!list.empty()) {
      add("egress-flood", ovvoc::v1::SEVERITY_HIGH,
          absl::StrCat("also tried during ", phase, ": ", list));
    }
    list.clear();
  };
  for (size_t i = itemised; i < report.attempts.size(); ++i) {
    const std::string destination = report.attempts[i].attempt.destination();
    if (list.size() + destination.size() + 2 > kMaxEgressListBytes) flush();
    absl::StrAppend(&list, list.empty() ? "" : ", ", destination);
  }
  flush();
  return findings;
}

EgressMonitor::Report EgressMonitor::Drain() {
  absl::MutexLock lock(&mu_);
  // What the reader has not got to yet; a queue that refills as fast as it drains (a job that
  // is still running) is read for a bounded while, and the rest is the next Drain()'s.
  ReadQueued(kDrainLimit);
  tpacket_stats stats{};
  socklen_t length = sizeof(stats);
  if (::getsockopt(socket_.get(), SOL_PACKET, PACKET_STATISTICS, &stats, &length) == 0) {
    report_.dropped += stats.tp_drops;  // reading the statistics resets them
  }
  Report report = std::move(report_);
  report_ = Report();
  index_.clear();
  return report;
}

}  // namespace ovvoc::agent::registry
