#include "common/enrollment_token.h"

#include <catch2/catch.hpp>

#include "common/crypto.h"

namespace ovvoc {
namespace {

TEST_CASE("enrollment tokens round-trip and carry the pin") {
  const std::string pin = crypto::Sha256("ca");
  EnrollmentToken token = NewEnrollmentToken(pin);
  std::string text = FormatEnrollmentToken(token);
  absl::StatusOr<EnrollmentToken> parsed = ParseEnrollmentToken(text);
  REQUIRE(parsed.ok());
  CHECK(parsed->ca_pin == pin);
  CHECK(parsed->token_id == token.token_id);
  CHECK(parsed->secret == token.secret);
  CHECK(NewEnrollmentToken(pin).secret != token.secret);
}

TEST_CASE("malformed enrollment tokens are refused with a reason") {
  const std::string good = FormatEnrollmentToken(NewEnrollmentToken(crypto::Sha256("ca")));
  for (std::string bad :
       {std::string(""), std::string("ovvoc1"), good + ".extra", "ovvoc2" + good.substr(6),
        good.substr(0, good.size() - 4), std::string("ovvoc1.AAAA.tok_0123456789abcdef.AAAA")}) {
    absl::StatusOr<EnrollmentToken> parsed = ParseEnrollmentToken(bad);
    CHECK(absl::IsInvalidArgument(parsed.status()));
    CHECK_THAT(std::string(parsed.status().message()), Catch::Contains("malformed"));
  }
}

TEST_CASE("the stored hash depends on the secret and is not the secret") {
  EnrollmentToken a = NewEnrollmentToken(crypto::Sha256("ca"));
  EnrollmentToken b = NewEnrollmentToken(crypto::Sha256("ca"));
  CHECK(HashEnrollmentSecret(a.secret) == HashEnrollmentSecret(a.secret));
  CHECK(HashEnrollmentSecret(a.secret) != HashEnrollmentSecret(b.secret));
  CHECK(HashEnrollmentSecret(a.secret).find(a.secret) == std::string::npos);
  CHECK(HashEnrollmentSecret(a.secret).size() == 32);
}

}  // namespace
}  // namespace ovvoc
