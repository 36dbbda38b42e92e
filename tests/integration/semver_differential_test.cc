// agent/npm/semver.h against the semver module bundled with the job image's npm: one table of
// hand-picked cases plus thousands generated from a fixed seed, evaluated by npm's code in one
// node process (semver_differential.js) and by ours; every answer must be the same.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/npm/semver.h"
#include "nlohmann/json.hpp"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace ovvoc::agent::npm {
namespace {

using Json = nlohmann::json;

constexpr char kImageNode[] = "/var/lib/ovvoc/images/current/rootfs/usr/local/bin/node";
constexpr char kImageSemver[] =
    "/var/lib/ovvoc/images/current/rootfs/usr/local/lib/node_modules/npm/node_modules/semver";

bool NodeReady() {
  if (std::ifstream(kImageNode).good() && std::ifstream(absl::StrCat(kImageSemver, "/index.js")))
    return true;
  const char* ci = std::getenv("CI");
  if (ci != nullptr && std::string(ci) == "true")
    FAIL("the job image's node or semver is missing under CI=true: " << kImageNode);
  WARN("skipping: the job image's node is not at " << kImageNode);
  return false;
}

// ---- cases ----

struct Cases {
  std::vector<std::string> versions;
  std::vector<std::pair<std::string, std::string>> pairs;  // compared
  std::vector<std::string> ranges;
  std::vector<std::pair<std::string, std::string>> satisfies;  // version, range
  std::vector<std::pair<std::vector<std::string>, std::string>> best;
  std::vector<Json> inc;  // [version, release, identifier|null, base|null|false, loose]
  std::vector<std::pair<std::string, std::string>> diff;
  std::vector<std::string> coerce;
  std::vector<std::pair<std::string, std::string>> intersects;

