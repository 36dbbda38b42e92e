#include "control-plane/enrollment/enrollment.h"

#include <catch2/catch.hpp>

#include "common/crypto.h"
#include "common/enrollment_token.h"

namespace ovvoc::cp {
namespace {

const absl::Time kCreated = absl::FromUnixSeconds(1'800'000'000);

struct Fixture {
  EnrollmentToken token = NewEnrollmentToken(crypto::Sha256("ca"));
  EnrollmentTokenRecord record;
  Fixture() {
    record.id = token.token_id;
    record.secret_hash = HashEnrollmentSecret(token.secret);
    record.created_at = kCreated;
    record.expires_at = kCreated + absl::Minutes(10);
  }
};

TEST_CASE("a valid token is spent once") {
  Fixture f;
  REQUIRE(SpendEnrollmentToken(f.record, f.token.secret, "agt_1", kCreated).ok());
  CHECK(f.record.used);
  CHECK(f.record.used_by == "agt_1");
  CHECK(f.record.used_at == kCreated);
  absl::Status again = SpendEnrollmentToken(f.record, f.token.secret, "agt_2", kCreated);
  CHECK(absl::IsPermissionDenied(again));
  CHECK_THAT(std::string(again.message()), Catch::Contains("already used (by agt_1"));
  CHECK(f.record.used_by == "agt_1");
}

TEST_CASE("a token expires at its deadline, not a moment later") {
  Fixture f;
  EnrollmentTokenRecord late = f.record;
  absl::Status expired =
      SpendEnrollmentToken(late, f.token.secret, "agt_1", kCreated + absl::Minutes(10));
  CHECK(absl::IsPermissionDenied(expired));
  CHECK_THAT(std::string(expired.message()), Catch::Contains("expired"));
  CHECK(!late.used);
  CHECK(SpendEnrollmentToken(f.record, f.token.secret, "agt_1",
                             kCreated + absl::Minutes(10) - absl::Microseconds(1))
            .ok());
}

TEST_CASE("a wrong secret reveals nothing, even for a used or expired token") {
  Fixture f;
  const std::string wrong = crypto::RandomBytes(32);
  CHECK(absl::IsUnauthenticated(SpendEnrollmentToken(f.record, wrong, "agt_1", kCreated)));
  f.record.used = true;
  CHECK(absl::IsUnauthenticated(SpendEnrollmentToken(f.record, wrong, "agt_1", kCreated)));
  f.record.used = false;
  CHECK(absl::IsUnauthenticated(
      SpendEnrollmentToken(f.record, wrong, "agt_1", kCreated + absl::Hours(1))));
}

}  // namespace
}  // namespace ovvoc::cp
