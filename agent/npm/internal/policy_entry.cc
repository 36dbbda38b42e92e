#include "agent/npm/internal/policy_entry.h"

#include <yaml-cpp/yaml.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/npm/policy.h"
#include "agent/npm/semver.h"
#include "common/inert.h"

namespace ovvoc::agent::npm::internal {
namespace {

using ovvoc::v1::UpdateType;

constexpr Spelling<VersioningStrategy> kStrategies[] = {
    {"auto", VersioningStrategy::kAuto},
    {"increase", VersioningStrategy::kIncrease},
    {"increase-if-necessary", VersioningStrategy::kIncreaseIfNecessary},
    {"widen", VersioningStrategy::kWiden},
    {"lockfile-only", VersioningStrategy::kLockfileOnly}};
constexpr Spelling<DependencyType> kAllowTypes[] = {{"direct", DependencyType::kDirect},
                                                    {"indirect", DependencyType::kIndirect},
                                                    {"all", DependencyType::kAll},
                                                    {"production", DependencyType::kProduction},
                                                    {"development", DependencyType::kDevelopment}};
constexpr Spelling<DependencyType> kGroupTypes[] = {{"production", DependencyType::kProduction},
                                                    {"development", DependencyType::kDevelopment}};
constexpr Spelling<UpdateType> kIgnoreUpdateTypes[] = {
    {"version-update:semver-major", ovvoc::v1::UPDATE_TYPE_MAJOR},
    {"version-update:semver-minor", ovvoc::v1::UPDATE_TYPE_MINOR},
    {"version-update:semver-patch", ovvoc::v1::UPDATE_TYPE_PATCH}};
constexpr Spelling<UpdateType> kGroupUpdateTypes[] = {{"major", ovvoc::v1::UPDATE_TYPE_MAJOR},
                                                      {"minor", ovvoc::v1::UPDATE_TYPE_MINOR},
                                                      {"patch", ovvoc::v1::UPDATE_TYPE_PATCH}};
constexpr Spelling<AppliesTo> kAppliesTo[] = {{"version-updates", AppliesTo::kVersionUpdates},
                                              {"security-updates", AppliesTo::kSecurityUpdates}};
constexpr Spelling<ScheduleInterval> kIntervals[] = {
    {"daily", ScheduleInterval::kDaily},
    {"weekly", ScheduleInterval::kWeekly},
    {"monthly", ScheduleInterval::kMonthly},
    {"quarterly", ScheduleInterval::kQuarterly},
    {"semiannually", ScheduleInterval::kSemiannually},
    {"yearly", ScheduleInterval::kYearly},
    {"cron", ScheduleInterval::kCron}};
constexpr Spelling<int> kDays[] = {{"monday", 1},   {"tuesday", 2}, {"wednesday", 3},
                                   {"thursday", 4}, {"friday", 5},  {"saturday", 6},
                                   {"sunday", 0}};
constexpr Spelling<bool> kIncludeScope[] = {{"scope", true}};

// Dependabot keys read without a warning that Ovvoc does not act on (yet).
constexpr absl::string_view kUnusedEntryKeys[] = {"assignees",
                                                  "reviewers",
                                                  "milestone",
                                                  "pull-request-branch-name",
                                                  "rebase-strategy",
                                                  "insecure-external-code-execution",
                                                  "vendor",
                                                  "exclude-paths",
                                                  "multi-ecosystem-group",
                                                  "patterns"};

// One `updates` entry (or, in `.ovvoc.yml`, the top level standing for one).
class EntryReader {
 public:
  EntryReader(PolicyReader& r, PolicyFormat format, std::string where, bool nested,
              const std::vector<Registry>& registries, PolicyEntry& entry)
      : r_(r),
        format_(format),
        where_(std::move(where)),
        nested_(nested),
        registries_(registries),
        entry_(entry) {}

  void Read(const std::vector<Pair>& pairs, const YAML::Node& at);