  Json ToJson() const {
    return {{"versions", versions},   {"pairs", pairs},   {"ranges", ranges},
            {"satisfies", satisfies}, {"best", best},     {"inc", inc},
            {"diff", diff},           {"coerce", coerce}, {"intersects", intersects}};
  }
};

// The hand table: what reading semver's source suggested could go wrong.
// clang-format off
const std::vector<std::string> kHandVersions = {
    // prefixes and whitespace, JavaScript's Unicode whitespace included
    "1.2.3", "v1.2.3", "=1.2.3", "v=1.2.3", "=v1.2.3", "vv1.2.3", "==1.2.3", "v 1.2.3",
    "= 1.2.3", " 1.2.3 ", "\t v1.2.3\n", "1.2.3 ", "\xE3\x80\x80" "1.2.3",
    "v\xE3\x80\x80" "1.2.3", "\xC2\xA0v1.2.3\xEF\xBB\xBF", "\xF0\x9F\x98\x80" "1.2.3",
    "1.2.3\xF0\x9F\x98\x80",
    // leading zeros, loose prereleases, the patch giving digits back
    "01.2.3", "1.02.3", "1.2.03", "1.2.3-01", "1.2.3-007", "1.2.3-0", "1.2.3-00", "1.2.3beta",
    "1.2.34.5", "00000000000000000000001.2.3",
    // prerelease and build syntax
    "1.2.3-beta", "1.2.3--", "1.2.3-", "1.2.3-.a", "1.2.3-a.", "1.2.3-a..b", "1.2.3-a-b-c",
    "1.2.3-A.B", "1.2.3-\xC3\xA9", "1.2.3+build", "1.2.3+", "1.2.3+a.", "1.2.3+a+b",
    "1.2.3-beta+exp.sha.5114f85", "1.2.3+001", "1.2.3-rc.1+001",
    // not versions
    "1.2.3.4", "1.2", "1", "", " ", "v",
    // MAX_SAFE_INTEGER, and identifiers JavaScript reads as numbers
    "9007199254740991.0.0", "9007199254740992.0.0", "0.9007199254740991.0", "0.0.9007199254740992",
    "18446744073709551616.0.0", "1.2.3-9007199254740990", "1.2.3-9007199254740991",
    "1.2.3-9007199254740992", "1.2.3-9007199254740993", "1.2.3-09007199254740993",
    "1.2.3-alpha.9007199254740993", "1.2.3-0x1A", "1.2.3-Infinity", "1.2.3-1e5",
    // ordinary neighbours, for satisfies()
    "1.2.3-beta.1", "1.2.3-beta.2", "1.2.3-beta.10", "1.2.3-beta.a", "1.2.3-alpha", "1.2.4-alpha",
    "2.0.0", "2.0.0-0", "0.0.0", "0.0.0-0", "0.0.1", "0.1.0", "1.0.0", "1.3.0-0", "1.2.3-pr.2",
    // the 256-character and 250-character limits
    std::string(250, '1') + ".0.0", "1.2.3-" + std::string(250, 'a'), "1.2.3-" + std::string(251, 'a'),
    "1.2.3" + std::string(251, 'a'), "v" + std::string(251, ' ') + "1.2.3",
    "1.2.3" + std::string(300, ' '), "  " + std::string(255, 'v') + "1.2.3",
    "1.2.3+" + std::string(250, 'b'), "1.2.3+" + std::string(251, 'b')};

const std::vector<std::string> kHandRanges = {
    // any, partial versions, x-ranges
    "", " ", "*", "x", "X", "x.x", "x.x.x", "*.*.*", "1", "1.2", "1.x", "1.x.x", "1.2.x", "1.*",
    "1.2.*", "x.1", "1.x.2", "*.1.2",
    // carets and tildes, spaced, partial, prerelease, odd
    "^1.2.3", "^ 1.2.3", "^1.2", "^1", "^0.2.3", "^0.0.3", "^0.0", "^0", "^0.x", "^0.0.x",
    "^1.2.3-beta.1", "^0.0.3-beta", "^0.2.3-beta", "^*", "^x.1", "^00.2.3", "^01.2.3", "~1.2.3",
    "~ 1.2.3", "~>1.2.3", "~> 1.2.3", "~1.2", "~1", "~0", "~1.2.3-beta.2", "~*", "~x.1", "~1.x.3",
    "~>*", "~ > 1", "~~1", "^^1", "~=1.2.3", "~>v1.2", "^v1", "^v1.2.3", "^=1.2.3", "~v1.2",
    "^ v 1.2",
    // operators, with and without spaces, and on partial versions
    ">=1.2.3", ">= 1.2.3", "> 1.2.3", "<1.2.3", "< 1.2.3", "<=1.2.3", "=1.2.3", "= 1.2.3",
    "==1.2.3", "=<1.2.3", "<>1.2.3", ">1", ">1.2", ">=1", ">=1.2", "<1", "<1.2", "<=1", "<=1.2",
    "<=1.2.x", ">1.x", ">*", "<*", ">=*", "<=*", "=*", ">x", "<x.x", ">=0.0.0", ">=0.0.0-0",
    ">=0.0", ">0.0.0", "<0.0.0-0", "<0.0.0", "> = 1.2.3", "< = 1.2.3", ">= v 1.2.3",
    ">=v1.2.3 <v2", "~ > 1.2", "> \t1.2.3", ">\xE3\x80\x80" "1.2.3", "<=  =1.2.3", "v1.2.3",
    ">=v1.2.3",
    // hyphen ranges
    "1.2.3 - 2.3.4", "1.2 - 2.3.4", "1.2.3 - 2.3", "1.2.3 - 2", "1 - 2", "* - 2", "1.2.3 - *",
    "x - x", "1.2.3-beta - 2.3.4", "1.2.3 - 2.3.4-beta", "v1.2.3 - v2.3.4", "= 1.2.3 - 2",
    "1.2.3 -2.3.4", "1.2.3- 2.3.4", "1.2.3  -  2.3.4", "1.2.3 +b - 2", "1.2.3+b - 2.3.4+c",
    "1.2.3 - 2.3.4 - 3", "1.2.3-beta.1 - 1.2.3-beta.5",
    // || and sets
    "1.2.3 || 2.3.4", "1.2.3||2.3.4", "|| 1.2.3", "1.2.3 ||", "||", "|||", "1 || 2 || 3",
    "<1 || >2", "* || 1", "1 || *", "<0.0.0-0 || <0.0.0-0", "<0.0.0-0 || 1", ">=1.2.3 <2",
    ">=1.2.3 <2.0.0-0", ">1.2.3 >1.2.3", "1.2.3 1.2.3", "* 1.2.3", "1.2.3 *", "1.2.3 <0.0.0-0",
    "1.2.3 >=1.2.3-0", ">=1.2.3\t<2", ">=1.2.3\xE3\x80\x80<2", "\xC2\xA0^1.2.3\xC2\xA0",
    // build metadata, junk
    "1.2.3+build", "+b", "1.2.3 +b 1.2.4", "^1.2.3+b", "1.2.3-*", "**", "a", "latest",
    "1.2.3 a", ">=a", "^1.2.3 foo || 2",
    // numbers computed as doubles
    "^99999999999999999999999", ">99999999999999999999999", "~1.99999999999999999999999",
    "^9007199254740991.0.0", "^9007199254740990", ">9007199254740990.x", "<=9007199254740991.x",
    "1.2.34.5", "^1.2.34.5", "1.2.3beta", "~1.2.3beta",
    // the regular expressions' length limits
    "1.2.3-" + std::string(300, 'a') + " || 1", "~1.2.3-" + std::string(300, 'a') + " || 1",
    "1.2." + std::string(300, '1'), "1.2.3" + std::string(251, 'a'), std::string(300, 'v') + "1.2.3",
    "^1.2.3-" + std::string(251, 'a'), "1.2.3" + std::string(250, 'a') + " <2",
    "1.2.3-" + std::string(250, 'a') + "1 <2", "~1.2.3-" + std::string(249, 'a') + "12",
    "^1." + std::string(257, '1'), "^1." + std::string(256, '1'),
    "1.2.3 - 1." + std::string(257, '2'), ">=1.2.3 <" + std::string(256, '9') + ".0.0"};
// clang-format on

// ---- random cases from a fixed seed ----

class Gen {
 public:
  explicit Gen(uint64_t seed) : engine_(seed) {}

