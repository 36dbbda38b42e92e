// agent/npm/semver.h, one table per feature. Every expectation is what npm's bundled semver
// (7.8.6) answers; tests/integration/semver_differential_test.cc checks the same on thousands
// of generated cases against node itself.
#include "agent/npm/semver.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

namespace ovvoc::agent::npm {
namespace {

constexpr Options kStrict{false, false};
constexpr Options kLoose{true, false};
constexpr Options kPre{false, true};
constexpr Options kLoosePre{true, true};
const std::string kIdeographicSpace = "\xE3\x80\x80";  // U+3000
const std::string kNoBreakSpace = "\xC2\xA0";          // U+00A0

// nullopt: invalid.
std::optional<std::string> Printed(const std::string& text, const Options& options) {
  absl::StatusOr<Version> v = ParseVersion(text, options);
  if (!v.ok()) return std::nullopt;
  return v->ToString();
}

TEST_CASE("semver: parsing versions, strict and loose") {
  struct Case {
    std::string text;
    std::optional<std::string> strict, loose;
  };
  const std::vector<Case> cases = {
      {"1.2.3", "1.2.3", "1.2.3"},
      {"v1.2.3", "1.2.3", "1.2.3"},  // one 'v' is fine in strict mode
      {"=1.2.3", std::nullopt, "1.2.3"},
      {"v=v 1.2.3", std::nullopt, "1.2.3"},  // loose takes any run of v, = and whitespace
      {"vv1.2.3", std::nullopt, "1.2.3"},
      {"  1.2.3\t\n", "1.2.3", "1.2.3"},                                // trimmed
      {kIdeographicSpace + "1.2.3" + kNoBreakSpace, "1.2.3", "1.2.3"},  // JS whitespace
      {"v" + kIdeographicSpace + "1.2.3", std::nullopt, "1.2.3"},
      {"01.2.3", std::nullopt, "1.2.3"},  // leading zeros only in loose mode
      {"1.2.3-007", std::nullopt, "1.2.3-7"},
      {"1.2.3-0", "1.2.3-0", "1.2.3-0"},
      {"1.2.3beta", std::nullopt, "1.2.3-beta"},  // loose: no hyphen needed
      {"1.2.34.5", std::nullopt, "1.2.3-4.5"},    // loose: the patch gives digits back
      {"1.2.3-", std::nullopt, "1.2.3--"},        // loose: "-" is the identifier
      {"1.2.3-.a", std::nullopt, "1.2.3--.a"},
      {"1.2.3--", "1.2.3--", "1.2.3--"},
      {"1.2.3-a..b", std::nullopt, std::nullopt},
      {"1.2.3+build.5", "1.2.3", "1.2.3"},  // build metadata is kept apart
      {"1.2.3+", std::nullopt, std::nullopt},
      {"1.2", std::nullopt, std::nullopt},
      {"1.2.3.4", std::nullopt, std::nullopt},
      {"", std::nullopt, std::nullopt},
      {"9007199254740991.0.0", "9007199254740991.0.0", "9007199254740991.0.0"},
      {"9007199254740992.0.0", std::nullopt, std::nullopt},  // above MAX_SAFE_INTEGER
      {"0.0.9007199254740992", std::nullopt, std::nullopt},
      {"00000000000000000000001.2.3", std::nullopt, "1.2.3"},
      {"1.2.3-9007199254740993", "1.2.3-9007199254740993", "1.2.3-9007199254740993"},
      {"1.2.3-" + std::string(250, 'a'), "1.2.3-" + std::string(250, 'a'),
       "1.2.3-" + std::string(250, 'a')},
      {"1.2.3-" + std::string(251, 'a'), std::nullopt, std::nullopt},  // 257 characters
      // Loose mode prints the hyphen it did not need: 257 characters.
      {"1.2.3" + std::string(251, 'a'), std::nullopt, "1.2.3-" + std::string(251, 'a')},
  };
  for (const Case& c : cases) {
    INFO("version: " << c.text);
    CHECK(Printed(c.text, kStrict) == c.strict);
    CHECK(Printed(c.text, kLoose) == c.loose);
  }
}

TEST_CASE("semver: the 256-character limit counts UTF-16 code units before trimming") {
  std::string spaces;
  for (int i = 0; i < 251; ++i) spaces += kIdeographicSpace;  // 3 bytes, one code unit
  CHECK(Valid(spaces + "1.2.3") == "1.2.3");                  // 256 units
  CHECK(Valid(spaces + " 1.2.3") == std::nullopt);            // 257
  CHECK(Clean(spaces + " 1.2.3") == "1.2.3");                 // clean() trims first
  CHECK(Valid(std::string(251, ' ') + "1.2.3") == "1.2.3");
}

TEST_CASE("semver: prerelease identifiers are numbers below MAX_SAFE_INTEGER only") {
  absl::StatusOr<Version> v =
      ParseVersion("1.2.3-alpha.9007199254740990.9007199254740991.007", kLoose);
  REQUIRE(v.ok());
  REQUIRE(v->prerelease.size() == 4);
  CHECK(!v->prerelease[0].number);
  CHECK(v->prerelease[1].number == 9007199254740990u);
  CHECK(!v->prerelease[2].number);  // MAX_SAFE_INTEGER itself stays text
  CHECK(v->prerelease[3].number == 7u);
  CHECK(v->ToString() == "1.2.3-alpha.9007199254740990.9007199254740991.7");
}

TEST_CASE("semver: errors say what is wrong") {
  CHECK_THAT(std::string(ParseVersion("1.2").status().message()),
             Catch::Contains("Invalid Version: \"1.2\""));
  CHECK_THAT(std::string(ParseVersion("9007199254740992.0.0").status().message()),
             Catch::Contains("major"));
  CHECK_THAT(std::string(ParseVersion(std::string(300, '1')).status().message()),
             Catch::Contains("longer than 256"));
  CHECK_THAT(std::string(Range::Parse(">=1.2.3 foo").status().message()),
             Catch::Contains("Invalid comparator: \"foo\""));
  // Control characters from untrusted input come back escaped.
  CHECK_THAT(std::string(ParseVersion("1.\x1b[2J").status().message()),
             Catch::Contains("\\x1b[2J"));
}

TEST_CASE("semver: valid and clean") {
  CHECK(Valid("v1.2.3") == "1.2.3");
  CHECK(Valid("=1.2.3") == std::nullopt);
  CHECK(Clean("  =v1.2.3  ") == "1.2.3");  // leading = and v are dropped even when strict
  CHECK(Clean(" 1.2.3-beta+b ") == "1.2.3-beta");
  CHECK(Clean("v = 1.2.3") == std::nullopt);
  CHECK(Clean("~1.2.3") == std::nullopt);
}

TEST_CASE("semver: precedence") {
  struct Case {
    std::string a, b;
    int order;
  };
  const std::vector<Case> cases = {
      {"1.2.3", "1.2.4", -1},
      {"1.2.3-alpha", "1.2.3", -1},  // a prerelease is below its release
      {"1.2.3-1", "1.2.3-a", -1},    // numeric below alphanumeric
      {"1.2.3-a.10", "1.2.3-a.9", 1},
      {"1.2.3-a", "1.2.3-a.0", -1},  // fewer identifiers first
      {"1.2.3-B", "1.2.3-a", -1},    // ASCII order
      {"1.2.3+1", "1.2.3+2", 0},     // build ignored
      // Digit strings too long to be numbers compare as rounded doubles: npm calls these
      // equal, and stops at the first pair that is not identical.
      {"1.2.3-9007199254740993.1", "1.2.3-9007199254740992.2", 0},
  };
  for (const Case& c : cases) {
    INFO(c.a << " vs " << c.b);
    absl::StatusOr<Version> a = ParseVersion(c.a);
    absl::StatusOr<Version> b = ParseVersion(c.b);
    REQUIRE((a.ok() && b.ok()));
    CHECK(Compare(*a, *b) == c.order);
    CHECK(RCompare(*a, *b) == -c.order);
    CHECK(Eq(*a, *b) == (c.order == 0));
    CHECK(Lt(*a, *b) == (c.order < 0));
  }
  absl::StatusOr<Version> b2 = ParseVersion("1.2.3+2");
  absl::StatusOr<Version> b10 = ParseVersion("1.2.3+10");
  absl::StatusOr<Version> b01 = ParseVersion("1.2.3+01");
  absl::StatusOr<Version> b1 = ParseVersion("1.2.3+1");
  CHECK(CompareBuild(*b2, *b10) == -1);  // numeric build identifiers compare as numbers
  CHECK(CompareBuild(*b01, *b1) == 0);
  CHECK(*Cmp(*b01, "===", *b1));  // same version string
  CHECK(!Cmp(*b01, "~", *b1).ok());
}

TEST_CASE("semver: ranges desugar as npm prints them") {
  struct Case {
    std::string range;
    Options options;
    std::optional<std::string> printed;  // validRange(); nullopt: invalid
  };
  const std::vector<Case> cases = {
      {"", kStrict, "*"},
      {"*", kStrict, "*"},
      {"x.X.*", kStrict, "*"},
      {"1", kStrict, ">=1.0.0 <2.0.0-0"},
      {"1.2", kStrict, ">=1.2.0 <1.3.0-0"},
      {"1.x.x", kStrict, ">=1.0.0 <2.0.0-0"},
      {"1.2.x-beta", kStrict, ">=1.2.0 <1.3.0-0"},  // an x-range drops the prerelease
      {"x.1", kStrict, std::nullopt},
      {"x.1", kLoose, std::nullopt},
      {"^1.2.3", kStrict, ">=1.2.3 <2.0.0-0"},
      {"^0.2.3", kStrict, ">=0.2.3 <0.3.0-0"},
      {"^0.0.3", kStrict, ">=0.0.3 <0.0.4-0"},
      {"^0.0", kStrict, "<0.1.0-0"},  // >=0.0.0 is dropped as "any"
      {"^1.2.3-beta.2", kStrict, ">=1.2.3-beta.2 <2.0.0-0"},
      {"^00.2.3", kLoose, ">=0.2.3 <1.0.0-0"},  // "00" is not "0"
      {"^ 1.2", kStrict, ">=1.2.0 <2.0.0-0"},
      {"~1.2.3", kStrict, ">=1.2.3 <1.3.0-0"},
      {"~> 1.2", kStrict, ">=1.2.0 <1.3.0-0"},
      {"~1", kStrict, ">=1.0.0 <2.0.0-0"},
      {"~x.1", kStrict, "*"},  // no order check for tildes
      {"~1.2", kPre, ">=1.2.0-0 <1.3.0-0"},
      {">= 1.2.3", kStrict, ">=1.2.3"},
      {">1.2", kStrict, ">=1.3.0"},
      {"<=1.2", kStrict, "<1.3.0-0"},
      {"<1", kStrict, "<1.0.0-0"},
      {">*", kStrict, "<0.0.0-0"},
      {"=1.2.3", kStrict, "1.2.3"},
      {">=0.0.0", kStrict, "*"},
      {">=0.0.0", kPre, ">=0.0.0"},  // with includePrerelease only >=0.0.0-0 is "any"
      {"1.2.3 - 2.3.4", kStrict, ">=1.2.3 <=2.3.4"},
      {"1.2 - 2.3", kStrict, ">=1.2.0 <2.4.0-0"},
      {"1.2.3 - 2.3.4", kPre, ">=1.2.3-0 <2.3.5-0"},
      {"v1.2.3 - 2", kStrict, ">=1.2.3 <3.0.0-0"},
      {"= 1.2.3 - 2", kStrict, std::nullopt},   // ">== 1.2.3", as npm builds it
      {"1.2.3 +b - 2", kStrict, std::nullopt},  // stripping the build leaves two spaces
      {"1.2.3 +b 1.2.4", kStrict, "1.2.3 1.2.4"},
      {"+b", kStrict, "*"},
      {"1.2.3 || 2.x", kStrict, "1.2.3||>=2.0.0 <3.0.0-0"},
      {"|| 1.2.3", kStrict, "*"},  // an empty side is "any", and "any" swallows the rest
      {"<0.0.0-0 || 1.2.3", kStrict, "1.2.3"},
      {"1.2.3 foo", kStrict, std::nullopt},
      {"1.2.3 foo", kLoose, "1.2.3"},  // loose drops what is not a comparator
      {"1.2.3-*", kLoose, "1.2.3--"},
      {"^99999999999999999999999", kLoose, std::nullopt},  // the bound prints as 1e+23
      {">99999999999999999999999 || 1.2.3", kLoose, "1.2.3"},
      {"~1.2.3-" + std::string(300, 'a') + " || 1", kLoose, ">=1.0.0 <2.0.0-0"},
  };
  for (const Case& c : cases) {
    INFO("range: " << c.range << " loose " << c.options.loose << " includePrerelease "
                   << c.options.include_prerelease);
    CHECK(ValidRange(c.range, c.options) == c.printed);
  }
}

TEST_CASE("semver: satisfies, with npm's prerelease rule") {
  struct Case {
    std::string version, range;
    Options options;
    bool satisfied;
  };
  const std::vector<Case> cases = {
      {"1.2.4", "^1.2.3", kStrict, true},
      {"2.0.0", "^1.2.3", kStrict, false},
      {"1.2.3-pr.2", "^1.2.3-pr.1", kStrict, true},
      // Same range, but a prerelease of another major.minor.patch.
      {"1.2.4-alpha", "^1.2.3-beta", kStrict, false},
      {"1.2.4-alpha", "^1.2.3", kPre, true},
      {"1.2.3-beta", "*", kStrict, false},
      {"1.2.3-beta", "*", kPre, true},
      {"2.0.0-0", "<2.0.0", kStrict, false},
      {"v1.2.3", "1.2.3", kStrict, true},
      {"01.2.3", "1.2.3", kStrict, false},
      {"01.2.3", "1.2.3", kLoose, true},
      {"1.2.3", "", kStrict, true},
      {"", "*", kStrict, false},
      {"1.2.3", "not a range", kStrict, false},
      {"1.0.0-9007199254740993", "1.0.0-9007199254740992", kStrict, true},  // doubles
  };
  for (const Case& c : cases) {
    INFO(c.version << " in " << c.range);
    absl::StatusOr<bool> ok = Satisfies(c.version, c.range, c.options);
    REQUIRE(ok.ok());
    CHECK(*ok == c.satisfied);
  }
}

TEST_CASE("semver: where npm throws from satisfies(), Test() fails") {
  // loose "1.2.3aaa..." prints as "1.2.3-aaa...", one character too long to be read back,
  // which npm does when includePrerelease asks for another reading of the comparator.
  const std::string range = "1.2.3" + std::string(251, 'a');
  CHECK(*Satisfies("1.2.3", range, kLoose) == false);
  CHECK(Satisfies("1.2.3", range, kLoosePre).status().code() ==
        absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("semver: maxSatisfying and minSatisfying return the given text") {
  const std::vector<std::string> versions = {"1.2.3", "1.2.4", "1.3.0-beta", "v1.2.4", "junk"};
  CHECK(*MaxSatisfying(versions, "^1.2") == "1.2.4");  // the first of equals
  CHECK(*MinSatisfying({"1.2.4", "v1.2.3", "1.2.3"}, "^1.2") == "v1.2.3");
  CHECK(*MaxSatisfying(versions, "^1.2", kPre) == "1.3.0-beta");
  CHECK(*MaxSatisfying(versions, "~9") == std::nullopt);
  CHECK(*MaxSatisfying(versions, "not a range") == std::nullopt);
}

TEST_CASE("semver: inc") {
  struct Case {
    std::string version;
    ReleaseType release;
    std::string identifier;
    IdentifierBase base;
    std::optional<std::string> next;  // nullopt: npm returns null
  };
  using R = ReleaseType;
  constexpr IdentifierBase k0 = IdentifierBase::kZero;
  constexpr IdentifierBase k1 = IdentifierBase::kOne;
  constexpr IdentifierBase kNo = IdentifierBase::kNone;
  const std::vector<Case> cases = {
      {"1.2.3", R::kMajor, "", k0, "2.0.0"},
      {"1.0.0-5", R::kMajor, "", k0, "1.0.0"},  // a pre-major goes to its major
      {"1.2.0-5", R::kMinor, "", k0, "1.2.0"},
      {"1.2.3-5", R::kPatch, "", k0, "1.2.3"},
      {"1.2.3", R::kPremajor, "", k0, "2.0.0-0"},
      {"1.2.3", R::kPreminor, "rc", k1, "1.3.0-rc.1"},
      {"1.2.3-4", R::kPrepatch, "", k0, "1.2.4-0"},
      {"1.2.3", R::kPrerelease, "beta", k0, "1.2.4-beta.0"},
      {"1.2.3-beta.1", R::kPrerelease, "beta", k0, "1.2.3-beta.2"},
      {"1.2.3-alpha.1", R::kPrerelease, "beta", k1, "1.2.3-beta.1"},
      {"1.2.3-beta.x", R::kPrerelease, "beta", k0, "1.2.3-beta.0"},
      {"1.2.3-beta.1.x", R::kPrerelease, "beta.1", k0, "1.2.3-beta.1.0"},
      {"1.2.3", R::kPrerelease, "beta", kNo, "1.2.4-beta"},
      {"1.2.3-beta", R::kPrerelease, "beta", kNo, std::nullopt},  // already exists
      {"1.2.3", R::kPrerelease, "", kNo, std::nullopt},           // empty identifier
      {"1.2.3", R::kPrerelease, "01", k0, std::nullopt},          // invalid when strict
      // isNaN("0x1A") is false to JavaScript, so npm keeps it as if it were a number.
      {"1.2.3-beta.0x1A", R::kPrerelease, "beta", k0, "1.2.3-beta.0x1A.0"},
      {"1.2.3-9007199254740990", R::kPrerelease, "", k0, "1.2.3-9007199254740991"},
      {"1.2.3-9007199254740991", R::kPrerelease, "", k0, "1.2.3-9007199254740991.0"},
      {"1.2.3", R::kRelease, "", k0, std::nullopt},
      {"1.2.3-rc", R::kRelease, "", k0, "1.2.3"},
      {"1.2.3", R::kPre, "", k0, "1.2.3-0"},
      {"9007199254740991.0.0", R::kMajor, "", k0, "9007199254740992.0.0"},  // as in npm
      {"not a version", R::kMajor, "", k0, std::nullopt},
  };
  for (const Case& c : cases) {
    INFO(c.version << " " << ReleaseTypeName(c.release) << " " << c.identifier);
    absl::StatusOr<std::string> next = Inc(c.version, c.release, {}, c.identifier, c.base);
    CHECK((next.ok() ? std::optional<std::string>(*next) : std::nullopt) == c.next);
  }
  CHECK(*Inc("1.2.3", R::kPrerelease, kLoose, "01") == "1.2.4-01.0");
  CHECK(ParseReleaseType("preminor") == R::kPreminor);
  CHECK(ParseReleaseType("Major") == std::nullopt);
}

TEST_CASE("semver: diff") {
  struct Case {
    std::string a, b;
    std::optional<ReleaseType> kind;
  };
  using R = ReleaseType;
  const std::vector<Case> cases = {
      {"1.2.3", "2.0.0", R::kMajor},      {"1.2.3", "1.2.4-0", R::kPrepatch},
      {"1.1.0-1", "1.1.0", R::kMinor},    {"1.1.1-1", "1.1.1", R::kPatch},
      {"1.0.0-1", "2.0.0", R::kMajor},    {"1.0.0-1", "1.0.0", R::kMajor},
      {"1.1.0-1", "1.2.0", R::kMinor},    {"1.2.3-a", "1.2.3-b", R::kPrerelease},
      {"1.2.3", "1.2.3+b", std::nullopt},
  };
  for (const Case& c : cases) {
    INFO(c.a << " -> " << c.b);
    absl::StatusOr<std::optional<ReleaseType>> kind = Diff(c.a, c.b);
    REQUIRE(kind.ok());
    CHECK(*kind == c.kind);
  }
  CHECK(!Diff("1.2.3", "2").ok());  // npm throws
}

TEST_CASE("semver: coerce") {
  struct Case {
    std::string text;
    CoerceOptions options;
    std::optional<std::string> version;
  };
  const CoerceOptions plain{};
  const CoerceOptions rtl{false, false, true};
  const CoerceOptions full{false, true, false};
  const std::vector<Case> cases = {
      {"v2", plain, "2.0.0"},
      {"42.6.7.9.3-alpha", plain, "42.6.7"},
      {"42.6.7.9.3-alpha", rtl, "7.9.3"},
      {"1.2.3.4", rtl, "2.3.4"},
      {"1.2.3-rc.1+b", full, "1.2.3-rc.1"},
      {"1.2.3-rc.1+b", rtl, "1.0.0"},                 // the "1" of "rc.1" ends furthest right
      {"12345678901234567890", plain, std::nullopt},  // 16 digits at most
      {"12345678901234567.1", plain, "1.0.0"},
      {"v007", plain, std::nullopt},  // "007.0.0" is not strictly valid
      {"v007", CoerceOptions{true, false, false}, "7.0.0"},
      {"a1b2c3", rtl, "3.0.0"},
      {"1.2.3-01", full, "1.2.3"},  // "-0" would be followed by a digit
  };
  for (const Case& c : cases) {
    INFO(c.text);
    std::optional<Version> v = Coerce(c.text, c.options);
    CHECK((v ? std::optional<std::string>(v->ToString()) : std::nullopt) == c.version);
  }
  std::optional<Version> with_build = Coerce("1.2.3-rc.1+b.2", full);
  REQUIRE(with_build);
  CHECK(with_build->build == std::vector<std::string>{"b", "2"});
}

TEST_CASE("semver: intersects") {
  CHECK(*Intersects("^1.2", "~1.3"));
  CHECK(!*Intersects("^1", "^2"));
  CHECK(*Intersects("1.2.3", ">=1.2.3 <2"));
  CHECK(!*Intersects(">1.0.0", "<1.0.0"));
  CHECK(*Intersects(">=1.0.0", "<=1.0.0"));
  CHECK(!Intersects("junk", "1").ok());
}

TEST_CASE("semver: a Range exposes its comparators") {
  absl::StatusOr<Range> range = Range::Parse("^1.2.3 || 2.x", kStrict);
  REQUIRE(range.ok());
  REQUIRE(range->sets().size() == 2);
  REQUIRE(range->sets()[0].size() == 2);
  CHECK(range->sets()[0][0].op == ">=");
  CHECK(range->sets()[0][0].version->ToString() == "1.2.3");
  CHECK(range->sets()[0][1].ToString() == "<2.0.0-0");
  CHECK(range->ToString() == ">=1.2.3 <2.0.0-0||>=2.0.0 <3.0.0-0");
  absl::StatusOr<Range> any = Range::Parse("*", kStrict);
  REQUIRE(any.ok());
  CHECK(!any->sets()[0][0].version.has_value());
}

}  // namespace
}  // namespace ovvoc::agent::npm
