// The update policy of a repository checkout: which npm dependencies a job may update, how far,
// how soon after a release, how updates are grouped and what the pull requests look like.
//
// Sources, weakest first (README.md, "Update policy", says the same to users):
//   1. Ovvoc's defaults (DefaultPolicy(): every field's initial value below);
//   2. the repository's `.ovvoc.yml` (or `.ovvoc.yaml`) if it exists, else the entries with
//      `package-ecosystem: "npm"` of `.github/dependabot.yml` (or `.yaml`), read as a drop-in:
//      the same key means the same thing;
//   3. `--policy FILE` given to the agent, which replaces the repository's file (its format is
//      Dependabot's when it is named dependabot.yml/.yaml, else Ovvoc's).
// A file replaces the defaults key by key: a key it does not set keeps Ovvoc's default.
//
// Files are untrusted input. Reading never fails on their content: unknown keys are warnings
// with file and line, wrong types or values are errors with file, line and column, and the
// policy still comes back with each bad key at its default, so the caller decides whether to go
// on or refuse. Documents are bounded (kMaxPolicyBytes, kMaxPolicyNodes, counting every use of
// a YAML alias), so anchor bombs cost neither memory nor time. Pure functions on values;
// thread-safe.
#ifndef OVVOC_AGENT_NPM_POLICY_H_
#define OVVOC_AGENT_NPM_POLICY_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/npm/range_cache.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc::agent::npm {

inline constexpr size_t kMaxPolicyBytes = 256 * 1024;
// YAML nodes looked at in one document, each use of an alias counted again.
inline constexpr size_t kMaxPolicyNodes = 20000;
// Diagnostics kept per document; one more says how many were dropped.
inline constexpr size_t kMaxPolicyDiagnostics = 100;

inline constexpr int kDefaultCooldownDays = 3;
inline constexpr int kMaxCooldownDays = 90;
inline constexpr int kDefaultOpenPullRequestsLimit = 5;  // Dependabot's

// Which dependencies a rule covers. For npm, as Dependabot: "production" is a dependency
// declared in dependencies or optionalDependencies; devDependencies and peerDependencies are
// "development". "indirect" covers transitive dependencies only.
enum class DependencyType { kAll, kDirect, kIndirect, kProduction, kDevelopment };

// How a manifest's range changes with an update (Dependabot's meaning for npm):
//   kAuto: Dependabot's default: kWiden for a library, kIncrease for an application;
//   kIncrease: always raise the range to the new version (^1.0.0 -> ^1.2.0 for 1.2.0);
//   kIncreaseIfNecessary: keep the range when it already allows the new version (only the
//     lockfile changes), else raise it (^1.0.0 -> ^2.0.0 for 2.0.0);
//   kWiden: keep a range that already allows the new version, raise an upper bound
//     (>=1 <2 -> >=1 <3), else as kIncrease (Dependabot's npm widening: ^1.0.0 -> ^2.0.0);
//   kLockfileOnly: change only the lockfile; versions that need a manifest change are not
//     proposed.
enum class VersioningStrategy { kAuto, kIncrease, kIncreaseIfNecessary, kWiden, kLockfileOnly };

enum class ScheduleInterval {
  kDaily,
  kWeekly,
  kMonthly,
  kQuarterly,
  kSemiannually,
  kYearly,
  kCron
};

// Whether a group gathers version updates (the default) or security updates.
enum class AppliesTo { kVersionUpdates, kSecurityUpdates };

// Where a rule was written: "file:line", 1-based; empty for Ovvoc's defaults.
struct SourceLine {
  std::string file;
  int line = 0;
  std::string ToString() const;
};

// `allow`: a dependency is updated when some rule matches both its name and its type. With no
// rule, every direct dependency is.
struct AllowRule {
  std::string dependency_name = "*";  // Dependabot's glob: `*` is any run, case-insensitive
  DependencyType dependency_type = DependencyType::kAll;
  SourceLine where;
};

// `ignore`: versions of matching dependencies that are never proposed. A rule with neither
// versions nor update types ignores every version. The two lists add up (a version is ignored
// when either says so), as Dependabot's.
struct IgnoreRule {
  std::string dependency_name;                      // glob, as AllowRule's
  std::vector<std::string> versions;                // npm ranges, as written
  std::vector<ovvoc::v1::UpdateType> update_types;  // version-update:semver-major/minor/patch
  SourceLine where;
};