  uint64_t Below(uint64_t n) { return engine_() % n; }
  bool OneIn(uint64_t n) { return Below(n) == 0; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Below(v.size())];
  }
  std::string Digits(size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s.push_back(static_cast<char>('0' + Below(10)));
    return s;
  }

  std::string NonZeroDigit() { return absl::StrCat(1 + Below(9)); }

  // "N.N.N", generated left to right.
  std::string Dotted(size_t n) {
    std::string s = Number();
    for (size_t i = 1; i < n; ++i) s += "." + Number();
    return s;
  }

  std::string Number() {
    switch (Below(20)) {
      case 0:
      case 1:
        return absl::StrCat(Below(1000));
      case 2:
        return "0" + Digits(1 + Below(2));  // a leading zero
      case 3:
        return Pick<std::string>({"9007199254740990", "9007199254740991", "9007199254740992",
                                  "9007199254740993", "4503599627370496", "99999999999999999999",
                                  "999999999999999999999", "1000000000000000000000",
                                  "18446744073709551616", "1234567890123456", "12345678901234567"});
      case 4:
        return NonZeroDigit() + Digits(Below(20));
      case 5:
        if (OneIn(8)) return NonZeroDigit() + Digits(250 + Below(10));  // the regex bounds
        [[fallthrough]];
      default:
        return absl::StrCat(Below(4));
    }
  }

  std::string Identifier() {
    if (OneIn(3)) return Number();
    if (OneIn(30)) {  // around the 250-character identifier limit, maybe ending in digits
      std::string id = Digits(Below(3)) + std::string(246 + Below(8), 'a');
      return OneIn(2) ? id + Digits(1 + Below(3)) : id;
    }
    return Pick<std::string>({"alpha", "beta",  "rc",       "pre",  "x",      "X",   "-",
                              "--",    "a-b",   "0x1A",     "0b1",  "0o7",    "1e5", "1E5",
                              "-1",    "-1e-5", "Infinity", "NaN",  "beta-1", "1a",  "a1",
                              "00a",   "0",     "dev",      "next", "Z",      "a"});
  }

  std::string DotList(size_t most, bool build) {
    std::vector<std::string> ids;
    for (size_t i = 0, n = 1 + Below(most); i < n; ++i) {
      ids.push_back(build && OneIn(2) ? Pick<std::string>({"build", "001", "sha", "exp", "x-y"})
                                      : Identifier());
    }
    return absl::StrJoin(ids, ".");
  }

  std::string Whitespace() {
    return Pick<std::string>({" ", " ", "  ", "\t", "\n", "\xC2\xA0", "\xE3\x80\x80",
                              "\xE2\x80\xA8", "\xEF\xBB\xBF", " \t "});
  }

