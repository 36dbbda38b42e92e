// What the registry component's unit tests share: a registry endpoint from a URL, an integrity
// of some bytes, and a RegistryClient over a fake HTTP client, a manual clock and a fresh cache.
#ifndef OVVOC_TESTS_UNIT_AGENT_REGISTRY_FIXTURES_H_
#define OVVOC_TESTS_UNIT_AGENT_REGISTRY_FIXTURES_H_

#include <openssl/sha.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "agent/registry/cache.h"
#include "agent/registry/client.h"
#include "agent/registry/endpoint.h"
#include "agent/registry/integrity.h"
#include "common/clock.h"
#include "tests/support/fake_http.h"
#include "tests/support/temp_dir.h"

namespace ovvoc::agent::registry {

inline RegistryEndpoint Endpoint(const std::string& url, const std::string& scope = "") {
  ovvoc::v1::Registry registry;
  registry.set_url(url);
  registry.set_scope(scope);
  absl::StatusOr<RegistryEndpoint> endpoint = RegistryEndpoint::FromProto(registry, false);
  REQUIRE(endpoint.ok());
  return *endpoint;
}

inline Integrity Sha512Of(absl::string_view data) {
  unsigned char digest[SHA512_DIGEST_LENGTH];
  SHA512(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return Integrity{"sha512", std::string(reinterpret_cast<char*>(digest), sizeof(digest))};
}

// A client whose registry is `http` (scripted by the test), retrying once without sleeping.
struct RegistryClientFixture {
  testing::TempDir dir;
  testing::FakeHttpClient http;
  ManualClock clock;
  std::unique_ptr<RegistryCache> cache = *RegistryCache::Open(dir.Sub("cache"), 64 << 20);
  RegistryClient client{
      http, *cache, clock,
      RegistryClientOptions{.retry = {.attempts = 2, .sleep = [](absl::Duration) {}}}};
};

}  // namespace ovvoc::agent::registry

#endif  // OVVOC_TESTS_UNIT_AGENT_REGISTRY_FIXTURES_H_
