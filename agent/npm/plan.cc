#include "agent/npm/plan.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/npm/pick.h"
#include "agent/npm/range_update.h"
#include "agent/npm/semver.h"
#include "common/inert.h"
#include "google/protobuf/util/time_util.h"
#include "nlohmann/json.hpp"

namespace ovvoc::agent::npm {
namespace {

using ovvoc::v1::PlanDecision;
using ovvoc::v1::PlannedDependency;
using ovvoc::v1::UpdateType;
using google::protobuf::util::TimeUtil;

constexpr Options kLoose{.loose = true};
constexpr absl::string_view kUndecided =
    "the plan's time for deciding ran out (a project or registry asking for too much work)";

ovvoc::v1::PlanCandidate Candidate(std::string version, std::string reason) {
  ovvoc::v1::PlanCandidate candidate;
  candidate.set_version(std::move(version));
  candidate.set_reason(std::move(reason));
  return candidate;
}

std::string Day(absl::Time time) {
  return absl::FormatTime("%Y-%m-%d %H:%M UTC", time, absl::UTCTimeZone());
}

google::protobuf::Timestamp ToProto(absl::Time time) {
  return TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(time));
}

// npm's diff() folded into Dependabot's three update types.
UpdateType StepType(absl::string_view from, absl::string_view to) {
  auto diff = Diff(from, to);
  if (!diff.ok() || !diff->has_value()) return ovvoc::v1::UPDATE_TYPE_UNSPECIFIED;
  switch (**diff) {
    case ReleaseType::kMajor:
    case ReleaseType::kPremajor:
      return ovvoc::v1::UPDATE_TYPE_MAJOR;
    case ReleaseType::kMinor:
    case ReleaseType::kPreminor:
      return ovvoc::v1::UPDATE_TYPE_MINOR;
    default:
      return ovvoc::v1::UPDATE_TYPE_PATCH;
  }
}

bool SameLine(const Version& a, const Version& b) {
  return a.major == b.major && a.minor == b.minor && a.patch == b.patch;
}

// The range inside an `npm:name@range` alias spec; the spec itself otherwise.
std::pair<std::string, std::string> SplitAlias(const DeclaredDependency& dependency) {
  if (!dependency.classified.alias) return {"", dependency.spec};
  const size_t at = dependency.spec.find('@', dependency.spec.find(':') + 2);
  if (at == std::string::npos) return {dependency.spec + "@", ""};
  return {dependency.spec.substr(0, at + 1), dependency.spec.substr(at + 1)};
}

// Dependabot's `auto`: widen a library's ranges, increase an application's.
VersioningStrategy Effective(VersioningStrategy strategy, const PackageJson& root) {
  const bool library = !root.name.empty() && root.name.find("{{") == std::string::npos &&
                       !root.version.empty() && !root.is_private;
  return ResolveAutoStrategy(strategy, library);
}

class Planner {
 public:
  Planner(const Project& project, const Policy& policy, const PlanOptions& options)
      : project_(project), policy_(policy), options_(options) {
    npm_.node_version = options.node_version;
    npm_.npm_version = options.npm_version;
    npm_.ranges = &ranges_;
    if (project.npmrc.min_release_age_days && *project.npmrc.min_release_age_days > 0) {
      npmrc_cooldown_days_ = *project.npmrc.min_release_age_days;
      npm_.before = options.now - absl::Hours(24) * npmrc_cooldown_days_;
    }
    ReadOverrides();
  }

  bool OutOfTime() const { return absl::Now() >= options_.work_deadline; }

  // Fills `dependency` (name, spec, kind and manifest already set); leaves the decision
  // unset when the time ran out.
  void Decide(const DeclaredDependency& declared, const PackageJson& manifest,
              const PackumentSource::Fetched* fetched, PlannedDependency& out,
              const PolicyEntry*& entry_out);

 private:
  void Choose(const DeclaredDependency& declared, const PolicyEntry& entry,
              const Packument& packument, PlannedDependency& out);
  // Why `candidate` (newer than `base`) is not taken; empty when it may be.
  std::string Refusal(const DeclaredDependency& declared, const PolicyEntry& entry,
                      const Packument& packument, const PackumentVersion& candidate,
                      const Version& version, const std::optional<Version>& base,
                      const std::optional<Version>& latest, VersioningStrategy strategy);

