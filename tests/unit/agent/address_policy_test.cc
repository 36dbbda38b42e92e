#include "agent/registry/address_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <catch2/catch.hpp>
#include <string>

namespace ovvoc::agent::registry {
namespace {

struct Case {
  const char* address;
  const char* cidr;  // nullptr: may be dialled
};

std::string RangeOf(const char* text) {
  std::optional<IpAddress> address = IpAddress::Parse(text);
  if (!address) return "<unparsable>";
  std::optional<BlockedRange> range = FindBlockedRange(*address);
  return range ? std::string(range->cidr) : "";
}

TEST_CASE("IPv4: every blocked range, its edges, and public neighbours") {
  const Case cases[] = {
      {"0.0.0.0", "0.0.0.0/8"},
      {"0.255.255.255", "0.0.0.0/8"},
      {"1.0.0.0", nullptr},
      {"9.255.255.255", nullptr},
      {"10.0.0.0", "10.0.0.0/8"},
      {"10.0.0.5", "10.0.0.0/8"},
      {"10.255.255.255", "10.0.0.0/8"},
      {"11.0.0.0", nullptr},
      {"100.63.255.255", nullptr},
      {"100.64.0.0", "100.64.0.0/10"},
      {"100.127.255.255", "100.64.0.0/10"},
      {"100.128.0.0", nullptr},
      {"126.255.255.255", nullptr},
      {"127.0.0.1", "127.0.0.0/8"},
      {"127.255.255.255", "127.0.0.0/8"},
      {"128.0.0.0", nullptr},
      {"169.253.255.255", nullptr},
      {"169.254.0.0", "169.254.0.0/16"},
      {"169.254.169.254", "169.254.0.0/16"},
      {"169.254.255.255", "169.254.0.0/16"},
      {"169.255.0.0", nullptr},
      {"172.15.255.255", nullptr},
      {"172.16.0.0", "172.16.0.0/12"},
      {"172.31.255.255", "172.16.0.0/12"},
      {"172.32.0.0", nullptr},
      {"192.0.0.0", "192.0.0.0/24"},
      {"192.0.0.255", "192.0.0.0/24"},
      {"192.0.1.0", nullptr},
      {"192.0.2.0", "192.0.2.0/24"},
      {"192.0.2.255", "192.0.2.0/24"},
      {"192.0.3.0", nullptr},
      {"192.167.255.255", nullptr},
      {"192.168.0.0", "192.168.0.0/16"},
      {"192.168.255.255", "192.168.0.0/16"},
      {"192.169.0.0", nullptr},
      {"198.17.255.255", nullptr},
      {"198.18.0.0", "198.18.0.0/15"},
      {"198.19.255.255", "198.18.0.0/15"},
      {"198.20.0.0", nullptr},
      {"198.51.99.255", nullptr},
      {"198.51.100.0", "198.51.100.0/24"},
      {"198.51.100.255", "198.51.100.0/24"},
      {"198.51.101.0", nullptr},
      {"203.0.112.255", nullptr},
      {"203.0.113.0", "203.0.113.0/24"},
      {"203.0.113.255", "203.0.113.0/24"},
      {"203.0.114.0", nullptr},
      {"223.255.255.255", nullptr},
      {"224.0.0.0", "224.0.0.0/4"},
      {"239.255.255.255", "224.0.0.0/4"},
      {"240.0.0.0", "240.0.0.0/4"},
      {"255.255.255.255", "240.0.0.0/4"},
      {"8.8.8.8", nullptr},
      {"104.16.0.1", nullptr},
  };
  for (const Case& c : cases) {
    INFO(c.address);
    CHECK(RangeOf(c.address) == (c.cidr ? c.cidr : ""));
  }
}

TEST_CASE("IPv6: special ranges and their edges") {
  const Case cases[] = {
      {"::", "::/128"},
      {"::1", "::1/128"},
      {"fc00::", "fc00::/7"},
      {"fd12:3456::1", "fc00::/7"},
      {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fc00::/7"},
      {"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "outside 2000::/3"},
      {"fe80::", "fe80::/10"},
      {"fe80::1", "fe80::/10"},
      {"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fe80::/10"},
      {"fec0::1", "fec0::/10"},
      {"ff00::", "ff00::/8"},
      {"ff02::1", "ff00::/8"},
      {"100::", "100::/64"},
      {"100::ffff:ffff:ffff:ffff", "100::/64"},
      {"100:0:0:1::", "outside 2000::/3"},
      {"2001:db8::", "2001:db8::/32"},
      {"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::/32"},
      {"2001:db9::1", nullptr},
      {"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", nullptr},
      {"2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001::/32"},  // Teredo
      {"64:ff9b:1::1", "64:ff9b:1::/48"},
      {"::1:0:0:1", "::/8"},
      {"2606:4700::6810:1", nullptr},  // a public address
      {"2a00:1450:4001:80b::200e", nullptr},
      {"3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", nullptr},
      {"4000::1", "outside 2000::/3"},
      {"1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "outside 2000::/3"},
  };
  for (const Case& c : cases) {
    INFO(c.address);
    CHECK(RangeOf(c.address) == (c.cidr ? c.cidr : ""));
  }
}

TEST_CASE("IPv6 forms carrying an IPv4 address are judged by that address") {
  struct Embedded {
    const char* address;
    const char* cidr;
    const char* via;
  };
  const Embedded cases[] = {
      {"::ffff:127.0.0.1", "127.0.0.0/8", "IPv4-mapped"},
      {"::ffff:7f00:1", "127.0.0.0/8", "IPv4-mapped"},
      {"::ffff:10.1.2.3", "10.0.0.0/8", "IPv4-mapped"},
      {"::ffff:169.254.169.254", "169.254.0.0/16", "IPv4-mapped"},
      {"::ffff:0.0.0.0", "0.0.0.0/8", "IPv4-mapped"},
      {"::ffff:8.8.8.8", nullptr, nullptr},
      {"::ffff:0:192.168.1.1", "192.168.0.0/16", "IPv4-translated"},
      {"::127.0.0.1", "127.0.0.0/8", "IPv4-compatible"},
      {"::0.0.0.2", "0.0.0.0/8", "IPv4-compatible"},
      {"::8.8.8.8", nullptr, nullptr},
      {"64:ff9b::127.0.0.1", "127.0.0.0/8", "NAT64"},
      {"64:ff9b::a9fe:a9fe", "169.254.0.0/16", "NAT64"},
      {"64:ff9b::8.8.8.8", nullptr, nullptr},
      {"2002:7f00:1::", "127.0.0.0/8", "6to4"},
      {"2002:c0a8:101::1", "192.168.0.0/16", "6to4"},
      {"2002:808:808::1", nullptr, nullptr},
  };
  for (const Embedded& c : cases) {
    INFO(c.address);
    std::optional<IpAddress> address = IpAddress::Parse(c.address);
    REQUIRE(address);
    std::optional<BlockedRange> range = FindBlockedRange(*address);
    if (c.cidr == nullptr) {
      CHECK(!range);
    } else {
      REQUIRE(range);
      CHECK(range->cidr == c.cidr);
      CHECK(range->via == c.via);
    }
  }
}

TEST_CASE("blocked ranges describe themselves for refusal messages") {
  std::optional<BlockedRange> loopback = FindBlockedRange(*IpAddress::Parse("127.0.0.1"));
  REQUIRE(loopback);
  CHECK(loopback->Describe() == "loopback 127.0.0.0/8");
  std::optional<BlockedRange> mapped = FindBlockedRange(*IpAddress::Parse("::ffff:10.0.0.5"));
  REQUIRE(mapped);
  CHECK(mapped->Describe() == "private 10.0.0.0/8 via IPv4-mapped");
  CHECK(FindBlockedRange(*IpAddress::Parse("169.254.169.254"))->kind == "link-local");
}

TEST_CASE("only strict IP literals parse") {
  for (const char* text : {"127.1", "0x7f.0.0.1", "2130706433", "127.0.0.1.", " 127.0.0.1", "[::1]",
                           "fe80::1%eth0", "", "localhost", "1.2.3.256", "::ffff:1.2.3"}) {
    INFO(text);
    CHECK(!IpAddress::Parse(text));
  }
  CHECK(IpAddress::Parse("0::1")->ToString() == "::1");
  CHECK(IpAddress::Parse("::FFFF:7F00:1")->ToString() == "::ffff:127.0.0.1");
  CHECK(IpAddress::Parse("192.0.2.1")->family == IpAddress::Family::kV4);
}

TEST_CASE("addresses from sockaddrs match their literals") {
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  inet_pton(AF_INET, "10.0.0.5", &v4.sin_addr);
  std::optional<IpAddress> a =
      IpAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&v4), sizeof(v4));
  REQUIRE(a);
  CHECK(*a == *IpAddress::Parse("10.0.0.5"));

  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::ffff:127.0.0.1", &v6.sin6_addr);
  std::optional<IpAddress> b =
      IpAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&v6), sizeof(v6));
  REQUIRE(b);
  CHECK(b->ToString() == "::ffff:127.0.0.1");
  CHECK(FindBlockedRange(*b)->kind == "loopback");

  sockaddr_in short_v4 = v4;
  CHECK(!IpAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&short_v4), 4));
}

TEST_CASE("metadata hostnames are recognised in any case") {
  for (const char* host : {"metadata.google.internal", "METADATA.Google.Internal",
                           "metadata.google.internal.", "metadata", "instance-data"}) {
    INFO(host);
    CHECK(IsMetadataHostname(host));
  }
  for (const char* host : {"registry.npmjs.org", "metadata.example.com", "notmetadata", ""}) {
    INFO(host);
    CHECK(!IsMetadataHostname(host));
  }
}

}  // namespace
}  // namespace ovvoc::agent::registry
