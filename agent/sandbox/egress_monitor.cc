#include "agent/sandbox/egress_monitor.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/sandbox/netns.h"
#include "common/logging.h"

namespace ovvoc::agent::sandbox {
namespace {

constexpr int kDnsPort = 53;
constexpr size_t kSnapLength = 512;  // IP + TCP/UDP headers and a DNS question
constexpr int kReceiveBuffer = 4 << 20;
constexpr uint8_t kTcpSyn = 0x02, kTcpAck = 0x10;

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

// The transport part of a packet whose IP header said `protocol`.
std::optional<EgressAttempt> ParseTransport(int protocol, absl::Span<const uint8_t> transport,
                                            std::string address, bool loopback) {
  EgressAttempt attempt;
  attempt.address = std::move(address);
  if (protocol == IPPROTO_TCP) {
    if (transport.size() < 20) return std::nullopt;
    const uint8_t flags = transport[13];
    if ((flags & (kTcpSyn | kTcpAck)) != kTcpSyn) return std::nullopt;  // not an opening
    attempt.protocol = EgressAttempt::Protocol::kTcp;
  } else if (protocol == IPPROTO_UDP) {
    if (transport.size() < 8) return std::nullopt;
    attempt.protocol = EgressAttempt::Protocol::kUdp;
  } else {
    return std::nullopt;
  }
  attempt.port = Be16(transport, 2);
  if (loopback && attempt.port != kDnsPort) return std::nullopt;  // the container's own
  if (attempt.protocol == EgressAttempt::Protocol::kUdp && attempt.port == kDnsPort) {
    attempt.dns_name = DnsQuestionName(transport.subspan(8));
  }
  return attempt;
}

// Builds a classic BPF program with forward jumps to labels.
class FilterBuilder {
 public:
  enum Label { kV4, kV6, kTcp4, kCheck4, kPort4, kTcp6, kCheck6, kAccept, kDrop, kLabels };

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

// The kernel-side half of ParseEgressPacket: outgoing TCP SYNs and UDP datagrams, to a
// non-loopback address or to port 53. Offsets are from the IP header (SOCK_DGRAM).
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
  f.Op(BPF_LDX | BPF_B | BPF_MSH, 0);  // X = IPv4 header length
  f.Op(BPF_LD | BPF_B | BPF_ABS, 9);
  f.JumpIfEqual(IPPROTO_TCP, F::kTcp4, kNext);
  f.JumpIfEqual(IPPROTO_UDP, F::kCheck4, F::kDrop);
  f.Bind(F::kTcp4);
  f.Op(BPF_LD | BPF_B | BPF_IND, 13);
  f.Op(BPF_ALU | BPF_AND | BPF_K, kTcpSyn | kTcpAck);
  f.JumpIfEqual(kTcpSyn, F::kCheck4, F::kDrop);
  f.Bind(F::kCheck4);
  f.Op(BPF_LD | BPF_B | BPF_ABS, 16);  // the destination's first byte
  f.JumpIfEqual(127, F::kPort4, F::kAccept);
  f.Bind(F::kPort4);
  f.Op(BPF_LD | BPF_H | BPF_IND, 2);  // the destination port
  f.JumpIfEqual(kDnsPort, F::kAccept, F::kDrop);

  f.Bind(F::kV6);  // extension headers are not followed: such packets are not kept
  f.Op(BPF_LD | BPF_B | BPF_ABS, 6);
  f.JumpIfEqual(IPPROTO_TCP, F::kTcp6, kNext);
  f.JumpIfEqual(IPPROTO_UDP, F::kCheck6, F::kDrop);
  f.Bind(F::kTcp6);
  f.Op(BPF_LD | BPF_B | BPF_ABS, 40 + 13);
  f.Op(BPF_ALU | BPF_AND | BPF_K, kTcpSyn | kTcpAck);
  f.JumpIfEqual(kTcpSyn, F::kCheck6, F::kDrop);
  f.Bind(F::kCheck6);  // ::1 is loopback; anything else is kept
  for (uint32_t offset : {24, 28, 32}) {
    f.Op(BPF_LD | BPF_W | BPF_ABS, offset);
    f.JumpIfEqual(0, kNext, F::kAccept);
  }
  f.Op(BPF_LD | BPF_W | BPF_ABS, 36);
  f.JumpIfEqual(1, kNext, F::kAccept);
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

std::string EgressAttempt::Describe() const {
  const std::string target =
      absl::StrCat(protocol == Protocol::kTcp ? "tcp " : "udp ",
                   absl::StrContains(address, ':') ? absl::StrCat("[", address, "]") : address,
                   ":", port);
  if (!dns()) return target;
  return absl::StrCat("DNS query", dns_name.empty() ? "" : absl::StrCat(" for ", dns_name), " (",
                      target, ")");
}

std::optional<EgressAttempt> ParseEgressPacket(absl::Span<const uint8_t> packet) {
  if (packet.empty()) return std::nullopt;
  char text[INET6_ADDRSTRLEN] = {};
  if (packet[0] >> 4 == 4) {
    const size_t header = size_t(packet[0] & 0x0f) * 4;
    if (header < 20 || packet.size() < header) return std::nullopt;
    if (Be16(packet, 6) & 0x1fff) return std::nullopt;  // a later fragment: no ports in it
    ::inet_ntop(AF_INET, packet.data() + 16, text, sizeof(text));
    return ParseTransport(packet[9], packet.subspan(header), text, packet[16] == 127);
  }
  if (packet[0] >> 4 == 6) {
    constexpr size_t kHeader = 40;
    if (packet.size() < kHeader) return std::nullopt;
    static constexpr uint8_t kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    ::inet_ntop(AF_INET6, packet.data() + 24, text, sizeof(text));
    return ParseTransport(packet[6], packet.subspan(kHeader), text,
                          std::memcmp(packet.data() + 24, kLoopback, 16) == 0);
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
      log::Info("egress monitor: no IPv6 route (%s); IPv6 attempts stay unreported",
                s.message());
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
    return absl::InternalError(absl::StrCat("cannot watch the container's network: ",
                                            status.message()));
  }
  return std::unique_ptr<EgressMonitor>(new EgressMonitor(std::move(socket)));
}

EgressMonitor::Report EgressMonitor::Drain() {
  Report report;
  using Key = std::tuple<EgressAttempt::Protocol, std::string, int, std::string>;
  std::map<Key, size_t> index;
  uint8_t buffer[kSnapLength];
  for (;;) {
    const ssize_t n = ::recv(socket_.get(), buffer, sizeof(buffer), MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;  // EAGAIN: the queue is empty
    }
    std::optional<EgressAttempt> attempt =
        ParseEgressPacket(absl::MakeConstSpan(buffer, std::min<size_t>(n, sizeof(buffer))));
    if (!attempt) continue;
    Key key{attempt->protocol, attempt->address, attempt->port, attempt->dns_name};
    auto it = index.find(key);
    if (it != index.end()) {
      ++report.attempts[it->second].count;
    } else if (report.attempts.size() < kMaxDistinct) {
      index.emplace(std::move(key), report.attempts.size());
      report.attempts.push_back({std::move(*attempt), 1});
    } else {
      ++report.more;
    }
  }
  tpacket_stats stats{};
  socklen_t length = sizeof(stats);
  if (::getsockopt(socket_.get(), SOL_PACKET, PACKET_STATISTICS, &stats, &length) == 0) {
    report.more += stats.tp_drops;  // reading the statistics resets them
  }
  return report;
}

}  // namespace ovvoc::agent::sandbox
