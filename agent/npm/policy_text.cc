// The policy as `ovvoc-agent policy check` shows it: text for people, JSON for programs.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/npm/policy.h"
#include "common/inert.h"
#include "nlohmann/json.hpp"

namespace ovvoc::agent::npm {
namespace {

using Json = nlohmann::ordered_json;
using ovvoc::v1::UpdateType;

std::string Q(absl::string_view text) { return absl::StrCat("\"", InertLine(text, 200), "\""); }

std::string Quoted(const std::vector<std::string>& values) {
  std::vector<std::string> quoted;
  for (const std::string& v : values) quoted.push_back(Q(v));
  return absl::StrJoin(quoted, ", ");
}

std::vector<std::string> UpdateTypeWords(const std::vector<UpdateType>& types,
                                         absl::string_view prefix) {
  std::vector<std::string> words;
  for (UpdateType t : types) words.push_back(absl::StrCat(prefix, UpdateTypeName(t)));
  return words;
}

std::string AllowText(const PolicyEntry& e) {
  if (e.allow.empty()) return "every direct dependency";
  std::vector<std::string> rules;
  for (const AllowRule& r : e.allow) {
    rules.push_back(
        absl::StrCat(Q(r.dependency_name), " (", DependencyTypeName(r.dependency_type), ")"));
  }
  return absl::StrJoin(rules, "; ");
}

std::string IgnoreText(const IgnoreRule& r) {
  std::vector<std::string> what;
  if (!r.versions.empty()) what.push_back(absl::StrCat("versions ", Quoted(r.versions)));
  if (!r.update_types.empty()) {
    what.push_back(absl::StrJoin(UpdateTypeWords(r.update_types, "version-update:semver-"), ", "));
  }
  if (what.empty()) what.push_back("every version");
  return absl::StrCat(Q(r.dependency_name), ": ", absl::StrJoin(what, "; "), " (",
                      r.where.ToString(), ")");
}

std::string GroupText(const Group& g) {
  std::vector<std::string> rules;
  if (!g.patterns.empty()) rules.push_back(absl::StrCat("patterns ", Quoted(g.patterns)));
  if (!g.exclude_patterns.empty()) {
    rules.push_back(absl::StrCat("exclude-patterns ", Quoted(g.exclude_patterns)));
  }
  if (g.dependency_type != DependencyType::kAll) {
    rules.push_back(std::string(DependencyTypeName(g.dependency_type)));
  }
  if (!g.update_types.empty())
    rules.push_back(absl::StrJoin(UpdateTypeWords(g.update_types, ""), ", "));
  if (g.applies_to == AppliesTo::kSecurityUpdates) rules.push_back("security updates");
  return absl::StrCat(Q(g.name), ": ", absl::StrJoin(rules, "; "));
}

std::string CooldownText(const Cooldown& c) {
  if (c.default_days == 0 && !c.semver_major_days && !c.semver_minor_days && !c.semver_patch_days) {
    return "none";
  }
  std::string text =
      absl::StrCat(c.default_days, " days (major ", c.semver_major_days.value_or(c.default_days),
                   ", minor ", c.semver_minor_days.value_or(c.default_days), ", patch ",
                   c.semver_patch_days.value_or(c.default_days), ")");
  if (!c.include.empty()) absl::StrAppend(&text, "; only ", Quoted(c.include));
  if (!c.exclude.empty()) absl::StrAppend(&text, "; not ", Quoted(c.exclude));
  return text;
}

std::string CommitText(const CommitMessage& m) {
  std::vector<std::string> parts;
  if (!m.prefix.empty()) parts.push_back(absl::StrCat("prefix ", Q(m.prefix)));
  if (!m.prefix_development.empty()) {
    parts.push_back(absl::StrCat("prefix-development ", Q(m.prefix_development)));
  }
  if (m.include_scope) parts.push_back("include scope");
  return parts.empty() ? "Ovvoc's" : absl::StrJoin(parts, "; ");
}

std::string ScheduleText(const std::optional<Schedule>& s) {
  if (!s) return "the control plane's";
  std::string text(ScheduleIntervalName(s->interval));
  if (!s->cronjob.empty()) absl::StrAppend(&text, " ", Q(s->cronjob));
  if (!s->day.empty()) absl::StrAppend(&text, ", ", s->day);
  if (!s->time.empty()) absl::StrAppend(&text, ", ", s->time);
  if (!s->timezone.empty()) absl::StrAppend(&text, " ", s->timezone);
  return text;
}

void Line(std::string& out, absl::string_view key, absl::string_view value) {
  absl::StrAppend(&out, "  ", key, std::string(key.size() < 26 ? 26 - key.size() : 1, ' '), value,
                  "\n");
}

void DescribeEntry(std::string& out, const PolicyEntry& e, size_t index) {
  absl::StrAppend(&out, "entry ", index + 1, " (", e.where.ToString(), ")\n");
  Line(out, "directories", Quoted(e.directories));
  Line(out, "allow", AllowText(e));
  if (e.ignore.empty()) Line(out, "ignore", "nothing");
  for (const IgnoreRule& r : e.ignore) Line(out, "ignore", IgnoreText(r));
  Line(out, "versioning-strategy", VersioningStrategyName(e.versioning_strategy));
  if (e.groups.empty()) Line(out, "groups", "none: a pull request per dependency");
  for (const Group& g : e.groups) Line(out, "group", GroupText(g));
  Line(out, "cooldown", CooldownText(e.cooldown));
  Line(out, "open-pull-requests-limit", absl::StrCat(e.open_pull_requests_limit));
  Line(out, "labels", !e.labels ? "the default" : e.labels->empty() ? "none" : Quoted(*e.labels));
  Line(out, "commit-message", CommitText(e.commit_message));
  Line(out, "target-branch", e.target_branch.empty() ? "the default branch" : Q(e.target_branch));
  Line(out, "registries", e.registries.empty() ? "the public registry" : Quoted(e.registries));
  Line(out, "schedule", ScheduleText(e.schedule));
  Line(out, "node", e.node.empty() ? "from the project's engines" : Q(e.node));
  Line(out, "test", e.test.empty() ? "the project's npm test" : Quoted(e.test));
  Line(out, "build", e.build.empty() ? "the project's npm run build" : Quoted(e.build));
}

Json ToJson(const std::optional<int>& value) { return value ? Json(*value) : Json(nullptr); }

Json EntryJson(const PolicyEntry& e) {
  Json j;
  j["line"] = e.where.line;
  j["directories"] = e.directories;
  j["allow"] = Json::array();
  for (const AllowRule& r : e.allow) {
    j["allow"].push_back({{"dependency-name", r.dependency_name},
                          {"dependency-type", DependencyTypeName(r.dependency_type)},
                          {"line", r.where.line}});
  }
  j["ignore"] = Json::array();
  for (const IgnoreRule& r : e.ignore) {
    j["ignore"].push_back(
        {{"dependency-name", r.dependency_name},
         {"versions", r.versions},
         {"update-types", UpdateTypeWords(r.update_types, "version-update:semver-")},
         {"line", r.where.line}});
  }
  j["versioning-strategy"] = VersioningStrategyName(e.versioning_strategy);
  j["groups"] = Json::array();
  for (const Group& g : e.groups) {
    j["groups"].push_back(
        {{"name", g.name},
         {"patterns", g.patterns},
         {"exclude-patterns", g.exclude_patterns},
         {"dependency-type", DependencyTypeName(g.dependency_type)},
         {"update-types", UpdateTypeWords(g.update_types, "")},
         {"applies-to",
          g.applies_to == AppliesTo::kVersionUpdates ? "version-updates" : "security-updates"},
         {"line", g.where.line}});
  }
  const Cooldown& c = e.cooldown;
  j["cooldown"] = {{"default-days", c.default_days},
                   {"semver-major-days", ToJson(c.semver_major_days)},
                   {"semver-minor-days", ToJson(c.semver_minor_days)},
                   {"semver-patch-days", ToJson(c.semver_patch_days)},
                   {"include", c.include},
                   {"exclude", c.exclude}};
  j["open-pull-requests-limit"] = e.open_pull_requests_limit;
  j["labels"] = e.labels ? Json(*e.labels) : Json(nullptr);
  j["commit-message"] = {{"prefix", e.commit_message.prefix},
                         {"prefix-development", e.commit_message.prefix_development},
                         {"include", e.commit_message.include_scope ? Json("scope") : Json()}};
  j["target-branch"] = e.target_branch.empty() ? Json() : Json(e.target_branch);
  j["registries"] = e.registries;
  if (e.schedule) {
    j["schedule"] = {{"interval", ScheduleIntervalName(e.schedule->interval)},
                     {"day", e.schedule->day},
                     {"time", e.schedule->time},
                     {"timezone", e.schedule->timezone},
                     {"cronjob", e.schedule->cronjob}};
  } else {
    j["schedule"] = nullptr;
  }
  j["node"] = e.node.empty() ? Json() : Json(e.node);
  j["test"] = e.test;
  j["build"] = e.build;
  return j;
}

}  // namespace

// Names in enum order: the enums in policy.h are declared in the order of these lists.
template <typename E, size_t N>
absl::string_view NameOf(E value, const absl::string_view (&names)[N]) {
  const size_t i = static_cast<size_t>(value);
  return i < N ? names[i] : names[0];
}

absl::string_view PolicySourceName(PolicySource source) {
  static constexpr absl::string_view kNames[] = {"defaults", "ovvoc-file", "dependabot-file",
                                                 "policy-flag"};
  return NameOf(source, kNames);
}

absl::string_view VersioningStrategyName(VersioningStrategy strategy) {
  static constexpr absl::string_view kNames[] = {"auto", "increase", "increase-if-necessary",
                                                 "widen", "lockfile-only"};
  return NameOf(strategy, kNames);
}

absl::string_view DependencyTypeName(DependencyType type) {
  static constexpr absl::string_view kNames[] = {"all", "direct", "indirect", "production",
                                                 "development"};
  return NameOf(type, kNames);
}

absl::string_view ScheduleIntervalName(ScheduleInterval interval) {
  static constexpr absl::string_view kNames[] = {"daily",        "weekly", "monthly", "quarterly",
                                                 "semiannually", "yearly", "cron"};
  return NameOf(interval, kNames);
}

absl::string_view UpdateTypeName(ovvoc::v1::UpdateType type) {
  static constexpr absl::string_view kNames[] = {"unspecified", "patch", "minor", "major"};
  return NameOf(type, kNames);
}

std::string DescribePolicy(const Policy& policy) {
  std::string out;
  if (policy.source == PolicySource::kDefaults) {
    absl::StrAppend(&out, "policy: Ovvoc's defaults (no policy file read)\n");
  } else {
    absl::StrAppend(&out, "policy: Ovvoc's defaults, then ", InertLine(policy.file, 200),
                    policy.source == PolicySource::kPolicyFlag ? " (--policy)" : "", "\n");
  }
  for (size_t i = 0; i < policy.entries.size(); ++i) DescribeEntry(out, policy.entries[i], i);
  for (const Registry& r : policy.registries) {
    absl::StrAppend(
        &out, "registry ", Q(r.name), ": ", InertLine(r.type, 100), " ", InertLine(r.url, 300),
        r.token_name.empty() ? "" : absl::StrCat(", token-name ", Q(r.token_name)), "\n");
  }
  absl::StrAppend(&out,
                  "always: never a deprecated version; never past the `latest` tag unless "
                  "already past it; prereleases only within the current prerelease line\n");
  for (const Diagnostic& d : policy.diagnostics) {
    absl::StrAppend(&out, d.severity == Diagnostic::Severity::kError ? "error: " : "warning: ",
                    InertLine(d.ToString(), 600), "\n");
  }
  return out;
}

std::string PolicyJson(const Policy& policy) {
  Json j;
  j["source"] = PolicySourceName(policy.source);
  j["file"] = policy.file.empty() ? Json() : Json(policy.file);
  j["entries"] = Json::array();
  for (const PolicyEntry& e : policy.entries) j["entries"].push_back(EntryJson(e));
  j["registries"] = Json::array();
  for (const Registry& r : policy.registries) {
    j["registries"].push_back(
        {{"name", r.name}, {"type", r.type}, {"url", r.url}, {"token-name", r.token_name}});
  }
  j["safeguards"] = {{"skip-deprecated", policy.safeguards.skip_deprecated},
                     {"stay-within-latest", policy.safeguards.stay_within_latest},
                     {"prerelease-line-only", policy.safeguards.prerelease_line_only}};
  j["diagnostics"] = Json::array();
  for (const Diagnostic& d : policy.diagnostics) {
    j["diagnostics"].push_back(
        {{"severity", d.severity == Diagnostic::Severity::kError ? "error" : "warning"},
         {"file", d.file},
         {"line", d.line},
         {"column", d.column},
         {"message", d.message}});
  }
  j["errors"] = policy.HasErrors();
  // Text from the file may not be UTF-8: such bytes become U+FFFD rather than an exception.
  return j.dump(2, ' ', false, Json::error_handler_t::replace);
}

}  // namespace ovvoc::agent::npm
