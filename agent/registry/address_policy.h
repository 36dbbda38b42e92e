// Which IP addresses the registry client may dial. A job's registry hostname is resolved by the
// agent, outside the container; if the answer points at the agent's own network (loopback,
// private ranges, link-local and the cloud metadata service, documentation or reserved space),
// the container could reach what the agent reaches. Everything here is pure and thread-safe.
#ifndef OVVOC_AGENT_REGISTRY_ADDRESS_POLICY_H_
#define OVVOC_AGENT_REGISTRY_ADDRESS_POLICY_H_

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace ovvoc::agent::registry {

// An IPv4 or IPv6 address. `bytes` is in network order; IPv4 uses the first 4.
struct IpAddress {
  enum class Family { kV4, kV6 };
  Family family = Family::kV4;
  std::array<uint8_t, 16> bytes{};

  // Strict literals only: dotted-quad IPv4 or IPv6 (no brackets, no zone id). Not "127.1",
  // "0x7f.0.0.1" or "2130706433", which some resolvers accept.
  static std::optional<IpAddress> Parse(absl::string_view text);
  // From a sockaddr_in / sockaddr_in6 (as getaddrinfo returns); nullopt for other families.
  static std::optional<IpAddress> FromSockaddr(const sockaddr* addr, socklen_t len);
  // Canonical text: "10.0.0.5", "::ffff:127.0.0.1", "2001:db8::1".
  std::string ToString() const;

  bool operator==(const IpAddress&) const = default;
};

// A range the proxy refuses to dial unless the endpoint says allow_internal.
struct BlockedRange {
  absl::string_view kind;  // "private", "loopback", "link-local", ...
  absl::string_view cidr;  // "10.0.0.0/8"; for an embedded IPv4, the IPv4 range
  absl::string_view via;   // "" or how an IPv6 address embeds it: "IPv4-mapped", "NAT64", ...

  // "loopback 127.0.0.0/8" or "loopback 127.0.0.0/8 via IPv4-mapped".
  std::string Describe() const;
};

// The blocked range holding `address`, or nullopt for an address the proxy may dial.
// IPv6 forms that carry an IPv4 address (IPv4-mapped ::ffff:0:0/96, IPv4-translated
// ::ffff:0:0:0/96, IPv4-compatible ::/96, NAT64 64:ff9b::/96, 6to4 2002::/16) are judged by
// that IPv4 address, since that is where the packets end up.
std::optional<BlockedRange> FindBlockedRange(const IpAddress& address);

// True for the cloud metadata service's well-known hostnames, which the proxy refuses by name
// before resolving. Case-insensitive; a trailing dot is ignored.
bool IsMetadataHostname(absl::string_view host);

}  // namespace ovvoc::agent::registry

#endif  // OVVOC_AGENT_REGISTRY_ADDRESS_POLICY_H_
