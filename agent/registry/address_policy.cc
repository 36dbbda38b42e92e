#include "agent/registry/address_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace ovvoc::agent::registry {
namespace {

struct V4Range {
  uint32_t base;  // host order
  int bits;
  absl::string_view kind;
  absl::string_view cidr;
};

constexpr uint32_t V4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

constexpr V4Range kV4Blocked[] = {
    {V4(0, 0, 0, 0), 8, "this-network", "0.0.0.0/8"},
    {V4(10, 0, 0, 0), 8, "private", "10.0.0.0/8"},
    {V4(100, 64, 0, 0), 10, "shared (CGNAT)", "100.64.0.0/10"},
    {V4(127, 0, 0, 0), 8, "loopback", "127.0.0.0/8"},
    {V4(169, 254, 0, 0), 16, "link-local", "169.254.0.0/16"},
    {V4(172, 16, 0, 0), 12, "private", "172.16.0.0/12"},
    {V4(192, 0, 0, 0), 24, "IETF protocol assignment", "192.0.0.0/24"},
    {V4(192, 0, 2, 0), 24, "documentation", "192.0.2.0/24"},
    {V4(192, 168, 0, 0), 16, "private", "192.168.0.0/16"},
    {V4(198, 18, 0, 0), 15, "benchmarking", "198.18.0.0/15"},
    {V4(198, 51, 100, 0), 24, "documentation", "198.51.100.0/24"},
    {V4(203, 0, 113, 0), 24, "documentation", "203.0.113.0/24"},
    {V4(224, 0, 0, 0), 4, "multicast", "224.0.0.0/4"},
    {V4(240, 0, 0, 0), 4, "reserved", "240.0.0.0/4"},
};

struct V6Range {
  std::array<uint8_t, 16> prefix;
  int bits;
  absl::string_view kind;
  absl::string_view cidr;
};

// Checked after the forms that embed an IPv4 address, which all sit inside ::/8.
const V6Range kV6Blocked[] = {
    {{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48, "local-use NAT64", "64:ff9b:1::/48"},
    {{}, 8, "reserved", "::/8"},
    {{0x01, 0x00}, 64, "discard", "100::/64"},
    {{0x20, 0x01, 0x0d, 0xb8}, 32, "documentation", "2001:db8::/32"},
    // Teredo hides the client's IPv4 address (XOR-ed) in the low bits: refuse it outright.
    {{0x20, 0x01, 0x00, 0x00}, 32, "Teredo", "2001::/32"},
    {{0xfc}, 7, "unique-local", "fc00::/7"},
    {{0xfe, 0x80}, 10, "link-local", "fe80::/10"},
    {{0xfe, 0xc0}, 10, "site-local", "fec0::/10"},
    {{0xff}, 8, "multicast", "ff00::/8"},
};

bool InPrefix(const uint8_t* address, const uint8_t* prefix, int bits) {
  int whole = bits / 8;
  if (std::memcmp(address, prefix, whole) != 0) return false;
  int rest = bits % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (address[whole] & mask) == (prefix[whole] & mask);
}

bool AllZero(const uint8_t* bytes, int n) {
  return std::all_of(bytes, bytes + n, [](uint8_t b) { return b == 0; });
}

uint32_t ReadV4(const uint8_t* bytes) { return V4(bytes[0], bytes[1], bytes[2], bytes[3]); }

std::optional<BlockedRange> FindBlockedV4(uint32_t address, absl::string_view via) {
  for (const V4Range& range : kV4Blocked) {
    uint32_t mask = ~uint32_t{0} << (32 - range.bits);
    if ((address & mask) == range.base) return BlockedRange{range.kind, range.cidr, via};
  }
  return std::nullopt;
}

// The IPv4 address an IPv6 address stands for, and how it embeds it.
std::optional<std::pair<uint32_t, absl::string_view>> EmbeddedV4(const uint8_t* b) {
  if (AllZero(b, 10) && b[10] == 0xff && b[11] == 0xff) return {{ReadV4(b + 12), "IPv4-mapped"}};
  if (AllZero(b, 8) && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0) {
    return {{ReadV4(b + 12), "IPv4-translated"}};
  }
  if (AllZero(b, 12)) return {{ReadV4(b + 12), "IPv4-compatible"}};
  static constexpr uint8_t kNat64[12] = {0x00, 0x64, 0xff, 0x9b};
  if (std::memcmp(b, kNat64, 12) == 0) return {{ReadV4(b + 12), "NAT64"}};
  if (b[0] == 0x20 && b[1] == 0x02) return {{ReadV4(b + 2), "6to4"}};
  return std::nullopt;
}

std::optional<BlockedRange> FindBlockedV6(const uint8_t* b) {
  if (AllZero(b, 16)) return BlockedRange{"unspecified", "::/128", ""};
  if (AllZero(b, 15) && b[15] == 1) return BlockedRange{"loopback", "::1/128", ""};
  if (auto embedded = EmbeddedV4(b)) return FindBlockedV4(embedded->first, embedded->second);
  for (const V6Range& range : kV6Blocked) {
    if (InPrefix(b, range.prefix.data(), range.bits)) {
      return BlockedRange{range.kind, range.cidr, ""};
    }
  }
  // Everything public is global unicast today; the rest is unallocated or special.
  static constexpr uint8_t kGlobalUnicast[1] = {0x20};
  if (!InPrefix(b, kGlobalUnicast, 3)) {
    return BlockedRange{"not global unicast", "outside 2000::/3", ""};
  }
  return std::nullopt;
}

}  // namespace

std::optional<IpAddress> IpAddress::Parse(absl::string_view text) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
  std::string s(text);
  IpAddress address;
  if (inet_pton(AF_INET, s.c_str(), address.bytes.data()) == 1) return address;
  address.family = Family::kV6;
  if (inet_pton(AF_INET6, s.c_str(), address.bytes.data()) == 1) return address;
  return std::nullopt;
}

std::optional<IpAddress> IpAddress::FromSockaddr(const sockaddr* addr, socklen_t len) {
  IpAddress address;
  if (addr->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    std::memcpy(address.bytes.data(), &in->sin_addr, 4);
    return address;
  }
  if (addr->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    address.family = Family::kV6;
    std::memcpy(address.bytes.data(), &in6->sin6_addr, 16);
    return address;
  }
  return std::nullopt;
}

std::string IpAddress::ToString() const {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == Family::kV4 ? AF_INET : AF_INET6, bytes.data(), text, sizeof(text));
  return text;
}

std::string BlockedRange::Describe() const {
  return absl::StrCat(kind, " ", cidr, via.empty() ? "" : " via ", via);
}

std::optional<BlockedRange> FindBlockedRange(const IpAddress& address) {
  if (address.family == IpAddress::Family::kV4) {
    return FindBlockedV4(ReadV4(address.bytes.data()), "");
  }
  return FindBlockedV6(address.bytes.data());
}

bool IsMetadataHostname(absl::string_view host) {
  absl::ConsumeSuffix(&host, ".");
  for (absl::string_view name : {"metadata.google.internal", "metadata", "instance-data"}) {
    if (absl::EqualsIgnoreCase(host, name)) return true;
  }
  return false;
}

}  // namespace ovvoc::agent::registry
