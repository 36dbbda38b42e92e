// Typosquat suspects (agent/npm/typosquat.h): the one-edit test, the rules against false alarms,
// and the shipped list of popular names.
#include "agent/npm/typosquat.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"

namespace ovvoc::agent::npm {
namespace {

using Names = std::vector<std::string>;

TyposquatSuspect Own(std::string name, std::string resembles) {
  return {std::move(name), std::move(resembles), false};
}
TyposquatSuspect Listed(std::string name, std::string resembles) {
  return {std::move(name), std::move(resembles), true};
}

bool Popular(const std::string& name) {
  const Names& list = PopularPackageNames();
  return std::binary_search(list.begin(), list.end(), name);
}

// ---- OneEditApart ----

TEST_CASE("OneEditApart: each kind of edit is one", "[typosquat]") {
  CHECK(OneEditApart("lodash", "lodashs"));  // insertion at the end
  CHECK(OneEditApart("lodash", "xlodash"));  // insertion at the start
  CHECK(OneEditApart("lodash", "loadash"));  // insertion in the middle
  CHECK(OneEditApart("lodash", "lodas"));    // deletion
  CHECK(OneEditApart("lodash", "odash"));    // deletion of the first byte
  CHECK(OneEditApart("lodash", "lodazh"));   // substitution
  CHECK(OneEditApart("lodash", "lodahs"));   // swap of the last two
  CHECK(OneEditApart("lodash", "olasdh") == false);
  CHECK(OneEditApart("lodash", "oldash"));  // swap of the first two
  CHECK(OneEditApart("lodash", "loadsh"));  // swap in the middle
  CHECK(OneEditApart("cross-env", "cross_env"));
  CHECK(OneEditApart("cross-env", "cross.env"));
  CHECK(OneEditApart("cross-env", "crossenv"));
  CHECK(OneEditApart("@angular/core", "@angullar/core"));
}

TEST_CASE("OneEditApart: equal, two edits and more are not one", "[typosquat]") {
  CHECK_FALSE(OneEditApart("lodash", "lodash"));
  CHECK_FALSE(OneEditApart("", ""));
  CHECK_FALSE(OneEditApart("lodash", "lodahsx"));   // swap and insertion
  CHECK_FALSE(OneEditApart("lodash", "ladosh"));    // two substitutions
  CHECK_FALSE(OneEditApart("lodash", "odahs"));     // deletion and swap
  CHECK_FALSE(OneEditApart("lodash", "lod"));       // lengths 3 apart
  CHECK_FALSE(OneEditApart("lodash", "lodashxx"));  // lengths 2 apart
  CHECK_FALSE(OneEditApart("abc", "bca"));          // a rotation is two
  CHECK_FALSE(OneEditApart("abc", "cba"));          // a swap of non-adjacent bytes is two
  CHECK_FALSE(OneEditApart("chalk", "chai"));
}

TEST_CASE("OneEditApart: empty strings and symmetry", "[typosquat]") {
  CHECK(OneEditApart("", "a"));
  CHECK(OneEditApart("a", ""));
  CHECK_FALSE(OneEditApart("", "ab"));
  CHECK(OneEditApart("a", "b"));
  CHECK(OneEditApart("ab", "ba"));
  CHECK_FALSE(OneEditApart("aa", "aa"));
  for (auto [a, b] : std::vector<std::pair<std::string, std::string>>{
           {"lodash", "lodahs"}, {"lodash", "lodas"}, {"lodash", "lodazh"}, {"ab", "bca"}}) {
    CHECK(OneEditApart(a, b) == OneEditApart(b, a));
  }
}

// ---- Suspects ----

TEST_CASE("A name one edit from the repository's own is a suspect", "[typosquat]") {
  // "left-padd" and the others are on no list: only the repository knows them.
  Names known = {"left-pad", "my-internal-lib", "@acme/widgets"};
  REQUIRE_FALSE(Popular("left-pad"));
  CHECK(FindTyposquatSuspects({"left-padd", "my-internal-lbi", "my-internal-lib2", "unrelated"},
                              known) ==
        std::vector<TyposquatSuspect>{Own("left-padd", "left-pad"),
                                      Own("my-internal-lbi", "my-internal-lib"),
                                      Own("my-internal-lib2", "my-internal-lib")});
}

TEST_CASE("A name one edit from a popular one is a suspect", "[typosquat]") {
  for (const char* name : {"lodash", "cross-env", "express", "@angular/core", "@babel/core"}) {
    REQUIRE(Popular(name));
  }
  CHECK(FindTyposquatSuspects({"lodahs", "loadsh", "lodash-", "cross_env", "crossenv", "expres",
                               "@angullar/core", "@babell/core"},
                              {}) ==
        std::vector<TyposquatSuspect>{
            Listed("@angullar/core", "@angular/core"), Listed("@babell/core", "@babel/core"),
            Listed("cross_env", "cross-env"), Listed("crossenv", "cross-env"),
            Listed("expres", "express"), Listed("loadsh", "lodash"), Listed("lodahs", "lodash"),
            Listed("lodash-", "lodash")});
}

TEST_CASE("A name in the repository or on the list is never a suspect", "[typosquat]") {
  // Popular names one edit from other popular names.
  for (const char* name :
       {"preact", "react", "eslint", "tslint", "mysql", "mysql2", "extend", "xtend", "safe-buffer",
        "safer-buffer", "object-assign", "object.assign", "chalk", "chai"}) {
    REQUIRE(Popular(name));
  }
  CHECK(
      FindTyposquatSuspects(
          {"preact", "tslint", "mysql2", "xtend", "safer-buffer", "object.assign", "chalk", "chai"},
          {"react", "eslint", "mysql", "extend", "safe-buffer", "object-assign"})
          .empty());
  // A name the repository already has, one edit from a popular one.
  CHECK(FindTyposquatSuspects({"lodahs"}, {"lodahs"}).empty());
  // The whole list against itself and against the repository that uses all of it.
  CHECK(FindTyposquatSuspects(PopularPackageNames(), {}).empty());
  CHECK(FindTyposquatSuspects(PopularPackageNames(), PopularPackageNames()).empty());
}

TEST_CASE("The repository's names win over the list", "[typosquat]") {
  // "lodasj" is one edit from the repository's "lodasx" and from the popular "lodash".
  CHECK(FindTyposquatSuspects({"lodasj"}, {"lodasx"}) ==
        std::vector<TyposquatSuspect>{Own("lodasj", "lodasx")});
  CHECK(FindTyposquatSuspects({"lodasj"}, {}) ==
        std::vector<TyposquatSuspect>{Listed("lodasj", "lodash")});
  // A popular name the repository uses is reported as the repository's.
  CHECK(FindTyposquatSuspects({"lodahs"}, {"lodash"}) ==
        std::vector<TyposquatSuspect>{Own("lodahs", "lodash")});
}

TEST_CASE("Among several matches the smallest name is reported", "[typosquat]") {
  CHECK(FindTyposquatSuspects({"widgetb"}, {"widgetc", "widgeta", "widget"}) ==
        std::vector<TyposquatSuspect>{Own("widgetb", "widget")});
}

TEST_CASE("Names shorter than five bytes take part on neither side", "[typosquat]") {
  // Added names: ms/mz, qs/vs, ws/wz, glob/glub.
  CHECK(FindTyposquatSuspects({"mz", "vs", "wz", "glub", "chak"}, {"ms", "qs", "ws", "glob"})
            .empty());
  // Known names: "globs" is one insertion from the repository's "glob", "uuidd" from "uuid".
  CHECK(FindTyposquatSuspects({"globs", "uuidd"}, {"glob", "uuid"}).empty());
  // Five is enough, on both sides.
  CHECK(FindTyposquatSuspects({"abcdf"}, {"abcde"}) ==
        std::vector<TyposquatSuspect>{Own("abcdf", "abcde")});
}

TEST_CASE("Scoped names: the scope's length counts, not the bare part's", "[typosquat]") {
  // Short scopes are crowded: @trpc and @orpc, @mui and @eui are different, real owners.
  CHECK(
      FindTyposquatSuspects({"@orpc/client", "@eui/core"}, {"@trpc/client", "@mui/core"}).empty());
  // A scope of five bytes or more is checked, however short the bare part.
  CHECK(FindTyposquatSuspects({"@angullar/core", "@acnee/x"}, {"@angular/core", "@acmee/x"}) ==
        std::vector<TyposquatSuspect>{Own("@acnee/x", "@acmee/x"),
                                      Own("@angullar/core", "@angular/core")});
  // The bare part's length does not count: "@acmecorp/ab" is compared, "ab" would not be.
  CHECK(FindTyposquatSuspects({"@acmecorq/ab", "ac"}, {"@acmecorp/ab", "ab"}) ==
        std::vector<TyposquatSuspect>{Own("@acmecorq/ab", "@acmecorp/ab")});
}

TEST_CASE("Scoped names: whole names compared, never a bare part", "[typosquat]") {
  // An unscoped name against a scoped name's bare part, and the reverse: not compared.
  CHECK(FindTyposquatSuspects({"widgetz"}, {"@acmecorp/widgets"}).empty());
  CHECK(FindTyposquatSuspects({"@evilcorp/lodahs", "@evilcorp/widgetz"}, {"widgets"}).empty());
  CHECK(FindTyposquatSuspects({"widgetz"}, {"@types/widgets"}).empty());
  // Same scope: only the owner publishes there (the repository's and the list's names alike).
  CHECK(FindTyposquatSuspects({"@acmecorp/widgetz", "@babel/coore", "@types/nodee"},
                              {"@acmecorp/widgets"})
            .empty());
  // Another scope with the same bare part is a different package entirely.
  CHECK(FindTyposquatSuspects({"@othercorp/widgets"}, {"@acmecorp/widgets"}).empty());
  // A scope one edit from a popular one.
  CHECK(FindTyposquatSuspects({"@typse/node"}, {}) ==
        std::vector<TyposquatSuspect>{Listed("@typse/node", "@types/node")});
}

TEST_CASE("Bytes are compared as given", "[typosquat]") {
  // No case folding: "Lodash" is one substitution from "lodash", "LODASH" six.
  CHECK(FindTyposquatSuspects({"Lodash", "LODASH"}, {}) ==
        std::vector<TyposquatSuspect>{Listed("Lodash", "lodash")});
  // Names longer than npm allows take part on neither side.
  std::string long_name(kMaxPackageNameLength + 1, 'a');
  std::string long_typo = long_name;
  long_typo.back() = 'b';
  CHECK(FindTyposquatSuspects({long_typo}, {long_name}).empty());
  std::string longest(kMaxPackageNameLength, 'a');
  std::string longest_typo = longest;
  longest_typo.back() = 'b';
  CHECK(FindTyposquatSuspects({longest_typo}, {longest}) ==
        std::vector<TyposquatSuspect>{Own(longest_typo, longest)});
}

TEST_CASE("Suspects are sorted by name, each once", "[typosquat]") {
  CHECK(FindTyposquatSuspects({"lodahs", "expres", "lodahs", "expres", "fine-package"}, {}) ==
        std::vector<TyposquatSuspect>{Listed("expres", "express"), Listed("lodahs", "lodash")});
  CHECK(FindTyposquatSuspects({}, {"lodash"}).empty());
  CHECK(FindTyposquatSuspects({""}, {""}).empty());
}

// ---- Size ----

// Deterministic names of 5 to 20 bytes from [a-z-].
class NameMaker {
 public:
  explicit NameMaker(uint64_t seed) : state_(seed) {}
  std::string Next() {
    std::string name(5 + Draw(16), 'a');
    for (char& c : name) c = "abcdefghijklmnopqrstuvwxyz-"[Draw(27)];
    name.front() = static_cast<char>('a' + Draw(26));
    return name;
  }
  uint64_t Draw(uint64_t n) {
    state_ = state_ * 6364136223846793005u + 1442695040888963407u;
    return (state_ >> 33) % n;
  }