  std::string Version() {
    std::string s;
    if (OneIn(4)) {
      s = Pick<std::string>({"v", "=", "v=", "=v", "vv", "V", " ", "v ", "= ", "\t"});
      if (OneIn(5)) s = Whitespace() + s;
    }
    s += Dotted(3);
    if (OneIn(25)) absl::StrAppend(&s, ".", Number());
    if (OneIn(3)) absl::StrAppend(&s, "-", DotList(3, false));
    if (OneIn(25)) absl::StrAppend(&s, Pick<std::string>({"beta", "rc.1", "a", "-", ""}));
    if (OneIn(6)) absl::StrAppend(&s, "+", DotList(3, true));
    if (OneIn(25)) absl::StrAppend(&s, Pick<std::string>({"+", ".", "-", "+a.", "x"}));
    if (OneIn(12)) absl::StrAppend(&s, Whitespace());
    if (OneIn(12)) s = Mutate(s);
    return s;
  }

  // A version strict mode accepts, often a neighbour of another: small numbers, common tags.
  std::string CleanVersion() {
    std::string s = absl::StrCat(Below(3));
    for (int i = 0; i < 2; ++i) s += absl::StrCat(".", Below(3));
    if (OneIn(2)) s += "-" + Pick<std::string>({"0", "1", "alpha", "alpha.1", "beta.2", "rc.1"});
    if (OneIn(5)) s += "+" + Pick<std::string>({"1", "b", "001"});
    return s;
  }

  std::string Partial() {
    const auto component = [&] { return OneIn(4) ? Pick<std::string>({"x", "X", "*"}) : Number(); };
    std::string s = component();
    switch (Below(4)) {
      case 0:
        return s;
      case 1:
        return s + "." + component();
      case 2: {
        s += "." + component();
        s += "." + component();
        if (OneIn(3)) absl::StrAppend(&s, "-", DotList(2, false));
        if (OneIn(5)) absl::StrAppend(&s, "+", DotList(2, true));
        return s;
      }
      default:
        return Version();
    }
  }

  std::string Comparator() {
    std::string op = Pick<std::string>({"",   "",   "",    "=",   "<",   ">",  "<=",  ">=", "~",
                                        "~>", "^",  "^",   "~",   ">=",  "==", "=<",  "<>", "!=",
                                        "~=", "^~", "> =", "< =", "~ >", ">v", "<=v", "~v", "^="});
    if (OneIn(4)) {
      op += Pick<std::string>(
          {" ", "  ", "\t", "v", "=", " v", "= ", " = ", "v ", " v ", "\xC2\xA0", " =v"});
    }
    return op + Partial();
  }

  std::string RangeSet() {
    if (OneIn(5)) {
      std::string s = Partial();
      s += Pick<std::string>({" - ", " - ", "  -  ", " -", "- ", "-"});
      return s + Partial();
    }
    std::vector<std::string> comparators;
    for (size_t i = 0, n = 1 + Below(3); i < n; ++i) comparators.push_back(Comparator());
    return absl::StrJoin(comparators, Pick<std::string>({" ", " ", "  ", "\t", ""}));
  }

  std::string Range() {
    std::vector<std::string> sets;
    for (size_t i = 0, n = 1 + Below(3); i < n; ++i) {
      sets.push_back(OneIn(12) ? "" : RangeSet());
    }
    std::string s = absl::StrJoin(sets, Pick<std::string>({"||", " || ", "|| ", " ||", "|||"}));
    if (OneIn(8)) s = Whitespace() + s + Whitespace();
    if (OneIn(10)) s = Mutate(s);
    if (OneIn(30)) s = Junk();
    return s;
  }

  std::string CoerceText() {
    switch (Below(5)) {
      case 0:
        return Junk();
      case 1:
        return Version();
      case 2: {
        std::string s = Junk();
        s += Version();
        return s + Junk();
      }
      case 3: {
        std::string s = Dotted(4);
        s += "-" + DotList(3, false);
        s += "+" + DotList(2, true);
        return s + Junk();
      }
      default: {
        std::string s = "v" + Version();
        s += " " + Version();
        return Mutate(s);
      }
    }
  }

  // A few characters from what version syntax is made of, whitespace and non-ASCII.
  std::string Junk() {
    std::string s;
    for (size_t i = 0, n = Below(12); i < n; ++i) s += Char();
    return s;
  }