 private:
  using Handler = void (EntryReader::*)(const YAML::Node& value, const std::string& path);
  struct Key {
    absl::string_view name;
    Handler handler;
    bool ovvoc_only;
  };
  static const Key kKeys[];

  std::string Path(absl::string_view key) const {
    return nested_ ? absl::StrCat(where_, ".", key) : std::string(key);
  }

  void Directory(const YAML::Node& value, const std::string& path);
  void Directories(const YAML::Node& value, const std::string& path);
  // The maps of a list of rules, each with its path ("allow[2]"); the others are errors.
  std::vector<std::pair<YAML::Node, std::string>> Rules(const YAML::Node& value,
                                                        const std::string& path);
  void Allow(const YAML::Node& value, const std::string& path);
  void Ignore(const YAML::Node& value, const std::string& path);
  void Strategy(const YAML::Node& value, const std::string& path);
  void Groups(const YAML::Node& value, const std::string& path);
  std::optional<Group> OneGroup(const YAML::Node& value, const std::string& path);
  void Cooldown(const YAML::Node& value, const std::string& path);
  void Limit(const YAML::Node& value, const std::string& path);
  void Labels(const YAML::Node& value, const std::string& path);
  void Commit(const YAML::Node& value, const std::string& path);
  void TargetBranch(const YAML::Node& value, const std::string& path);
  void Registries(const YAML::Node& value, const std::string& path);
  void Schedule(const YAML::Node& value, const std::string& path);
  void Node(const YAML::Node& value, const std::string& path);
  void Test(const YAML::Node& value, const std::string& path);
  void Build(const YAML::Node& value, const std::string& path);
  std::optional<std::vector<std::string>> Commands(const YAML::Node& value,
                                                   const std::string& path);
  std::optional<std::vector<UpdateType>> UpdateTypes(const YAML::Node& value,
                                                     const std::string& path,
                                                     const Spelling<UpdateType> (&spellings)[3]);