 private:
  uint64_t state_;
};

TEST_CASE("2000 added names against 6000 known ones", "[typosquat]") {
  NameMaker maker(42);
  Names known;
  for (int i = 0; i < 5'000; ++i) known.push_back(maker.Next());
  absl::flat_hash_set<std::string> taken(known.begin(), known.end());
  // 1,900 random names (a few may land one edit from a known one by chance) and 100 typos, one
  // swap each, of the repository's names.
  Names added;
  while (added.size() < 1'900) {
    std::string name = maker.Next();
    if (!taken.contains(name)) added.push_back(name);
  }
  Names planted;
  for (size_t i = 0; planted.size() < 100 && i < known.size(); i += 37) {
    std::string name = known[i];
    std::swap(name[1], name[2]);
    if (!taken.contains(name)) planted.push_back(name);
  }
  REQUIRE(planted.size() == 100);
  added.insert(added.end(), planted.begin(), planted.end());

  std::vector<TyposquatSuspect> suspects = FindTyposquatSuspects(added, known);
  absl::flat_hash_set<std::string> found;
  for (const TyposquatSuspect& suspect : suspects) {
    CHECK(OneEditApart(suspect.name, suspect.resembles));
    found.insert(suspect.name);
  }
  for (const std::string& name : planted) CHECK(found.contains(name));
  CHECK(suspects.size() < 150);
}

// Near-identical names, the shape that shares the most variants: every known name shares a
// one-deletion variant with every added one, so each is a candidate for each. The work stays
// within |added| x |known| checks.
TEST_CASE("Hostile near-identical names stay bounded", "[typosquat]") {
  const std::string base(60, 'q');
  Names known, added;
  for (int i = 0; i < 2'000; ++i) {
    std::string name = base;
    name[i % 60] = static_cast<char>('a' + i / 60);
    known.push_back(name);
  }
  for (int i = 0; i < 500; ++i) {
    std::string name = base;
    name[i % 60] = static_cast<char>('A' + i % 26);
    added.push_back(name);
  }
  std::vector<TyposquatSuspect> suspects = FindTyposquatSuspects(added, known);
  REQUIRE(suspects.size() == 500);
  for (const TyposquatSuspect& suspect : suspects) {
    CHECK(OneEditApart(suspect.name, suspect.resembles));
    CHECK_FALSE(suspect.popular);
  }
}

// ---- The shipped list ----

bool ValidNpmName(const std::string& name) {
  if (name.empty() || name.size() > kMaxPackageNameLength) return false;
  std::string bare = name;
  if (name[0] == '@') {
    size_t slash = name.find('/');
    if (slash == std::string::npos || slash == 1) return false;
    bare = name.substr(slash + 1);
    for (char c : name.substr(1, slash - 1)) {
      if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '-' && c != '.' && c != '_')
        return false;
    }
  }
  if (bare.empty() || bare[0] == '.' || bare[0] == '_') return false;
  for (char c : bare) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '-' && c != '.' && c != '_' &&
        c != '~')
      return false;
  }
  return true;
}

TEST_CASE("The popular list: sorted, unique, valid lowercase npm names", "[typosquat]") {
  const Names& list = PopularPackageNames();
  CHECK(list.size() >= 800);
  CHECK(list.size() <= 1'300);
  for (size_t i = 1; i < list.size(); ++i) {
    INFO(list[i - 1] << " then " << list[i]);
    CHECK(list[i - 1] < list[i]);
  }
  for (const std::string& name : list) {
    INFO(name);
    CHECK(ValidNpmName(name));
    CHECK(absl::AsciiStrToLower(name) == name);
  }
  for (const char* name :
       {"react", "lodash", "express", "chalk", "commander", "debug", "axios", "typescript",
        "webpack", "@babel/core", "@types/node", "eslint", "jest", "mocha"}) {
    CHECK(Popular(name));
  }
}

}  // namespace
}  // namespace ovvoc::agent::npm