  std::string Char() {
    // clang-format off
    static const std::vector<std::string> kChars = {
        "0", "1", "2", "9", ".", "-", "+", "x", "X", "*", "~", "^", "<", ">", "=", "|", " ", "v",
        "V", "a", "z", "Z", "!", "_", "\x7F", std::string(1, '\0'),
        "\t", "\n", "\v", "\f", "\r", "\xC2\xA0", "\xE1\x9A\x80", "\xE2\x81\x9F",
        "\xE3\x80\x80", "\xEF\xBB\xBF",                          // JavaScript whitespace
        "\xC3\xA9", "\xEF\xBC\x91", "\xF0\x9F\x98\x80"};  // é, fullwidth 1, emoji
    // clang-format on
    return Pick(kChars);
  }

  // Inserts, deletes or replaces whole UTF-8 characters.
  std::string Mutate(const std::string& s) {
    std::vector<std::string> chars;
    for (size_t i = 0; i < s.size();) {
      size_t n = 1;
      while (i + n < s.size() && (static_cast<unsigned char>(s[i + n]) & 0xC0) == 0x80) ++n;
      chars.push_back(s.substr(i, n));
      i += n;
    }
    for (size_t k = 0, edits = 1 + Below(3); k < edits; ++k) {
      const size_t at = chars.empty() ? 0 : Below(chars.size());
      switch (Below(3)) {
        case 0:
          chars.insert(chars.begin() + static_cast<std::ptrdiff_t>(at), Char());
          break;
        case 1:
          if (!chars.empty()) chars.erase(chars.begin() + static_cast<std::ptrdiff_t>(at));
          break;
        default:
          if (!chars.empty()) chars[at] = Char();
      }
    }
    return absl::StrJoin(chars, "");
  }

 private:
  std::mt19937_64 engine_;
};

// OVVOC_SEMVER_CORPUS=<directory> adds each of its files (a libFuzzer corpus, say) as a case:
// whole as a version, a range and free text, and split at its first newline into a pair.
void AddCorpus(Cases& c) {
  const char* dir = std::getenv("OVVOC_SEMVER_CORPUS");
  if (dir == nullptr) return;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream file(entry.path(), std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(file)),
                           std::istreambuf_iterator<char>());
    try {
      (void)Json(text).dump();  // JSON, hence node, carries well-formed UTF-8 only
    } catch (const Json::exception&) {
      continue;
    }
    const size_t newline = text.find('\n');
    const std::string left = text.substr(0, newline);
    const std::string right = newline == std::string::npos ? text : text.substr(newline + 1);
    c.versions.push_back(text);
    c.ranges.push_back(text);
    c.coerce.push_back(text);
    c.pairs.emplace_back(left, right);
    c.satisfies.emplace_back(left, right);
    c.diff.emplace_back(left, right);
    c.inc.push_back({left, "prerelease", right, nullptr, false});
    if (text.size() <= 64) c.intersects.emplace_back(left, right);
  }
}

// OVVOC_SEMVER_SEED=<n> in the environment tries other cases than the fixed seed's.
uint64_t Seed() {
  const char* seed = std::getenv("OVVOC_SEMVER_SEED");
  return seed != nullptr ? std::strtoull(seed, nullptr, 10) : 20240611;
}