// `groups`: one pull request for all the updates a group gathers. A dependency belongs to the
// first group (in file order) whose rules all match; otherwise it gets a pull request of its own.
struct Group {
  std::string name;
  std::vector<std::string> patterns;                      // globs; empty: every name
  std::vector<std::string> exclude_patterns;              // globs; win over patterns
  DependencyType dependency_type = DependencyType::kAll;  // kAll, kProduction or kDevelopment
  std::vector<ovvoc::v1::UpdateType> update_types;        // empty: every type
  AppliesTo applies_to = AppliesTo::kVersionUpdates;
  SourceLine where;
};

// `cooldown`: a release is proposed only once it is this many days old. Version updates only;
// security updates have none. A semver-*-days left unset takes default-days, as Dependabot's;
// default-days left unset is Ovvoc's 3. `exclude` wins over `include`; an empty `include`
// covers every dependency. 0 switches the cooldown off.
struct Cooldown {
  int default_days = kDefaultCooldownDays;
  std::optional<int> semver_major_days;
  std::optional<int> semver_minor_days;
  std::optional<int> semver_patch_days;
  std::vector<std::string> include;  // globs, at most 150 (Dependabot's limit)
  std::vector<std::string> exclude;
};

// `commit-message`. Empty prefixes: Ovvoc's own message.
struct CommitMessage {
  std::string prefix;              // at most 50 characters
  std::string prefix_development;  // for development dependencies; else `prefix` is used
  bool include_scope = false;      // `include: scope`: "deps" or "deps-dev" after the prefix
};

// `schedule`: kept for the control plane, which runs the jobs; the agent does not use it.
struct Schedule {
  ScheduleInterval interval = ScheduleInterval::kWeekly;
  std::string day;       // "monday".."sunday", for weekly; empty: the control plane's choice
  std::string time;      // "hh:mm"; empty: the control plane's choice
  std::string timezone;  // IANA name; empty: UTC
  std::string cronjob;   // for kCron: five fields ("0 9 * * 1") or Dependabot's natural text
};

// A private registry: where it is, never its secrets. In `.ovvoc.yml`, `token-name` names a
// credential the agent holds; a dependabot.yml's secret references are not read.
struct Registry {
  std::string name;
  std::string type;  // "npm-registry" for npm
  std::string url;
  std::string token_name;
  SourceLine where;
};

// One `updates` entry: the policy for the manifests of its directories.
struct PolicyEntry {
  // `directory` or `directories`, each normalised to start with '/' and not end with one;
  // `directories` may hold globs (`*` within a path segment, `**` across segments).
  std::vector<std::string> directories = {"/"};
  std::vector<AllowRule> allow;
  std::vector<IgnoreRule> ignore;
  VersioningStrategy versioning_strategy = VersioningStrategy::kAuto;
  std::vector<Group> groups;
  Cooldown cooldown;
  int open_pull_requests_limit = kDefaultOpenPullRequestsLimit;  // 0: no version updates
  std::optional<std::vector<std::string>> labels;  // unset: default labels; empty: none
  CommitMessage commit_message;
  std::string target_branch;            // empty: the repository's default branch
  std::vector<std::string> registries;  // names of Policy::registries, or {"*"}
  std::optional<Schedule> schedule;     // unset: the control plane's
  // Ovvoc's own keys (`.ovvoc.yml` only).
  std::string node;                // npm range of node versions for the job image; empty: engines
  std::vector<std::string> test;   // commands; empty: the project's `npm test`
  std::vector<std::string> build;  // commands; empty: the project's `npm run build`
  SourceLine where;
};

// Rules Ovvoc keeps whatever a file says (not configurable yet).
struct Safeguards {
  bool skip_deprecated = true;       // never move to a version marked deprecated
  bool stay_within_latest = true;    // never past the `latest` tag unless already past it
  bool prerelease_line_only = true;  // a prerelease only within the current prerelease line
};

enum class PolicySource { kDefaults, kOvvocFile, kDependabotFile, kPolicyFlag };
absl::string_view PolicySourceName(PolicySource source);