  const Project& project_;
  const Policy& policy_;
  const PlanOptions& options_;
  // The root package.json's `overrides` of a package, as npm applies them to a dependency's
  // edge: the spec npm resolves instead of the declared one. Empty when none applies.
  std::string OverrideOf(const std::string& package) const;
  void ReadOverrides();

  // The policy sees a dependency by both of its names: an alias ("x": "npm:evil@1") must not
  // escape a rule written for the package it installs.
  std::optional<std::string> Ignored(const PolicyEntry& entry, const DeclaredDependency& declared,
                                     absl::string_view version, UpdateType type);

  RangeCache ranges_;
  PickOptions npm_;
  double npmrc_cooldown_days_ = 0;
  std::map<std::string, std::string> overrides_;  // package -> the spec npm resolves instead
};

std::optional<std::string> Planner::Ignored(const PolicyEntry& entry,
                                           const DeclaredDependency& declared,
                                           absl::string_view version, UpdateType type) {
  if (auto ignored = IgnoreReason(entry, declared.name, version, type, &ranges_)) return ignored;
  if (declared.classified.name == declared.name) return std::nullopt;
  return IgnoreReason(entry, declared.classified.name, version, type, &ranges_);
}

void Planner::ReadOverrides() {
  if (project_.root.overrides_json.empty()) return;
  const nlohmann::json overrides =
      nlohmann::json::parse(project_.root.overrides_json, nullptr, false);
  if (!overrides.is_object()) return;
  std::map<std::string, const std::string*> root_specs;  // for "$name" references
  for (const DeclaredDependency& d : project_.root.dependencies) root_specs[d.name] = &d.spec;
  for (const auto& [key, value] : overrides.items()) {
    // "name", or "name@selector" (npm applies it when the version matches; taken as applying).
    const std::string package = key.substr(0, key.find('@', 1));
    if (overrides_.count(package)) continue;  // the first key that names it
    const nlohmann::json* spec = &value;
    if (value.is_object()) {
      auto self = value.find(".");
      if (self == value.end()) continue;
      spec = &*self;
    }
    if (!spec->is_string()) continue;
    std::string text = spec->get<std::string>();
    if (absl::StartsWith(text, "$")) {  // a reference to the root's own dependency
      auto it = root_specs.find(text.substr(1));
      text = it == root_specs.end() ? "" : *it->second;
    }
    overrides_[package] = std::move(text);
  }
}

std::string Planner::OverrideOf(const std::string& package) const {
  auto it = overrides_.find(package);
  return it == overrides_.end() ? "" : it->second;
}

void Planner::Decide(const DeclaredDependency& declared, const PackageJson& manifest,
                     const PackumentSource::Fetched* fetched, PlannedDependency& out,
                     const PolicyEntry*& entry_out) {
  const Spec& spec = declared.classified;
  if (declared.installed_version) out.set_current(InertLine(*declared.installed_version, 256));
  if (!spec.registry()) {
    out.set_decision(ovvoc::v1::PLAN_DECISION_SKIPPED);
    out.set_reason(spec.reason.empty() ? "not a registry spec" : spec.reason);
    return;
  }
  if (declared.spec.size() > kMaxPlannedSpec) {
    // Testing every version against a range of thousands of comparators costs their product.
    out.set_decision(ovvoc::v1::PLAN_DECISION_SKIPPED);
    out.set_reason(absl::StrCat("a spec longer than ", kMaxPlannedSpec, " characters"));
    return;
  }
  if (fetched == nullptr || !fetched->packument.ok()) {
    const absl::Status status = fetched ? fetched->packument.status() : absl::UnknownError("?");
    out.set_decision(ovvoc::v1::PLAN_DECISION_ERROR);
    out.set_reason(absl::IsNotFound(status)
                       ? absl::StrCat("not found on ", fetched ? fetched->registry : "the registry")
                       : InertLine(absl::StrCat("registry metadata: ", status.message()), 500));
    return;
  }
  if (fetched) out.set_registry(fetched->registry);
  const Packument& packument = *fetched->packument;

  // npm's own view, as `npm outdated` shows it: an override replaces the declared spec.
  const std::string override_spec = OverrideOf(declared.classified.name);
  const std::string expected =
      override_spec.empty() ? SplitAlias(declared).second : override_spec;
  auto wanted = PickManifest(packument, expected, npm_);
  if (wanted.ok()) out.set_wanted((*wanted)->version);
  auto latest = PickManifest(packument, "*", npm_);
  if (latest.ok()) out.set_latest((*latest)->version);

  const std::string dir = manifest.dir.empty() ? "/" : absl::StrCat("/", manifest.dir);
  const PolicyEntry* entry = EntryFor(policy_, dir);
  if (entry == nullptr && !manifest.dir.empty()) entry = EntryFor(policy_, "/");
  entry_out = entry;
  if (entry == nullptr) {
    out.set_decision(ovvoc::v1::PLAN_DECISION_SKIPPED);
    out.set_reason(absl::StrCat("no policy entry covers ", dir));
    return;
  }
  if (!Allows(*entry, declared.name, declared.kind) &&
      !Allows(*entry, declared.classified.name, declared.kind)) {
    out.set_decision(ovvoc::v1::PLAN_DECISION_SKIPPED);
    out.set_reason("not allowed by the policy's `allow` rules");
    return;
  }
  if (override_spec.size() > kMaxPlannedSpec) {
    out.set_decision(ovvoc::v1::PLAN_DECISION_SKIPPED);
    out.set_reason(absl::StrCat("an override spec longer than ", kMaxPlannedSpec, " characters"));
    return;
  }
  if (!override_spec.empty()) {
    // Changing the spec would change nothing that npm installs.
    out.set_decision(ovvoc::v1::PLAN_DECISION_HELD);
    out.set_reason(absl::StrCat("the root package.json's overrides pin it (",
                                InertLine(declared.classified.name, 100), ": ",
                                InertLine(override_spec, 100),
                                "): update the override to move it"));
    return;
  }
  if (spec.kind == SpecKind::kTag) {
    out.set_decision(ovvoc::v1::PLAN_DECISION_SKIPPED);
    out.set_reason(absl::StrCat("a dist-tag (", InertLine(spec.fetch_spec, 100),
                                "): npm installs whatever it points at"));
    return;
  }
  if (!wanted.ok() && !declared.installed_version) {
    out.set_decision(ovvoc::v1::PLAN_DECISION_ERROR);
    out.set_reason(InertLine(wanted.status().message(), 300));
    return;
  }
  Choose(declared, *entry, packument, out);
}

std::string Planner::Refusal(const DeclaredDependency& declared, const PolicyEntry& entry,
                             const Packument& packument, const PackumentVersion& candidate,
                             const Version& version, const std::optional<Version>& base,
                             const std::optional<Version>& latest, VersioningStrategy strategy) {
  if (latest && Compare(version, *latest) > 0 && (!base || Compare(*base, *latest) <= 0)) {
    return absl::StrCat("newer than the latest tag (", latest->ToString(), ")");
  }
  if (candidate.deprecated) {
    return candidate.deprecation.empty()
               ? "deprecated"
               : absl::StrCat("deprecated: ", InertLine(candidate.deprecation, 200));
  }
  if (!EngineOk(candidate, npm_)) {
    std::vector<std::string> needs;
    if (candidate.node.kind != EngineRequirement::Kind::kNone) {
      needs.push_back(absl::StrCat("node ", InertLine(candidate.node.range, 60), " (job: ",
                                   options_.node_version, ")"));
    }
    if (candidate.npm.kind != EngineRequirement::Kind::kNone) {
      needs.push_back(absl::StrCat("npm ", InertLine(candidate.npm.range, 60), " (job: ",
                                   options_.npm_version, ")"));
    }
    return absl::StrCat("engines need ", absl::StrJoin(needs, " and "));
  }
  if (candidate.published.kind == PublishTime::Kind::kInvalid && packument.has_time) {
    return "its publish time cannot be read (npm never picks it)";
  }
  const UpdateType type =
      base ? StepType(base->ToString(), version.ToString()) : ovvoc::v1::UPDATE_TYPE_UNSPECIFIED;
  if (auto ignored = Ignored(entry, declared, candidate.version, type)) return *ignored;
  if (strategy == VersioningStrategy::kLockfileOnly) {
    if (!ranges_.Satisfies(candidate.version, SplitAlias(declared).second, kLoose)) {
      return absl::StrCat("outside ", InertLine(declared.spec, 100),
                          " (versioning-strategy: lockfile-only)");
    }
  }
  double days = std::max({CooldownDays(entry, declared.name, type),
                          CooldownDays(entry, declared.classified.name, type)});
  days = std::max(days, npmrc_cooldown_days_);
  if (days > 0) {
    const std::string whose = days == npmrc_cooldown_days_ ? ".npmrc min-release-age" : "cooldown";
    if (!packument.has_time || candidate.published.kind != PublishTime::Kind::kValid) {
      return absl::StrCat("no publish time: the ", days, "-day ", whose, " cannot be checked");
    }
    const absl::Time until = candidate.published.time + absl::Hours(24) * days;
    if (options_.now < until) {
      return absl::StrCat(whose, " until ", Day(until), " (", days, " days)");
    }
  }
  return "";
}

// The registry's word on the step from `current` (nullptr: not in the packument) to `target`.
void Signals(const PackumentVersion* current, const PackumentVersion& target,
             const PackumentVersion* follow_up, ovvoc::v1::ReleaseSignals& out) {
  auto engines = [](const PackumentVersion& v) {
    return v.node.kind == EngineRequirement::Kind::kRange ? InertLine(v.node.range, 200)
           : v.node.kind == EngineRequirement::Kind::kInvalid ? std::string("(invalid)")
                                                              : std::string();
  };
  if (current != nullptr) {
    out.set_current_known(true);
    out.set_current_install_script(current->has_install_script);
    out.set_current_engines_node(engines(*current));
    out.set_current_publisher(InertLine(current->publisher, 100));
    out.set_current_provenance(current->provenance);
    if (current->published.kind == PublishTime::Kind::kValid) {
      *out.mutable_current_published() = ToProto(current->published.time);
    }
  }
  out.set_target_install_script(target.has_install_script);
  out.set_target_engines_node(engines(target));
  out.set_target_publisher(InertLine(target.publisher, 100));
  out.set_target_provenance(target.provenance);
  if (follow_up != nullptr) {
    out.set_follow_up(follow_up->version);
    if (follow_up->published.kind == PublishTime::Kind::kValid) {
      *out.mutable_follow_up_published() = ToProto(follow_up->published.time);
    }
  }
}

void Planner::Choose(const DeclaredDependency& declared, const PolicyEntry& entry,
                     const Packument& packument, PlannedDependency& out) {
  // What counts as newer: without a version to compare with, every older one would be too.
  const std::string from = declared.installed_version ? *declared.installed_version : out.wanted();
  auto parsed_base = ParseVersion(from, kLoose);
  if (!parsed_base.ok()) {
    out.set_decision(ovvoc::v1::PLAN_DECISION_HELD);
    out.set_reason(absl::StrCat(declared.installed_version ? "the lockfile's version " : "wanted ",
                                InertLine(from, 100),
                                " is not a semver version: nothing can be called newer"));
    return;
  }
  const std::optional<Version> base = *std::move(parsed_base);
  // The cap: the `latest` tag; when the tag names no version that parses, the version npm
  // would pick for any release range (">=0": the tag is not taken for it, having no version),
  // so that a broken tag never lifts the cap.
  std::optional<Version> latest;
  std::string broken_tag;
  if (const PackumentVersion* tagged = packument.Tagged("latest")) {
    if (auto parsed = ParseVersion(tagged->version, kLoose); parsed.ok()) latest = *parsed;
  }
  if (!latest) {
    auto tag = packument.dist_tags.find("latest");
    if (tag != packument.dist_tags.end()) {
      broken_tag = tag->second;
    }
    if (auto any = PickManifest(packument, ">=0", npm_); any.ok()) {
      if (auto parsed = ParseVersion((*any)->version, kLoose); parsed.ok()) latest = *parsed;
    }
  }
  const VersioningStrategy strategy = Effective(entry.versioning_strategy, project_.root);
  out.set_versioning_strategy(std::string(VersioningStrategyName(strategy)));

  struct Newer {
    const PackumentVersion* entry;
    Version version;
  };
  std::vector<Newer> newer;
  size_t prereleases = 0;
  for (const PackumentVersion& candidate : packument.versions) {
    auto version = ParseVersion(candidate.version, kLoose);
    if (!version.ok() || Compare(*version, *base) <= 0) continue;
    // Even when the latest tag names one: a prerelease is what its line's users opted into.
    if (!version->prerelease.empty() &&
        !(!base->prerelease.empty() && SameLine(*base, *version))) {
      ++prereleases;
      continue;
    }
    newer.push_back({&candidate, *std::move(version)});
  }
  std::stable_sort(newer.begin(), newer.end(),
                   [](const Newer& a, const Newer& b) { return Compare(a.version, b.version) > 0; });

  const Newer* target = nullptr;
  size_t listed = 0, unlisted = 0;
  size_t tried = 0;
  for (const Newer& candidate : newer) {
    if (++tried % 64 == 0 && OutOfTime()) return;  // the caller says so
    std::string refusal = Refusal(declared, entry, packument, *candidate.entry, candidate.version,
                                  base, latest, strategy);
    if (refusal.empty()) {
      target = &candidate;
      break;
    }
    if (listed < kMaxPassedOver) {
      *out.add_passed_over() = Candidate(candidate.entry->version, std::move(refusal));
      ++listed;
    } else {
      ++unlisted;
    }
  }
  if (unlisted > 0) {
    *out.add_passed_over() = Candidate("", absl::StrCat(unlisted, " more newer versions"));
  }
  if (prereleases > 0) {
    *out.add_passed_over() = Candidate(
        "", absl::StrCat(prereleases, " prerelease", prereleases == 1 ? "" : "s",
                         ": not in the current prerelease line"));
  }
  if (!broken_tag.empty()) {
    *out.add_passed_over() = Candidate(
        "", absl::StrCat("the latest tag names ", InertLine(broken_tag, 100),
                         ", which is no version: nothing past ",
                         latest ? latest->ToString() : "npm's own pick", " is proposed"));
  }

  if (target == nullptr) {
    if (newer.empty()) {
      out.set_decision(ovvoc::v1::PLAN_DECISION_UP_TO_DATE);
      out.set_reason(declared.installed_version ? "already the newest" : "nothing newer");
    } else {
      out.set_decision(ovvoc::v1::PLAN_DECISION_HELD);
      out.set_reason(absl::StrCat(newer.front().entry->version, ": ",
                                  out.passed_over(0).reason()));
    }
    return;
  }

  const std::string version = target->entry->version;
  const auto [alias_prefix, range] = SplitAlias(declared);
  std::string new_spec = declared.spec;
  if (strategy != VersioningStrategy::kLockfileOnly && !range.empty()) {
    auto rewritten = UpdateRange(range, version, strategy);
    if (!rewritten.ok()) {
      out.set_decision(ovvoc::v1::PLAN_DECISION_HELD);
      out.set_reason(absl::StrCat(version, ": the spec cannot be rewritten: ",
                                  InertLine(rewritten.status().message(), 200)));
      return;
    }
    new_spec = alias_prefix + *rewritten;
  }
  out.set_decision(ovvoc::v1::PLAN_DECISION_UPDATE);
  out.set_target(version);
  out.set_new_spec(InertLine(new_spec, 1100));
  out.set_update_type(StepType(base->ToString(), target->version.ToString()));
  if (target->entry->published.kind == PublishTime::Kind::kValid) {
    *out.mutable_target_published() = ToProto(target->entry->published.time);
  }
  const PackumentVersion* current =
      declared.installed_version ? packument.Find(*declared.installed_version) : nullptr;
  const Newer* follow_up = nullptr;  // the closest newer release on the target's line
  for (const Newer& candidate : newer) {
    if (&candidate == target) break;
    if (candidate.version.prerelease.empty() && candidate.version.major == target->version.major &&
        candidate.version.minor == target->version.minor) {
      follow_up = &candidate;
    }
  }
  Signals(current, *target->entry, follow_up ? follow_up->entry : nullptr,
          *out.mutable_signals());
  const bool newest = target == &newer.front();
  out.set_reason(newest ? (latest && Compare(target->version, *latest) == 0 ? "the latest"
                                                                             : "the newest")
                        : absl::StrCat("the newest allowed; ", newer.front().entry->version, ": ",
                                       out.passed_over(0).reason()));
  const Group* group = GroupOf(entry, declared.name, declared.kind, out.update_type());
  if (group == nullptr && declared.classified.name != declared.name) {
    group = GroupOf(entry, declared.classified.name, declared.kind, out.update_type());
  }
  if (group != nullptr) out.set_group(group->name);
}

}  // namespace

