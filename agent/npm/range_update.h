// The range a manifest declares after an update: what a `versioning-strategy` writes into
// package.json when a dependency moves to a new version, as Dependabot writes it for npm
// (dependabot-core, npm_and_yarn/lib/dependabot/npm_and_yarn/update_checker/
// requirements_updater.rb, RequirementsUpdater#updated_requirements), and which strategy `auto`
// stands for (update_checker.rb #requirements_update_strategy, library_detector.rb).
//
// Contract: UpdateRange() returns a range that npm reads as a range (loose) and that the new
// version satisfies, or an error; never a range that would refuse the version. Pure functions
// of untrusted text; never crash, thread-safe, linear in the input's length.
//
// Dependabot's rules, as followed here (V is the new version, written as npm prints it):
//   A range Dependabot takes for a dist-tag (it starts, or a line of it starts, with a letter
//   other than `v`, or with `v` and no digit: "x", "X.1") is kept.
//   increase: a range with an upper bound (`<`, or a hyphen `a - b`) is kept when its first
//     `||` alternative allows V, else its bound is raised (below). Any other range is cut down
//     to its first comparator (`||` and whitespace separate them) whose version is rewritten:
//     the first run `1.2.3` / `1.x` / `0.1` after the operator becomes V with as many parts as
//     were written (`^1.2` -> `^2.0`, `1` -> `2`), a lowercase `x` part stays `x` (`1.x` ->
//     `2.x`; `X` and `*` are not kept but `1.*` keeps its `.*` since the run stops before it),
//     and when the old or new version is a prerelease, V whole (`^1.2.3-rc1` -> `^2.0.0`).
//     Operator, `v`, `=` and spacing around the version stay as written.
//   increase-if-necessary: "" and ranges that allow V are kept; else as increase.
//   widen: "" and ranges that allow V are kept; a range with an upper bound has it raised; a
//     single comparator is rewritten as by increase (Dependabot's widen does not write
//     `>=old <new`: `^1.0.0` widened to 2.0.0 is `^2.0.0`); a union without an upper bound
//     (`^1.0.0 || ^2.0.0` for 3.0.0) gains ` || ^V` (Ovvoc's rule, below); a comparator set
//     without one (`^1.2.3 >=1.2.5`) is left as it is, which this reports as an error.
//   Raising an upper bound: when exactly one comparator holds `<` or ` - `, its greatest
//     version B (prerelease dropped) is replaced by one of B's length: V's parts up to B's last
//     non-zero part, that part of V plus one, zeros after (`<1.2.0` -> `<1.6.0` for 1.5.0,
//     `>=1 <2` -> `>=1 <3` for 2.0.0, `1.2.3 - 1.4.0` -> `1.2.3 - 1.6.0`). Otherwise (several
//     bounded comparators, e.g. `>=1 <2 || >=3 <4`) ` || ^V` is appended.
//   `*` and "" are kept.
//
// Where Ovvoc answers differently from Dependabot, on purpose:
//   - widen of a union without an upper bound appends ` || ^V`, as people widen peer ranges;
//     Dependabot leaves the union, so the update could never be proposed.
//   - "Allows V" is npm's Satisfies() (loose), not Dependabot's Ruby translation of the range,
//     so `^1.0.0` does not allow 1.5.0-beta here (npm would not install it) and is raised.
//   - Dependabot replaces the first occurrence of B's text anywhere in the range, which can be
//     a lower bound (`>=1.3 <3` for 3.5.0 would become `>=1.4 <3`); Ovvoc replaces B itself.
//   - Where Dependabot raises an exception (an upper bound with a fourth non-zero part, a
//     bound Ruby cannot read as a version, increase of "" or whitespace) this returns an
//     error, except that "" is kept as by the other strategies.
//
// Errors:
//   InvalidArgument: `strategy` is kAuto or kLockfileOnly (resolve kAuto with
//     ResolveAutoStrategy(); kLockfileOnly never changes a range), `version` is not a strict
//     semver version, or `range` is not a range npm accepts (loose).
//   FailedPrecondition: the strategy cannot express the move; the message says why and, when
//     Dependabot's rule produced a range that refuses the version, which range that was.
#ifndef OVVOC_AGENT_NPM_RANGE_UPDATE_H_
#define OVVOC_AGENT_NPM_RANGE_UPDATE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/npm/policy.h"

namespace ovvoc::agent::npm {

// The range text `strategy` writes when the dependency declared as `range` (as written in
// package.json) moves to `version`. The result may equal `range`: nothing to write.
absl::StatusOr<std::string> UpdateRange(absl::string_view range, absl::string_view version,
                                        VersioningStrategy strategy);

// Dependabot's first test of whether a package.json is a library's (LibraryDetector
// #package_json_may_be_for_library?): it has a "name" that is a string without a `{{...}}`
// template, a "version", and no "private", where "has" is Ruby's truthiness (any value but
// null and false: "private": "false" makes it private). Dependabot then also asks the registry
// whether a package of that name has the same description; Ovvoc does not, so a package.json
// that merely looks publishable counts as a library. update_checker.rb #library? also counts a
// dependency without a lockfile version, or a repository with a lerna.json, as a library's:
// callers that want those rules apply them. InvalidArgument when the text is not JSON.
absl::StatusOr<bool> MayBeLibrary(absl::string_view package_json);

// `strategy`, with kAuto resolved as Dependabot resolves it: kWiden for a library, kIncrease
// for an application.
VersioningStrategy ResolveAutoStrategy(VersioningStrategy strategy, bool library);

}  // namespace ovvoc::agent::npm

#endif  // OVVOC_AGENT_NPM_RANGE_UPDATE_H_