Cases MakeCases() {
  Cases c;
  Gen g(Seed());
  c.versions = kHandVersions;
  for (int i = 0; i < 4000; ++i) c.versions.push_back(g.Version());
  c.ranges = kHandRanges;
  for (int i = 0; i < 4000; ++i) c.ranges.push_back(g.Range());

  // Hand ranges against hand versions, then random ones with small numbers so that they meet.
  for (const std::string& r : kHandRanges) {
    for (const std::string& v : kHandVersions) {
      if (v.size() < 40 && r.size() < 40) c.satisfies.emplace_back(v, r);
    }
  }
  for (int i = 0; i < 20000; ++i) {
    std::string v = g.Version();
    c.satisfies.emplace_back(std::move(v), g.Range());
  }
  for (const std::string& r : kHandRanges) {
    if (r.size() >= 40) {
      for (const char* v : {"1.2.3", "1.0.0", "0.0.0-0", "1.2.3-beta", "2.0.0"}) {
        c.satisfies.emplace_back(v, r);
      }
    }
  }

  for (int i = 0; i < 1500; ++i) {
    std::vector<std::string> versions;
    for (size_t k = 0, n = 2 + g.Below(10); k < n; ++k) versions.push_back(g.Version());
    c.best.emplace_back(versions, g.Range());
  }
  for (int i = 0; i < 4000; ++i) {
    const bool clean = g.OneIn(2);
    const std::string a = clean ? g.CleanVersion() : g.Version();
    c.pairs.emplace_back(a, clean ? g.CleanVersion() : g.OneIn(3) ? g.Mutate(a) : g.Version());
    std::string b = clean ? g.CleanVersion() : g.Version();
    c.diff.emplace_back(std::move(b), clean ? g.CleanVersion() : g.OneIn(2) ? g.Version() : a);
  }
  const std::vector<std::string> releases = {"major", "premajor",   "minor",      "preminor",
                                             "patch", "prepatch",   "prerelease", "release",
                                             "pre",   "prerelease", "foo"};
  for (int i = 0; i < 5000; ++i) {
    Json identifier = nullptr;
    if (!g.OneIn(3)) {
      identifier = g.OneIn(2) ? g.Identifier()
                              : g.Pick<std::string>({"", "beta", "beta.1", "alpha.beta", "1", "01",
                                                     "-", "a..b", "!", "a.", "rc"});
    }
    const Json base = g.Pick<Json>({nullptr, "0", "1", false});
    std::string version = g.Version();
    if (g.OneIn(2) && identifier.is_string()) {
      // A prerelease that starts with the identifier, as npm's inc() looks for.
      version = absl::StrCat(g.Below(3), ".0.0-", identifier.get<std::string>());
      version += g.OneIn(2) ? ".1" : ".x";
    }
    c.inc.push_back({version, g.Pick(releases), identifier, base, g.OneIn(3)});
  }
  for (int i = 0; i < 4000; ++i) c.coerce.push_back(g.CoerceText());
  for (const std::string& v : kHandVersions) c.coerce.push_back(v);
  for (int i = 0; i < 2000; ++i) {
    std::string a = g.Range();
    c.intersects.emplace_back(std::move(a), g.Range());
  }
  for (const std::string& r : kHandRanges) c.intersects.emplace_back(r, g.Pick(kHandRanges));
  AddCorpus(c);
  return c;
}

// ---- our answers, in semver_differential.js's shapes ----

const Json kThrow = {{"throw", true}};
constexpr Options kOptions[] = {{false, false}, {true, false}, {false, true}, {true, true}};

Json Describe(const std::optional<Version>& v) {
  if (!v) return nullptr;
  std::string types;
  for (const PrereleaseIdentifier& id : v->prerelease) types += id.number ? "n" : "s";
  return absl::StrCat(v->ToString(), "|", absl::StrJoin(v->build, "."), "|", types);
}

Json OrNull(const std::optional<std::string>& s) { return s ? Json(*s) : Json(nullptr); }

template <typename T>
Json OrThrow(const absl::StatusOr<T>& value) {
  if (!value.ok()) return kThrow;
  if constexpr (std::is_same_v<T, std::optional<std::string>>)
    return OrNull(*value);
  else
    return *value;
}

