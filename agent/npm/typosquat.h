// Typosquat suspects among the packages an update adds to the tree: a new package whose name is
// one typing slip away from a name the repository already uses or from a popular npm package
// ("lodahs", "loadsh" and "lodash-" for lodash; "cross_env" for cross-env; "@angullar/core" for
// @angular/core). A suspect is a reason for a person to look, not proof: legitimate packages one
// edit apart exist (enquirer and inquirer), and a squat two edits away is not found.
//
// Inputs: `added`, the names the lockfile diff shows new to the tree after the update (from the
// lockfile npm wrote in the job's container: attacker-controlled); `known`, the repository's own
// names before the update (every package name in its lockfile and its manifests' dependencies);
// and PopularPackageNames(), the shipped list (agent/npm/data/popular_packages.txt, compiled in).
//
// The rules, each chosen against a false alarm:
//  - One edit: insertion, deletion or substitution of one byte, or a swap of two adjacent bytes
//    (optimal-string-alignment distance exactly 1). A separator counts like any byte: "cross_env"
//    and "cross.env" are one substitution from "cross-env", "lodash-" one insertion from "lodash".
//  - An added name that is itself one of the repository's names or a listed popular name is never
//    a suspect (preact and react, eslint and tslint, mysql and mysql2 are all popular).
//  - Short names are crowded with legitimate neighbours (ms/mz, qs/vs, glob/globs; the scopes
//    @trpc/@orpc, @mui/@eui, @swc/@lwc): a name takes part, on either side, only when the part
//    where a compared pair can differ has kMinTyposquatLength bytes or more. For an unscoped name
//    that is the whole name; for a scoped one, its scope without the '@' (same-scope pairs are not
//    compared, below, so two scoped names one edit apart differ in the scope): "@angullar/core"
//    is checked against "@angular/core" though "core" is short.
//  - Whole names are compared, and nothing else: "@angullar/core" vs "@angular/core", "lodahs" vs
//    "lodash". An unscoped name is never compared with a scoped name's bare part ("widgetz" is not
//    checked against @acmecorp/widgets), nor a scoped name's bare part with an unscoped name
//    ("@evilcorp/lodahs" is not lodash's neighbour): for valid names, '@' and '/' make that two
//    edits at least.
//  - Two names in the same scope are not compared: only the scope's owner publishes in it, so
//    "@babel/cor" beside "@babel/core" is the owner's own package, not a squat. Across scopes,
//    legitimate pairs one edit apart are rare (three among the 20,000 most downloaded packages,
//    @aws-sdk/core and @aws-cdk/core, both AWS's, among them).
//  - Bytes are compared as given, with no case folding (npm names are lowercase). A name longer
//    than kMaxPackageNameLength (npm's limit) takes part on neither side, which bounds the work.
//  - The repository's names win: a name one edit from both is reported against the repository's
//    (popular = false). Among several matches on one side, the smallest name (byte order) is
//    reported. Added names are not compared with each other.
//
// How: each side is indexed by the hashes of every name and of each of its one-deletion variants
// (the name with one byte removed). Two names one edit apart always share such a string (an
// insertion: the shorter name is a variant of the longer; a substitution at i: both with byte i
// removed; a swap at i, i+1: one with byte i removed, the other with byte i + 1), so the
// candidates for an added name are those sharing a hash, each then checked by OneEditApart(). A
// name of n bytes costs O(n) to hash; the shipped list is indexed once per process.
//
// Time: O(total bytes) to index and hash, plus for each added name O(n) per candidate checked,
// candidates being known names that share a one-deletion variant with it: a handful for real
// names; for a hostile set of near-identical names at most the size of `known` plus the list.
// Pure functions; thread-safe.
#ifndef OVVOC_AGENT_NPM_TYPOSQUAT_H_
#define OVVOC_AGENT_NPM_TYPOSQUAT_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace ovvoc::agent::npm {

inline constexpr size_t kMinTyposquatLength = 5;
inline constexpr size_t kMaxPackageNameLength = 214;

// The shipped list: about 1,200 of the most downloaded npm packages and of the packages people
// name in their manifests, sorted by byte value, unique, lowercase (how it was made: the file's
// own header).
const std::vector<std::string>& PopularPackageNames();

struct TyposquatSuspect {
  std::string name;       // the added package
  std::string resembles;  // the known name it is one edit from
  bool popular = false;   // `resembles` is from the shipped list, not the repository's names

  bool operator==(const TyposquatSuspect&) const = default;
};

// Each of `added` that is one edit from a name in `known` or in the shipped list, by the rules
// above; sorted by name, each name once.
std::vector<TyposquatSuspect> FindTyposquatSuspects(const std::vector<std::string>& added,
                                                    const std::vector<std::string>& known);

// Whether the optimal-string-alignment distance between `a` and `b` is exactly 1 (false for equal
// strings). O(length), stops at the second difference.
bool OneEditApart(absl::string_view a, absl::string_view b);

}  // namespace ovvoc::agent::npm

#endif  // OVVOC_AGENT_NPM_TYPOSQUAT_H_