ovvoc::v1::Plan MakePlan(const Project& project, const Policy& policy, PackumentSource& source,
                         const PlanOptions& options) {
  ovvoc::v1::Plan plan;
  plan.set_policy_source(std::string(PolicySourceName(policy.source)));
  plan.set_policy_file(policy.file);
  plan.set_node_version(options.node_version);
  plan.set_npm_version(options.npm_version);
  *plan.mutable_made_at() = ToProto(options.now);
  for (const ProjectDiagnostic& diagnostic : project.diagnostics) {
    auto* problem = plan.add_problems();
    problem->set_subject(InertLine(diagnostic.file, 200));
    problem->set_message(InertLine(diagnostic.message, 500));
  }
  for (const Diagnostic& diagnostic : policy.diagnostics) {
    if (diagnostic.severity != Diagnostic::Severity::kError) continue;
    auto* problem = plan.add_problems();
    problem->set_subject(InertLine(absl::StrCat(diagnostic.file, ":", diagnostic.line), 200));
    problem->set_message(InertLine(diagnostic.message, 500));
  }

  std::vector<const PackageJson*> manifests = {&project.root};
  for (const PackageJson& member : project.workspaces) manifests.push_back(&member);

  // One fetch for every registry package any manifest names.
  std::vector<std::string> names;
  std::map<std::string, size_t> slot;
  for (const PackageJson* manifest : manifests) {
    for (const DeclaredDependency& dependency : manifest->dependencies) {
      if (!dependency.classified.registry() || dependency.classified.name.empty()) continue;
      if (slot.emplace(dependency.classified.name, names.size()).second) {
        names.push_back(dependency.classified.name);
      }
    }
  }
  const size_t asked = std::min(names.size(), kMaxPlannedPackages);
  std::vector<PackumentSource::Fetched> fetched =
      source.Fetch(std::vector<std::string>(names.begin(), names.begin() + asked));
  fetched.resize(names.size());
  for (size_t i = asked; i < names.size(); ++i) {
    fetched[i].packument = absl::ResourceExhaustedError(absl::StrCat(
        "not looked up: the project names more than ", kMaxPlannedPackages, " packages"));
  }
  for (size_t i = 0; i < asked; ++i) {
    if (fetched[i].packument.ok() || absl::IsNotFound(fetched[i].packument.status())) continue;
    auto* problem = plan.add_problems();
    problem->set_subject(InertLine(names[i], 214));
    problem->set_message(InertLine(fetched[i].packument.status().message(), 500));
  }
  if (asked < names.size()) {
    auto* problem = plan.add_problems();
    problem->set_subject("package.json");
    problem->set_message(absl::StrCat("the project names ", names.size(), " packages: the ",
                                      names.size() - asked, " past the first ",
                                      kMaxPlannedPackages, " were not looked up"));
  }

  Planner planner(project, policy, options);
  std::vector<const PolicyEntry*> entries;
  size_t declarations = 0, undecided = 0;
  for (const PackageJson* manifest : manifests) {
    for (const DeclaredDependency& declared : manifest->dependencies) {
      if (declarations++ >= kMaxPlannedDeclarations) continue;  // not even a row: said below
      PlannedDependency& out = *plan.add_dependencies();
      out.set_name(InertLine(declared.name, 214));
      out.set_package(InertLine(declared.classified.name, 214));
      out.set_spec(InertLine(declared.spec, 500));
      out.set_kind(declared.kind);
      out.set_manifest_path(InertLine(declared.manifest_path, 1024));
      auto it = slot.find(declared.classified.name);
      const PackumentSource::Fetched* packument =
          declared.classified.registry() && it != slot.end() && it->second < fetched.size()
              ? &fetched[it->second]
              : nullptr;
      const PolicyEntry* entry = nullptr;
      if (!planner.OutOfTime()) planner.Decide(declared, *manifest, packument, out, entry);
      if (planner.OutOfTime() && out.decision() == ovvoc::v1::PLAN_DECISION_UNSPECIFIED) {
        out.set_decision(ovvoc::v1::PLAN_DECISION_ERROR);
        out.set_reason(std::string(kUndecided));
        ++undecided;
      }
      entries.push_back(entry);
    }
  }
  if (declarations > kMaxPlannedDeclarations) {
    auto* problem = plan.add_problems();
    problem->set_subject("package.json");
    problem->set_message(absl::StrCat("the project declares ", declarations,
                                      " dependencies: the ", declarations - kMaxPlannedDeclarations,
                                      " past the first ", kMaxPlannedDeclarations,
                                      " were not planned"));
  }
  if (undecided > 0) {
    auto* problem = plan.add_problems();
    problem->set_subject("plan");
    problem->set_message(absl::StrCat(undecided, " dependencies not decided: ", kUndecided));
  }

  // Proposals: one per group (per policy entry), one per ungrouped package; groups first, then
  // patch before minor before major, then by name.
  std::map<std::pair<const PolicyEntry*, std::string>, size_t> groups;
  for (int i = 0; i < plan.dependencies_size(); ++i) {
    const PlannedDependency& dependency = plan.dependencies(i);
    if (dependency.decision() != ovvoc::v1::PLAN_DECISION_UPDATE) continue;
    // A group's updates share a pull request; so do one package's declarations in one manifest
    // (a library's peer and dev ranges of the same package move together).
    const std::string key = dependency.group().empty()
                                ? absl::StrCat("\x01", dependency.manifest_path(), "\x01",
                                               dependency.package())
                                : dependency.group();
    ovvoc::v1::PlanProposal* proposal = nullptr;
    auto [it, added] = groups.try_emplace({entries[i], key}, plan.proposals_size());
    if (!added) proposal = plan.mutable_proposals(it->second);
    if (proposal == nullptr) {
      proposal = plan.add_proposals();
      proposal->set_group(dependency.group());
      proposal->set_manifest_dir(entries[i] && !entries[i]->directories.empty()
                                     ? entries[i]->directories.front()
                                     : "/");
    }
    proposal->add_dependencies(i);
    proposal->set_update_type(std::max(proposal->update_type(), dependency.update_type()));
  }
  auto* proposals = plan.mutable_proposals();
  auto key = [&](const ovvoc::v1::PlanProposal& p) {
    const PlannedDependency& first = plan.dependencies(p.dependencies(0));
    return std::make_tuple(p.group().empty(), static_cast<int>(p.update_type()),
                           p.group().empty() ? first.name() : p.group(), first.manifest_path());
  };
  std::stable_sort(proposals->begin(), proposals->end(),
                   [&](const auto& a, const auto& b) { return key(a) < key(b); });
  std::map<std::string, int> opened;  // per policy entry directory
  for (auto& proposal : *proposals) {
    const PolicyEntry* entry = entries[proposal.dependencies(0)];
    const int limit = entry ? entry->open_pull_requests_limit : kDefaultOpenPullRequestsLimit;
    if (opened[proposal.manifest_dir()]++ >= limit) proposal.set_deferred(true);
  }
  return plan;
}

}  // namespace ovvoc::agent::npm