  PolicyReader& r_;
  const PolicyFormat format_;
  const std::string where_;  // "updates[0]", or "the top level"
  const bool nested_;
  const std::vector<Registry>& registries_;
  PolicyEntry& entry_;
  bool saw_directory_ = false;
  bool saw_directories_ = false;
  bool saw_schedule_ = false;
};

const EntryReader::Key EntryReader::kKeys[] = {
    {"directory", &EntryReader::Directory, false},
    {"directories", &EntryReader::Directories, false},
    {"allow", &EntryReader::Allow, false},
    {"ignore", &EntryReader::Ignore, false},
    {"versioning-strategy", &EntryReader::Strategy, false},
    {"groups", &EntryReader::Groups, false},
    {"cooldown", &EntryReader::Cooldown, false},
    {"open-pull-requests-limit", &EntryReader::Limit, false},
    {"labels", &EntryReader::Labels, false},
    {"commit-message", &EntryReader::Commit, false},
    {"target-branch", &EntryReader::TargetBranch, false},
    {"registries", &EntryReader::Registries, false},
    {"schedule", &EntryReader::Schedule, false},
    {"node", &EntryReader::Node, true},
    {"test", &EntryReader::Test, true},
    {"build", &EntryReader::Build, true},
};

void EntryReader::Read(const std::vector<Pair>& pairs, const YAML::Node& at) {
  entry_.where = r_.LineOf(at);
  for (const auto& [key, value] : pairs) {
    const std::string& name = key.Scalar();
    const Key* handler = nullptr;
    for (const Key& k : kKeys) {
      if (k.name == name && (!k.ovvoc_only || format_ == PolicyFormat::kOvvoc)) handler = &k;
    }
    if (handler != nullptr) {
      (this->*(handler->handler))(value, Path(name));
    } else if (!OneOf(name, kUnusedEntryKeys)) {
      r_.UnknownKey(key, where_);
    }
  }
  if (saw_directory_ && saw_directories_) {
    r_.Error(at, absl::StrCat(where_, ": set directory or directories, not both"));
  }
  if (format_ == PolicyFormat::kDependabot) {
    if (!saw_directory_ && !saw_directories_) {
      r_.Error(at, absl::StrCat(where_, ": needs directory or directories"));
    }
    if (!saw_schedule_) r_.Error(at, absl::StrCat(where_, ": needs schedule.interval"));
  }
}

void EntryReader::Directory(const YAML::Node& value, const std::string& path) {
  saw_directory_ = true;
  std::optional<std::string> text = r_.String(value, path);
  if (!text) return;
  std::optional<std::string> dir = internal::NormalizeDirectory(*text);
  if (!dir) {
    r_.Error(value,
             absl::StrCat(path, ": ", Quoted(*text), " is not a directory of the repository"));
    return;
  }
  entry_.directories = {*dir};
}

void EntryReader::Directories(const YAML::Node& value, const std::string& path) {
  saw_directories_ = true;
  std::optional<std::vector<std::string>> texts = r_.Strings(value, path, false);
  if (!texts) return;
  std::vector<std::string> dirs;
  for (const std::string& text : *texts) {
    std::optional<std::string> dir = internal::NormalizeDirectory(text);
    if (!dir) {
      r_.Error(value,
               absl::StrCat(path, ": ", Quoted(text), " is not a directory of the repository"));
      return;
    }
    dirs.push_back(*dir);
  }
  if (!saw_directory_) entry_.directories = std::move(dirs);
}

std::vector<std::pair<YAML::Node, std::string>> EntryReader::Rules(const YAML::Node& value,
                                                                   const std::string& path) {
  std::vector<std::pair<YAML::Node, std::string>> rules;
  if (!r_.IsList(value, path)) return rules;
  std::vector<YAML::Node> elements = r_.Elements(value);
  for (size_t i = 0; i < elements.size(); ++i) {
    std::string rule_path = absl::StrCat(path, "[", i, "]");
    if (r_.IsMap(elements[i], rule_path)) rules.emplace_back(elements[i], std::move(rule_path));
  }
  return rules;
}

void EntryReader::Allow(const YAML::Node& value, const std::string& path) {
  for (const auto& [element, rule_path] : Rules(value, path)) {
    AllowRule rule;
    rule.where = r_.LineOf(element);
    bool ok = true, any = false;
    for (const auto& [k, v] : r_.Pairs(element)) {
      if (k.Scalar() == "dependency-name") {
        std::optional<std::string> name = r_.String(v, rule_path + ".dependency-name");
        ok &= name.has_value();
        if (name) rule.dependency_name = *name;
        any = true;
      } else if (k.Scalar() == "dependency-type") {
        std::optional<DependencyType> type =
            r_.Enum(v, rule_path + ".dependency-type", kAllowTypes);
        ok &= type.has_value();
        if (type) rule.dependency_type = *type;
        any = true;
      } else {
        r_.UnknownKey(k, rule_path);
      }
    }
    if (!any) r_.Error(element, rule_path + ": needs dependency-name or dependency-type");
    if (ok && any) entry_.allow.push_back(std::move(rule));
  }
}

std::optional<std::vector<UpdateType>> EntryReader::UpdateTypes(
    const YAML::Node& value, const std::string& path, const Spelling<UpdateType> (&spellings)[3]) {
  if (!r_.IsList(value, path)) return std::nullopt;
  std::vector<UpdateType> types;
  bool ok = true;
  for (const YAML::Node& element : r_.Elements(value)) {
    std::optional<UpdateType> type = r_.Enum(element, path, spellings);
    ok &= type.has_value();
    if (type) types.push_back(*type);
  }
  if (ok && types.empty()) r_.Error(value, path + ": the list is empty");
  if (!ok || types.empty()) return std::nullopt;
  return types;
}

// A rule whose versions or update types are wrong ignores every version of its dependencies:
// the safe side of what it meant.
void EntryReader::Ignore(const YAML::Node& value, const std::string& path) {
  for (const auto& [element, rule_path] : Rules(value, path)) {
    IgnoreRule rule;
    rule.where = r_.LineOf(element);
    bool named = false, broken = false;
    for (const auto& [k, v] : r_.Pairs(element)) {
      if (k.Scalar() == "dependency-name") {
        std::optional<std::string> name = r_.String(v, rule_path + ".dependency-name");
        if (name) rule.dependency_name = *name;
        named = name.has_value();
      } else if (k.Scalar() == "versions") {
        std::optional<std::vector<std::string>> ranges =
            r_.Strings(v, rule_path + ".versions", false);
        broken |= !ranges;
        for (const std::string& range : ranges.value_or(std::vector<std::string>{})) {
          if (!ValidRange(range, Options{.loose = true})) {
            r_.Error(v,
                     absl::StrCat(rule_path, ".versions: ", Quoted(range), " is not an npm range"));
            broken = true;
          }
        }
        if (ranges) rule.versions = *ranges;
      } else if (k.Scalar() == "update-types") {
        std::optional<std::vector<UpdateType>> types =
            UpdateTypes(v, rule_path + ".update-types", kIgnoreUpdateTypes);
        broken |= !types;
        if (types) rule.update_types = *types;
      } else {
        r_.UnknownKey(k, rule_path);
      }
    }
    if (!named) {
      r_.Error(element, rule_path + ": needs dependency-name (\"*\" for every dependency)");
      continue;
    }
    if (broken) {
      rule.versions.clear();
      rule.update_types.clear();
    }
    entry_.ignore.push_back(std::move(rule));
  }
}

void EntryReader::Strategy(const YAML::Node& value, const std::string& path) {
  if (auto strategy = r_.Enum(value, path, kStrategies)) entry_.versioning_strategy = *strategy;
}

void EntryReader::Groups(const YAML::Node& value, const std::string& path) {
  if (!r_.IsMap(value, path)) return;
  for (const auto& [k, v] : r_.Pairs(value)) {
    const std::string group_path = absl::StrCat(path, ".", Quoted(k.Scalar()));
    if (!ValidGroupName(k.Scalar())) {
      r_.Error(k, group_path + ": a group's name is 1 to 100 printable characters");
      continue;
    }
    std::optional<Group> group = OneGroup(v, group_path);
    if (!group) continue;
    group->name = k.Scalar();
    group->where = r_.LineOf(k);
    entry_.groups.push_back(*std::move(group));
  }
}

// A group with an error is left out: its updates get pull requests of their own.
std::optional<Group> EntryReader::OneGroup(const YAML::Node& value, const std::string& path) {
  if (!r_.IsMap(value, path)) return std::nullopt;
  Group group;
  bool ok = true, any_rule = false;
  for (const auto& [k, v] : r_.Pairs(value)) {
    const std::string& key = k.Scalar();
    const std::string key_path = absl::StrCat(path, ".", key);
    if (key == "applies-to") {
      std::optional<AppliesTo> applies = r_.Enum(v, key_path, kAppliesTo);
      ok &= applies.has_value();
      group.applies_to = applies.value_or(group.applies_to);
      continue;
    }
    if (key == "group-by") continue;  // Dependabot's cross-directory grouping: not used yet
    if (key == "dependency-type") {
      std::optional<DependencyType> type = r_.Enum(v, key_path, kGroupTypes);
      ok &= type.has_value();
      group.dependency_type = type.value_or(group.dependency_type);
    } else if (key == "patterns" || key == "exclude-patterns") {
      std::optional<std::vector<std::string>> globs = r_.Strings(v, key_path, false);
      ok &= globs.has_value();
      (key == "patterns" ? group.patterns : group.exclude_patterns) =
          globs.value_or(std::vector<std::string>{});
    } else if (key == "update-types") {
      std::optional<std::vector<UpdateType>> types = UpdateTypes(v, key_path, kGroupUpdateTypes);
      ok &= types.has_value();
      group.update_types = types.value_or(std::vector<UpdateType>{});
    } else {
      r_.UnknownKey(k, path);
      continue;
    }
    any_rule = true;
  }
  if (!any_rule) {
    r_.Error(value, path + ": needs patterns, exclude-patterns, dependency-type or update-types");
  }
  if (!ok || !any_rule) return std::nullopt;
  return group;
}

void EntryReader::Cooldown(const YAML::Node& value, const std::string& path) {
  if (!r_.IsMap(value, path)) return;
  npm::Cooldown& c = entry_.cooldown;
  for (const auto& [k, v] : r_.Pairs(value)) {
    const std::string& key = k.Scalar();
    const std::string key_path = absl::StrCat(path, ".", key);
    std::optional<int>* days = key == "semver-major-days"   ? &c.semver_major_days
                               : key == "semver-minor-days" ? &c.semver_minor_days
                               : key == "semver-patch-days" ? &c.semver_patch_days
                                                            : nullptr;
    if (key == "default-days") {
      c.default_days = r_.Int(v, key_path, 0, kMaxCooldownDays).value_or(c.default_days);
    } else if (days != nullptr) {
      if (auto n = r_.Int(v, key_path, 0, kMaxCooldownDays)) *days = *n;
    } else if (key == "include" || key == "exclude") {
      std::optional<std::vector<std::string>> globs = r_.Strings(v, key_path, true);
      if (globs && globs->size() > 150) {
        r_.Error(v, key_path + ": more than 150 names (Dependabot's limit)");
      } else if (globs) {
        (key == "include" ? c.include : c.exclude) = *std::move(globs);
      }
    } else {
      r_.UnknownKey(k, path);
    }
  }
}

void EntryReader::Limit(const YAML::Node& value, const std::string& path) {
  if (auto n = r_.Int(value, path, 0, 100000)) entry_.open_pull_requests_limit = *n;
}

void EntryReader::Labels(const YAML::Node& value, const std::string& path) {
  if (auto labels = r_.Strings(value, path, true)) entry_.labels = *std::move(labels);
}

void EntryReader::Commit(const YAML::Node& value, const std::string& path) {
  if (!r_.IsMap(value, path)) return;
  for (const auto& [k, v] : r_.Pairs(value)) {
    const std::string& key = k.Scalar();
    const std::string key_path = absl::StrCat(path, ".", key);
    if (key == "prefix" || key == "prefix-development") {
      if (auto prefix = r_.String(v, key_path, 50)) {
        (key == "prefix" ? entry_.commit_message.prefix
                         : entry_.commit_message.prefix_development) = *prefix;
      }
    } else if (key == "include") {
      entry_.commit_message.include_scope = r_.Enum(v, key_path, kIncludeScope).value_or(false);
    } else {
      r_.UnknownKey(k, path);
    }
  }
}

void EntryReader::TargetBranch(const YAML::Node& value, const std::string& path) {
  std::optional<std::string> branch = r_.String(value, path, 255);
  if (branch && !ValidBranch(*branch)) {
    r_.Error(value, absl::StrCat(path, ": ", Quoted(*branch), " is not a valid branch name"));
  } else if (branch) {
    entry_.target_branch = *branch;
  }
}

void EntryReader::Registries(const YAML::Node& value, const std::string& path) {
  if (value.IsScalar() && value.Scalar() == "*") {
    entry_.registries = {"*"};
    return;
  }
  std::optional<std::vector<std::string>> names = r_.Strings(value, path, false);
  if (!names) return;
  for (const std::string& name : *names) {
    bool defined = false;
    for (const Registry& registry : registries_) defined |= registry.name == name;
    if (!defined) {
      r_.Error(value, absl::StrCat(path, ": ", Quoted(name),
                                   " is not defined in the top-level registries"));
      return;
    }
  }
  entry_.registries = *std::move(names);
}

void EntryReader::Schedule(const YAML::Node& value, const std::string& path) {
  saw_schedule_ = true;
  if (!r_.IsMap(value, path)) return;
  npm::Schedule schedule;
  bool ok = true, has_interval = false;
  std::optional<YAML::Node> day;  // a copy: Pairs() returns a temporary
  for (const auto& [k, v] : r_.Pairs(value)) {
    const std::string& key = k.Scalar();
    const std::string key_path = absl::StrCat(path, ".", key);
    std::optional<std::string> text;
    if (key == "interval") {
      std::optional<ScheduleInterval> interval = r_.Enum(v, key_path, kIntervals);
      has_interval = interval.has_value();
      ok &= has_interval;
      schedule.interval = interval.value_or(schedule.interval);
    } else if (key == "day") {
      std::optional<int> weekday = r_.Enum(v, key_path, kDays);
      ok &= weekday.has_value();
      if (weekday) schedule.day = v.Scalar();
      day = v;
    } else if (key == "time" || key == "timezone" || key == "cronjob") {
      text = r_.String(v, key_path, 256);
      bool valid = text && (key == "time"       ? ValidTime(*text)
                            : key == "timezone" ? ValidTimezone(*text)
                                                : ValidCronjob(*text));
      if (text && !valid) {
        r_.Error(v, absl::StrCat(key_path, ": ", Quoted(*text),
                                 key == "time"       ? " is not a time hh:mm"
                                 : key == "timezone" ? " is not an IANA time zone"
                                                     : " is neither five cron fields nor "
                                                       "Dependabot's \"every ...\" form"));
      }
      ok &= valid;
      if (valid) {
        (key == "time"       ? schedule.time
         : key == "timezone" ? schedule.timezone
                             : schedule.cronjob) = *text;
      }
    } else {
      r_.UnknownKey(k, path);
    }
  }
  if (!has_interval && ok) r_.Error(value, path + ": needs interval");
  if (has_interval && schedule.interval == ScheduleInterval::kCron && schedule.cronjob.empty() &&
      ok) {
    r_.Error(value, path + ": interval cron needs cronjob");
    ok = false;
  }
  if (day.has_value() && has_interval && schedule.interval != ScheduleInterval::kWeekly) {
    r_.Warn(*day, path + ".day is used only with interval: weekly");
  }
  if (ok && has_interval) entry_.schedule = schedule;
}

void EntryReader::Node(const YAML::Node& value, const std::string& path) {
  std::optional<std::string> range = r_.String(value, path, 256);
  if (range && (range->empty() || !ValidRange(*range, Options{.loose = true}))) {
    r_.Error(value, absl::StrCat(path, ": ", Quoted(*range),
                                 " is not a node version or range (\"22\", \">=20 <23\")"));
  } else if (range) {
    entry_.node = *range;
  }
}

std::optional<std::vector<std::string>> EntryReader::Commands(const YAML::Node& value,
                                                              const std::string& path) {
  if (!value.IsScalar()) return r_.Strings(value, path, false);
  std::optional<std::string> command = r_.String(value, path);
  if (command && command->empty()) {
    r_.Error(value, path + ": an empty command");
    return std::nullopt;
  }
  if (!command) return std::nullopt;
  return std::vector<std::string>{*command};
}

void EntryReader::Test(const YAML::Node& value, const std::string& path) {
  if (auto commands = Commands(value, path)) entry_.test = *std::move(commands);
}

void EntryReader::Build(const YAML::Node& value, const std::string& path) {
  if (auto commands = Commands(value, path)) entry_.build = *std::move(commands);
}

}  // namespace

void ReadEntry(PolicyReader& r, PolicyFormat format, const std::string& where, bool nested,
               const std::vector<Registry>& registries, const std::vector<Pair>& pairs,
               const YAML::Node& at, PolicyEntry& entry) {
  EntryReader(r, format, where, nested, registries, entry).Read(pairs, at);
}

}  // namespace ovvoc::agent::npm::internal