struct Diagnostic {
  enum class Severity { kWarning, kError };
  Severity severity = Severity::kError;
  std::string file;
  int line = 0;         // 1-based; 0: about the whole file
  int column = 0;       // 1-based; 0 for warnings, which give the line only
  std::string message;  // file text in it is made inert
  // "file:line: message" or "file:line:column: message".
  std::string ToString() const;
};

struct Policy {
  PolicySource source = PolicySource::kDefaults;
  std::string file;                  // the file read; empty for the defaults
  std::vector<PolicyEntry> entries;  // never empty
  std::vector<Registry> registries;  // the top-level `registries`
  Safeguards safeguards;
  std::vector<Diagnostic> diagnostics;
  bool HasErrors() const;
};

// Ovvoc's defaults: one entry for "/".
Policy DefaultPolicy();

enum class PolicyFormat {
  kOvvoc,       // `.ovvoc.yml`: `updates:` as Dependabot's, or one entry's keys at the top level
  kDependabot,  // `.github/dependabot.yml`: only its npm entries are read
};

// Parses `text`, named `file` in diagnostics. Never fails: see the banner.
Policy ParsePolicy(absl::string_view text, absl::string_view file, PolicyFormat format);

struct PolicyOptions {
  // `--policy FILE`: read from the agent's own filesystem, instead of the repository's file.
  std::string policy_file;
};

// The effective policy of the checkout at `root`, repository files read through
// ReadFileBeneath (no symlinks, at most kMaxPolicyBytes). A repository file that cannot be read
// (a symlink, too large) is an error diagnostic and the defaults apply. Errors only for
// `options.policy_file`: NotFound and the like when it cannot be read, ResourceExhausted when
// it is larger than kMaxPolicyBytes.
absl::StatusOr<Policy> LoadPolicy(const std::string& root, const PolicyOptions& options = {});

// The first entry whose directories cover `directory` (a manifest's directory relative to the
// root: "/", "packages/web"); nullptr when none does.
const PolicyEntry* EntryFor(const Policy& policy, absl::string_view directory);

// ---- What the planner asks, as Dependabot answers it.

// Dependabot's dependency-name glob: `*` matches any run of characters ('/' included), case
// is ignored.
bool GlobMatch(absl::string_view pattern, absl::string_view name);

// Production in Dependabot's sense for npm: declared in dependencies or optionalDependencies.
bool IsProduction(ovvoc::v1::DependencyKind kind);

// Whether `allow` lets the entry update this dependency at all.
bool Allows(const PolicyEntry& entry, absl::string_view name, ovvoc::v1::DependencyKind kind,
            bool direct = true);

// Why moving `name` to `version` (an update of `type` from the current version) is ignored,
// citing the rule ("ignored by .ovvoc.yml:14: \"eslint\" versions >=9"); nullopt when it is not.
// `ranges` (borrowed, may be null) parses each rule's versions once across calls.
std::optional<std::string> IgnoreReason(const PolicyEntry& entry, absl::string_view name,
                                        absl::string_view version, ovvoc::v1::UpdateType type,
                                        RangeCache* ranges = nullptr);

// Days a release must have aged before a version update of `type` proposes it; 0 when none.
// Not for security updates, which have no cooldown.
int CooldownDays(const PolicyEntry& entry, absl::string_view name, ovvoc::v1::UpdateType type);

// The group gathering this update, nullptr when it gets its own pull request.
const Group* GroupOf(const PolicyEntry& entry, absl::string_view name,
                     ovvoc::v1::DependencyKind kind, ovvoc::v1::UpdateType type,
                     bool security = false);

// ---- For people and programs (agent/npm/policy_text.cc).

absl::string_view VersioningStrategyName(VersioningStrategy strategy);
absl::string_view DependencyTypeName(DependencyType type);
absl::string_view ScheduleIntervalName(ScheduleInterval interval);
absl::string_view UpdateTypeName(ovvoc::v1::UpdateType type);  // "major", "minor", "patch"

// The effective policy and its diagnostics, one setting a line; file text made inert.
std::string DescribePolicy(const Policy& policy);
// The same as a JSON document (values as read; JSON escapes what must be).
std::string PolicyJson(const Policy& policy);

}  // namespace ovvoc::agent::npm

#endif  // OVVOC_AGENT_NPM_POLICY_H_
