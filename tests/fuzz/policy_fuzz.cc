// Fuzz harness for the update policy (agent/npm/policy.h): arbitrary bytes as an .ovvoc.yml and
// as a .github/dependabot.yml, then the policy as people and programs see it (DescribePolicy,
// PolicyJson) and as the planner asks it (EntryFor, GlobMatch, Allows, IgnoreReason,
// CooldownDays, GroupOf). Besides "no crash, no UB, no exception", it checks what policy.h
// promises: there is always an entry, diagnostics are capped, every value kept is one the
// parser validated (normalised directories, days within bounds, npm ranges, known registries),
// the text for people is inert, the JSON for programs is valid JSON, and the planner's answers
// agree with the rules they come from.
// Built as a libFuzzer target with OVVOC_BUILD_FUZZERS (clang), and into policy_fuzz_smoke,
// which runs it over corpus/policy plus deterministic mutations in every build.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "agent/npm/policy.h"
#include "agent/npm/semver.h"
#include "common/inert.h"
#include "nlohmann/json.hpp"

namespace ovvoc::agent::npm {
namespace {

using ovvoc::v1::UpdateType;

constexpr UpdateType kUpdateTypes[] = {ovvoc::v1::UPDATE_TYPE_MAJOR, ovvoc::v1::UPDATE_TYPE_MINOR,
                                       ovvoc::v1::UPDATE_TYPE_PATCH};
constexpr ovvoc::v1::DependencyKind kKinds[] = {
    ovvoc::v1::DEPENDENCY_KIND_PROD, ovvoc::v1::DEPENDENCY_KIND_DEV,
    ovvoc::v1::DEPENDENCY_KIND_OPTIONAL, ovvoc::v1::DEPENDENCY_KIND_PEER};
// The planner's questions are asked with names and globs up to this long: Dependabot's glob is
// O(n*m) at worst, and names of real packages are at most 214 bytes.
constexpr size_t kMaxQueried = 256;
constexpr size_t kMaxEntriesQueried = 8;

[[noreturn]] void Broken(const char* invariant, absl::string_view input) {
  std::fprintf(stderr, "policy invariant broken: %s\ninput (%zu bytes):", invariant, input.size());
  for (unsigned char c : input) std::fprintf(stderr, " %02x", c);
  std::fprintf(stderr, "\n");
  std::abort();
}

#define OVVOC_FUZZ_CHECK(condition, input)       \
  do {                                           \
    if (!(condition)) Broken(#condition, input); \
  } while (false)

bool Inert(absl::string_view text) {
  return InertLine(text, std::numeric_limits<size_t>::max()) == text;
}

bool Printable(absl::string_view text) {
  return std::none_of(text.begin(), text.end(),
                      [](char c) { return static_cast<unsigned char>(c) < ' ' || c == 0x7f; });
}

bool NormalisedDirectory(absl::string_view d) {
  if (d.empty() || d[0] != '/' || (d.size() > 1 && d.back() == '/')) return false;
  if (absl::StrContains(d, "//") || absl::StrContains(d, '\0')) return false;
  for (absl::string_view segment : absl::StrSplit(d, '/')) {
    if (segment == ".." || segment == ".") return false;
  }
  return true;
}

void CheckDiagnostics(const Policy& p, absl::string_view file, absl::string_view input) {
  OVVOC_FUZZ_CHECK(p.diagnostics.size() <= kMaxPolicyDiagnostics + 1, input);
  bool errors = false;
  for (const Diagnostic& d : p.diagnostics) {
    OVVOC_FUZZ_CHECK(d.file == file && d.line >= 0 && d.column >= 0, input);
    OVVOC_FUZZ_CHECK(d.severity == Diagnostic::Severity::kError || d.column == 0, input);
    // File text in a message is made inert, and quoted in bounded pieces.
    OVVOC_FUZZ_CHECK(!d.message.empty() && d.message.size() <= 1024 && Inert(d.message), input);
    errors |= d.severity == Diagnostic::Severity::kError;
  }
  OVVOC_FUZZ_CHECK(p.HasErrors() == errors, input);
}

// Which dependencies an entry covers and how: directories, ignore, groups, cooldown.
void CheckRules(const PolicyEntry& e, absl::string_view input) {
  OVVOC_FUZZ_CHECK(!e.directories.empty(), input);
  for (const std::string& d : e.directories) OVVOC_FUZZ_CHECK(NormalisedDirectory(d), input);
  for (const IgnoreRule& rule : e.ignore) {
    for (const std::string& range : rule.versions) {
      OVVOC_FUZZ_CHECK(ValidRange(range, Options{.loose = true}).has_value(), input);
    }
  }
  for (const Group& g : e.groups) {
    OVVOC_FUZZ_CHECK(!g.name.empty() && g.name.size() <= 100 && Printable(g.name), input);
    OVVOC_FUZZ_CHECK(g.dependency_type == DependencyType::kAll ||
                         g.dependency_type == DependencyType::kProduction ||
                         g.dependency_type == DependencyType::kDevelopment,
                     input);
  }
  const Cooldown& c = e.cooldown;
  for (const std::optional<int>& days : {std::optional<int>(c.default_days), c.semver_major_days,
                                         c.semver_minor_days, c.semver_patch_days}) {
    OVVOC_FUZZ_CHECK(!days || (*days >= 0 && *days <= kMaxCooldownDays), input);
  }
  OVVOC_FUZZ_CHECK(c.include.size() <= 150 && c.exclude.size() <= 150, input);
}

// What an entry's pull requests and jobs look like.
void CheckSettings(const Policy& p, const PolicyEntry& e, PolicyFormat format,
                   absl::string_view input) {
  OVVOC_FUZZ_CHECK(e.open_pull_requests_limit >= 0, input);
  OVVOC_FUZZ_CHECK(e.commit_message.prefix.size() <= 50, input);
  OVVOC_FUZZ_CHECK(e.commit_message.prefix_development.size() <= 50, input);
  if (e.labels) {
    for (const std::string& label : *e.labels) OVVOC_FUZZ_CHECK(!label.empty(), input);
  }
  // The branch name reaches git commands.
  OVVOC_FUZZ_CHECK(Printable(e.target_branch) && !absl::StrContains(e.target_branch, ' ') &&
                       !absl::StartsWith(e.target_branch, "-"),
                   input);
  for (const std::string& name : e.registries) {
    OVVOC_FUZZ_CHECK(name == "*" || std::any_of(p.registries.begin(), p.registries.end(),
                                                [&](const Registry& r) { return r.name == name; }),
                     input);
  }
  if (e.schedule && e.schedule->interval == ScheduleInterval::kCron) {
    OVVOC_FUZZ_CHECK(!e.schedule->cronjob.empty(), input);
  }
  OVVOC_FUZZ_CHECK(e.node.empty() || ValidRange(e.node, Options{.loose = true}).has_value(), input);
  for (const std::vector<std::string>* commands : {&e.test, &e.build}) {
    for (const std::string& command : *commands) OVVOC_FUZZ_CHECK(!command.empty(), input);
  }
  if (format == PolicyFormat::kDependabot) {  // Ovvoc's own keys are unknown there
    OVVOC_FUZZ_CHECK(e.node.empty() && e.test.empty() && e.build.empty(), input);
  }
}

void CheckPolicy(const Policy& p, absl::string_view file, PolicyFormat format,
                 absl::string_view input) {
  OVVOC_FUZZ_CHECK(!p.entries.empty(), input);
  OVVOC_FUZZ_CHECK(p.file == file, input);
  if (format == PolicyFormat::kOvvoc) {
    OVVOC_FUZZ_CHECK(p.source == PolicySource::kOvvocFile, input);
  } else {
    OVVOC_FUZZ_CHECK(p.source == PolicySource::kDependabotFile ||
                         (p.source == PolicySource::kDefaults && p.entries.size() == 1),
                     input);
  }
  CheckDiagnostics(p, file, input);
  for (const PolicyEntry& e : p.entries) {
    CheckRules(e, input);
    CheckSettings(p, e, format, input);
  }
  for (const Registry& r : p.registries) {
    OVVOC_FUZZ_CHECK(!r.url.empty(), input);
    if (format == PolicyFormat::kOvvoc) OVVOC_FUZZ_CHECK(r.type == "npm-registry", input);
    if (format == PolicyFormat::kDependabot) OVVOC_FUZZ_CHECK(r.token_name.empty(), input);
  }
}

// DescribePolicy is for terminals: every line inert. PolicyJson is for programs: valid JSON
// that says what the policy holds.
void CheckText(const Policy& p, absl::string_view input) {
  const std::string text = DescribePolicy(p);
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    OVVOC_FUZZ_CHECK(Inert(line), input);
  }
  const nlohmann::json json = nlohmann::json::parse(PolicyJson(p), nullptr, false);
  OVVOC_FUZZ_CHECK(!json.is_discarded() && json.is_object(), input);
  OVVOC_FUZZ_CHECK(json["source"] == std::string(PolicySourceName(p.source)), input);
  OVVOC_FUZZ_CHECK(json["entries"].size() == p.entries.size(), input);
  OVVOC_FUZZ_CHECK(json["registries"].size() == p.registries.size(), input);
  OVVOC_FUZZ_CHECK(json["diagnostics"].size() == p.diagnostics.size(), input);
  OVVOC_FUZZ_CHECK(json["errors"] == p.HasErrors(), input);
}

// The names and globs the rules of `e` are written with, short enough to ask about.
std::vector<std::string> NamesIn(const PolicyEntry& e) {
  std::vector<std::string> names;
  auto add = [&names](const std::string& name) {
    if (name.size() <= kMaxQueried && names.size() < 32) names.push_back(name);
  };
  for (const AllowRule& rule : e.allow) add(rule.dependency_name);
  for (const IgnoreRule& rule : e.ignore) add(rule.dependency_name);
  for (const Group& g : e.groups) {
    for (const std::string& pattern : g.patterns) add(pattern);
    for (const std::string& pattern : g.exclude_patterns) add(pattern);
  }
  for (const std::string& glob : e.cooldown.include) add(glob);
  for (const std::string& glob : e.cooldown.exclude) add(glob);
  return names;
}

bool AnyGlob(const std::vector<std::string>& globs, absl::string_view name) {
  return std::any_of(globs.begin(), globs.end(),
                     [&](const std::string& glob) { return GlobMatch(glob, name); });
}

void CheckGlob(absl::string_view name, absl::string_view input) {
  // `*` is any run of characters, itself included; case is ignored.
  OVVOC_FUZZ_CHECK(GlobMatch(name, name) && GlobMatch("*", name), input);
  OVVOC_FUZZ_CHECK(GlobMatch(name, absl::AsciiStrToUpper(name)), input);
  OVVOC_FUZZ_CHECK(GlobMatch(absl::StrCat(name, "*"), absl::StrCat(name, "-x")), input);
}

void CheckAnswers(const PolicyEntry& e, absl::string_view name, absl::string_view input) {
  for (UpdateType type : kUpdateTypes) {
    for (absl::string_view version : {"1.0.0", "10.0.0-rc.1"}) {
      std::optional<std::string> reason = IgnoreReason(e, name, version, type);
      OVVOC_FUZZ_CHECK(!reason || absl::StartsWith(*reason, "ignored by "), input);
    }
    const int days = CooldownDays(e, name, type);
    OVVOC_FUZZ_CHECK(days >= 0 && days <= kMaxCooldownDays, input);
    if (AnyGlob(e.cooldown.exclude, name)) OVVOC_FUZZ_CHECK(days == 0, input);
    for (bool security : {false, true}) {
      for (ovvoc::v1::DependencyKind kind : kKinds) {
        const Group* g = GroupOf(e, name, kind, type, security);
        if (g == nullptr) continue;
        OVVOC_FUZZ_CHECK(g >= e.groups.data() && g < e.groups.data() + e.groups.size(), input);
        OVVOC_FUZZ_CHECK((g->applies_to == AppliesTo::kSecurityUpdates) == security, input);
        OVVOC_FUZZ_CHECK(!AnyGlob(g->exclude_patterns, name), input);
      }
    }
  }
  for (ovvoc::v1::DependencyKind kind : kKinds) {
    (void)Allows(e, name, kind, true);
    (void)Allows(e, name, kind, false);
  }
}

void CheckQueries(const Policy& p, absl::string_view input) {
  // Every directory an entry names literally has an entry: that one or an earlier one.
  for (size_t i = 0; i < p.entries.size() && i < kMaxEntriesQueried; ++i) {
    for (const std::string& d : p.entries[i].directories) {
      if (d.size() > kMaxQueried) continue;
      const PolicyEntry* entry = EntryFor(p, d);
      if (absl::StrContains(d, '*')) {
        OVVOC_FUZZ_CHECK(entry == nullptr || entry >= p.entries.data(), input);
      } else {
        OVVOC_FUZZ_CHECK(
            entry != nullptr && entry >= p.entries.data() && entry <= p.entries.data() + i, input);
      }
    }
  }
  for (absl::string_view d : {"", "../x", "a/../../b"}) {
    OVVOC_FUZZ_CHECK(EntryFor(p, d) == nullptr, input);
  }
  for (absl::string_view d : {"/", ".", "packages/web", "/apps/a/b/"}) {
    const PolicyEntry* entry = EntryFor(p, d);
    OVVOC_FUZZ_CHECK(entry == nullptr ||
                         (entry >= p.entries.data() && entry < p.entries.data() + p.entries.size()),
                     input);
  }

  const absl::string_view first_line = input.substr(0, std::min(input.find('\n'), kMaxQueried));
  for (size_t i = 0; i < p.entries.size() && i < kMaxEntriesQueried; ++i) {
    const PolicyEntry& e = p.entries[i];
    std::vector<std::string> names = NamesIn(e);
    for (const char* name : {"lodash", "@types/node", "eslint-plugin-react", "React", ""}) {
      names.push_back(name);
    }
    names.emplace_back(first_line);
    for (const std::string& name : names) {
      CheckGlob(name, input);
      CheckAnswers(e, name, input);
    }
    // A rule with neither versions nor update types ignores every version of what it names.
    for (const IgnoreRule& rule : e.ignore) {
      if (rule.dependency_name.size() > kMaxQueried) continue;
      if (rule.versions.empty() && rule.update_types.empty()) {
        OVVOC_FUZZ_CHECK(
            IgnoreReason(e, rule.dependency_name, "1.2.3", ovvoc::v1::UPDATE_TYPE_PATCH), input);
      }
    }
  }
}

void FuzzOne(absl::string_view input) {
  for (PolicyFormat format : {PolicyFormat::kOvvoc, PolicyFormat::kDependabot}) {
    const absl::string_view file =
        format == PolicyFormat::kOvvoc ? ".ovvoc.yml" : ".github/dependabot.yml";
    const Policy p = ParsePolicy(input, file, format);
    CheckPolicy(p, file, format, input);
    CheckText(p, input);
    CheckQueries(p, input);
  }
}

}  // namespace
}  // namespace ovvoc::agent::npm

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ovvoc::agent::npm::FuzzOne(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