Json Answers(const Cases& c) {
  Json out;
  for (const std::string& v : c.versions) {
    Json row = Json::array();
    for (const Options& o : kOptions) {
      absl::StatusOr<Version> parsed = ParseVersion(v, o);
      row.push_back({{"parse", parsed.ok() ? Describe(*parsed) : Json(nullptr)},
                     {"valid", OrNull(Valid(v, o))},
                     {"clean", OrNull(Clean(v, o))}});
    }
    out["versions"].push_back(row);
  }
  for (const auto& [a, b] : c.pairs) {
    Json row = Json::array();
    for (bool loose : {false, true}) {
      absl::StatusOr<Version> x = ParseVersion(a, {loose, false});
      absl::StatusOr<Version> y = ParseVersion(b, {loose, false});
      if (!x.ok() || !y.ok()) {
        row.push_back(kThrow);
        continue;
      }
      row.push_back({Compare(*x, *y), CompareBuild(*x, *y), RCompare(*x, *y), *Cmp(*x, "===", *y),
                     *Cmp(*x, "<=", *y)});
    }
    out["pairs"].push_back(row);
  }
  for (const std::string& r : c.ranges) {
    Json row = Json::array();
    for (const Options& o : kOptions) row.push_back(OrNull(ValidRange(r, o)));
    out["ranges"].push_back(row);
  }
  for (const auto& [v, r] : c.satisfies) {
    Json row = Json::array();
    for (const Options& o : kOptions) row.push_back(OrThrow(Satisfies(v, r, o)));
    out["satisfies"].push_back(row);
  }
  for (const auto& [versions, r] : c.best) {
    Json row = Json::array();
    for (const Options& o : kOptions) {
      absl::StatusOr<std::optional<std::string>> max = MaxSatisfying(versions, r, o);
      absl::StatusOr<std::optional<std::string>> min = MinSatisfying(versions, r, o);
      row.push_back(max.ok() && min.ok() ? Json{OrNull(*max), OrNull(*min)} : kThrow);
    }
    out["best"].push_back(row);
  }
  for (const Json& args : c.inc) {
    const std::optional<ReleaseType> release = ParseReleaseType(args[1].get<std::string>());
    const std::string identifier = args[2].is_string() ? args[2].get<std::string>() : "";
    const IdentifierBase base = args[3] == false ? IdentifierBase::kNone
                                : args[3] == "1" ? IdentifierBase::kOne
                                                 : IdentifierBase::kZero;
    absl::StatusOr<std::string> next = release ? Inc(args[0].get<std::string>(), *release,
                                                     {args[4].get<bool>(), false}, identifier, base)
                                               : absl::InvalidArgumentError("no such release type");
    out["inc"].push_back(next.ok() ? Json(*next) : Json(nullptr));
  }
  for (const auto& [a, b] : c.diff) {
    absl::StatusOr<std::optional<ReleaseType>> kind = Diff(a, b);
    out["diff"].push_back(!kind.ok() ? kThrow
                          : *kind    ? Json(std::string(ReleaseTypeName(**kind)))
                                     : Json(nullptr));
  }
  for (const std::string& text : c.coerce) {
    Json row = Json::array();
    for (const CoerceOptions& o :
         {CoerceOptions{}, CoerceOptions{false, false, true}, CoerceOptions{false, true, false},
          CoerceOptions{false, true, true}, CoerceOptions{true, true, false}}) {
      row.push_back(Describe(Coerce(text, o)));
    }
    out["coerce"].push_back(row);
  }
  for (const auto& [a, b] : c.intersects) {
    Json row = Json::array();
    for (const Options& o : kOptions) row.push_back(OrThrow(Intersects(a, b, o)));
    out["intersects"].push_back(row);
  }
  return out;
}

std::string Show(const Json& j) {
  std::string s = j.dump(-1, ' ', /*ensure_ascii=*/true);
  if (s.size() > 300) s = s.substr(0, 300) + "...";
  return absl::CEscape(s);
}

TEST_CASE("semver: every answer agrees with the semver bundled with the image's npm") {
  if (!NodeReady()) return;
  const Cases cases = MakeCases();
  const Json input = cases.ToJson();
  ovvoc::testing::TempDir dir;
  const std::string cases_path = dir.Sub("cases.json");
  std::ofstream(cases_path) << input.dump();

  ovvoc::testing::ProcessSpec spec;
  spec.argv = {kImageNode, OVVOC_SEMVER_DRIVER, kImageSemver, cases_path};
  spec.env = {"PATH=/usr/bin:/bin"};
  spec.timeout = std::chrono::milliseconds(300'000);
  absl::StatusOr<ovvoc::testing::ProcessResult> node = ovvoc::testing::RunProcess(spec);
  REQUIRE(node.ok());
  INFO(node->stderr_data.substr(0, 4000));
  REQUIRE(node->exit_code == 0);
  const Json theirs = Json::parse(node->stdout_data);
  const Json ours = Answers(cases);

  REQUIRE(theirs.size() == ours.size());  // every case list answered
  size_t compared = 0;
  std::vector<std::string> mismatches;
  size_t mismatch_count = 0;
  for (const auto& [list, expected] : theirs.items()) {
    REQUIRE(ours[list].size() == expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      ++compared;
      if (ours[list][i] == expected[i]) continue;
      if (++mismatch_count <= 20) {
        mismatches.push_back(absl::StrCat(list, "[", i, "] input ", Show(input[list][i]),
                                          "\n    npm:  ", Show(expected[i]),
                                          "\n    ours: ", Show(ours[list][i])));
      }
    }
  }
  INFO("seed " << Seed() << ": " << compared << " cases, each under every option set; "
               << mismatch_count << " disagree; the first ones:\n"
               << absl::StrJoin(mismatches, "\n"));
  CHECK(mismatch_count == 0);
}

}  // namespace
}  // namespace ovvoc::agent::npm
