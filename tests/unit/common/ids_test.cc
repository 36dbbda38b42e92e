#include "common/ids.h"

#include <catch2/catch.hpp>
#include <string>
#include <unordered_set>
#include <vector>

#include "absl/strings/string_view.h"

namespace ovvoc {
namespace {

// Crockford base32 as common/ids.cc uses it: no i, l, o, u.
constexpr absl::string_view kAlphabet = "0123456789abcdefghjkmnpqrstvwxyz";

TEST_CASE("NewId has the prefix, an underscore and 16 alphabet characters", "[ids]") {
  for (std::string prefix : {"job", "agt", "x", "enroll"}) {
    std::string id = NewId(prefix);
    INFO("id: " << id);
    REQUIRE(id.size() == prefix.size() + 1 + 16);
    CHECK(id.substr(0, prefix.size()) == prefix);
    CHECK(id[prefix.size()] == '_');
    for (char c : id.substr(prefix.size() + 1)) {
      CHECK(kAlphabet.find(c) != absl::string_view::npos);
    }
    CHECK(IsWellFormedId(id, prefix));
  }
}

TEST_CASE("NewId is unique over 10k ids", "[ids]") {
  std::unordered_set<std::string> seen;
  for (int i = 0; i < 10000; ++i) seen.insert(NewId("job"));
  CHECK(seen.size() == 10000);
}

TEST_CASE("NewId uses the whole alphabet in every position", "[ids]") {
  // 80 bits map exactly onto 16 digits, so no position is biased or constant (a bit-packing
  // slip would pin the first or last digit).
  std::vector<std::unordered_set<char>> per_position(16);
  for (int i = 0; i < 2000; ++i) {
    std::string id = NewId("a");
    for (size_t p = 0; p < 16; ++p) per_position[p].insert(id[2 + p]);
  }
  for (size_t p = 0; p < 16; ++p) {
    INFO("position " << p);
    CHECK(per_position[p].size() == kAlphabet.size());
  }
}

TEST_CASE("IsWellFormedId accepts good ids", "[ids]") {
  CHECK(IsWellFormedId("job_0123456789abcdef", "job"));
  CHECK(IsWellFormedId("job_ghjkmnpqrstvwxyz", "job"));
  CHECK(IsWellFormedId("agt_zzzzzzzzzzzzzzzz", "agt"));
}

TEST_CASE("IsWellFormedId rejects bad ids", "[ids]") {
  std::string good = NewId("job");
  REQUIRE(IsWellFormedId(good, "job"));
  CHECK_FALSE(IsWellFormedId(good, "agt"));        // other prefix
  CHECK_FALSE(IsWellFormedId(good, "jo"));         // prefix that is only a prefix
  CHECK_FALSE(IsWellFormedId(good + "0", "job"));  // too long
  CHECK_FALSE(IsWellFormedId(good.substr(0, good.size() - 1), "job"));  // too short
  CHECK_FALSE(IsWellFormedId("", "job"));
  CHECK_FALSE(IsWellFormedId("job", "job"));
  CHECK_FALSE(IsWellFormedId("job_", "job"));
  CHECK_FALSE(IsWellFormedId("job-0123456789abcdef", "job"));  // wrong separator
  CHECK_FALSE(IsWellFormedId("jobx0123456789abcdef", "job"));
  CHECK_FALSE(IsWellFormedId("job_0123456789ABCDEF", "job"));  // uppercase
  // Letters Crockford leaves out.
  CHECK_FALSE(IsWellFormedId("job_0123456789abcdei", "job"));
  CHECK_FALSE(IsWellFormedId("job_0123456789abcdel", "job"));
  CHECK_FALSE(IsWellFormedId("job_0123456789abcdeo", "job"));
  CHECK_FALSE(IsWellFormedId("job_0123456789abcdeu", "job"));
  CHECK_FALSE(IsWellFormedId("job_0123456789abcde_", "job"));
  CHECK_FALSE(IsWellFormedId("job_0123456789abcde ", "job"));
  CHECK_FALSE(IsWellFormedId(std::string("job_0123456789abcde\0", 20), "job"));
  CHECK_FALSE(IsWellFormedId("job_0123456789abcde/", "job"));
}

}  // namespace
}  // namespace ovvoc
