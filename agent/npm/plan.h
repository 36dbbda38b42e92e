// The update plan: for every direct dependency of every manifest of a project, what npm has
// installed (current), what `npm update` would install (wanted) and what `npm outdated` calls
// latest, and then what Ovvoc proposes under the policy: the target version, the manifest's new
// spec, the kind of update, when the target was published, and for each newer version not
// taken, why. Proposals gather the updates into pull requests (policy groups) in update order.
//
// The decision, for one dependency declared as `spec` with `current` installed:
//   - skipped when its spec is not a registry range (git, file:, a dist-tag, ...), when no
//     policy entry covers its manifest, or when `allow` leaves it out;
//   - otherwise every version newer than current (wanted, when nothing is locked) is a
//     candidate, the newest first, and the first that passes every rule below is the target:
//       a prerelease only within current's own prerelease line (1.2.0-beta.1 -> 1.2.0-beta.3);
//       never past the `latest` dist-tag unless current already is (a tag naming no version
//       caps at the version npm would pick for any release instead);
//       never a deprecated version, nor one whose engines exclude the job's node or npm;
//       never one the policy's `ignore` covers, nor (lockfile-only) one outside the spec;
//       only once its release is older than the cooldown (the policy's, or the project
//       .npmrc's min-release-age if longer); a version without a publish time is held,
//       since its age cannot be checked, unless the cooldown is 0.
//   - up to date when there is no candidate; held when there are candidates and none passes,
//     and when current is not a semver version (nothing could be called newer).
//   - the policy sees an alias under both names: its own and its target's; a rule on either
//     applies (ignore, cooldown, allow and group).
//
// Pure: the registry is reached only through PackumentSource. Thread-compatible.
#ifndef OVVOC_AGENT_NPM_PLAN_H_
#define OVVOC_AGENT_NPM_PLAN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/npm/packument.h"
#include "agent/npm/policy.h"
#include "agent/npm/project.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc::agent::npm {

// How the planner reads registry metadata. The agent's implementation goes through its
// registry client and cache (agent/registry/packuments.h); tests serve packuments from memory.
class PackumentSource {
 public:
  virtual ~PackumentSource() = default;

  struct Fetched {
    absl::StatusOr<Packument> packument = absl::UnknownError("not fetched");
    std::string registry;  // the registry's URL, for the plan
  };
  // The packuments of `names` (registry package names, each once), in that order. May fetch
  // them concurrently. A package the registry does not have is NotFound.
  virtual std::vector<Fetched> Fetch(const std::vector<std::string>& names) = 0;
};

struct PlanOptions {
  absl::Time now;
  // What the job's image runs, for engines checks: "v24.11.1" (process.version) and "11.6.2".
  // Empty: that engine is not checked.
  std::string node_version;
  std::string npm_version;
  // Deciding stops here (by the real clock): the dependencies not yet decided are an error line
  // each. A checkout and a registry together can ask for declarations x versions x rules.
  absl::Time work_deadline = absl::InfiniteFuture();
};

// How long deciding may take when the caller sets no tighter deadline: a 150-dependency plan
// decides in milliseconds.
inline constexpr absl::Duration kPlanWorkBudget = absl::Minutes(2);

// At most this many declarations are decided in one plan (a monorepo's members together); the
// rest are one problem line.
inline constexpr size_t kMaxPlannedDeclarations = 20000;

// A spec longer than this is skipped: real ranges are a few dozen characters.
inline constexpr size_t kMaxPlannedSpec = 1024;

// At most this many distinct packages are looked up in one plan (a monorepo's few thousand
// direct dependencies fit); the rest are an error line each, not a request each.
inline constexpr size_t kMaxPlannedPackages = 5000;

// At most this many passed-over versions are listed per dependency; a last line counts the rest.
inline constexpr size_t kMaxPassedOver = 10;

ovvoc::v1::Plan MakePlan(const Project& project, const Policy& policy, PackumentSource& source,
                         const PlanOptions& options);

}  // namespace ovvoc::agent::npm

#endif  // OVVOC_AGENT_NPM_PLAN_H_
