#include "agent/npm/policy.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/npm/internal/policy_reader.h"
#include "agent/npm/semver.h"
#include "agent/workspace/beneath.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace ovvoc::agent::npm {
namespace {

using ovvoc::v1::UpdateType;

// `*` is any run of characters; everything else matches itself (ASCII case folded when asked).
// Greedy with one backtrack point, so linear in practice and O(n*m) at worst.
bool Wildcard(absl::string_view pattern, absl::string_view text, bool fold_case) {
  auto same = [fold_case](char a, char b) {
    return fold_case ? absl::ascii_tolower(a) == absl::ascii_tolower(b) : a == b;
  };
  size_t p = 0, t = 0, star = absl::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && same(pattern[p], text[t])) {
      ++p;
      ++t;
    } else if (star != absl::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// A `directories` glob against a normalised directory: `*` within one segment, `**` any number
// of segments. Dynamic programming over segments: no blow-up however many `**` there are.
bool DirectoryMatch(absl::string_view glob, absl::string_view directory) {
  std::vector<absl::string_view> pat = absl::StrSplit(glob, '/', absl::SkipEmpty());
  std::vector<absl::string_view> dir = absl::StrSplit(directory, '/', absl::SkipEmpty());
  // rest[j]: pat[i..] matches dir[j..], for the current i, walking i down.
  std::vector<char> rest(dir.size() + 1, 0), next(dir.size() + 1, 0);
  rest[dir.size()] = 1;
  for (size_t i = pat.size(); i-- > 0;) {
    for (size_t j = dir.size() + 1; j-- > 0;) {
      if (pat[i] == "**") {
        next[j] = rest[j] || (j < dir.size() && next[j + 1]);
      } else {
        next[j] = j < dir.size() && Wildcard(pat[i], dir[j], false) && rest[j + 1];
      }
    }
    std::swap(rest, next);
  }
  return rest[0] != 0;
}

bool TypeMatches(DependencyType type, ovvoc::v1::DependencyKind kind, bool direct) {
  switch (type) {
    case DependencyType::kAll:
      return true;
    case DependencyType::kDirect:
      return direct;
    case DependencyType::kIndirect:
      return !direct;
    case DependencyType::kProduction:
      return direct && IsProduction(kind);
    case DependencyType::kDevelopment:
      return direct && !IsProduction(kind);
  }
  return false;
}

bool AnyGlob(const std::vector<std::string>& globs, absl::string_view name) {
  return std::any_of(globs.begin(), globs.end(),
                     [name](const std::string& glob) { return GlobMatch(glob, name); });
}

// `--policy FILE`: the operator's own file, still bounded and never a FIFO or a device.
absl::StatusOr<std::string> ReadOperatorFile(const std::string& path) {
  std::error_code ec;
  std::filesystem::file_status status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    return absl::NotFoundError(absl::StrCat("--policy ", path, ": no such file"));
  }
  if (!std::filesystem::is_regular_file(status)) {
    return absl::FailedPreconditionError(absl::StrCat("--policy ", path, ": not a regular file"));
  }
  if (std::filesystem::file_size(path, ec) > kMaxPolicyBytes || ec) {
    return absl::ResourceExhaustedError(
        absl::StrCat("--policy ", path, ": larger than ", kMaxPolicyBytes, " bytes"));
  }
  return files::ReadFile(path);
}

}  // namespace

std::string SourceLine::ToString() const {
  if (file.empty()) return "Ovvoc's defaults";
  return line > 0 ? absl::StrCat(file, ":", line) : file;
}

std::string Diagnostic::ToString() const {
  std::string where = file;
  if (line > 0) absl::StrAppend(&where, ":", line);
  if (line > 0 && column > 0) absl::StrAppend(&where, ":", column);
  return absl::StrCat(where, ": ", message);
}

bool Policy::HasErrors() const {
  return std::any_of(diagnostics.begin(), diagnostics.end(), [](const Diagnostic& d) {
    return d.severity == Diagnostic::Severity::kError;
  });
}

Policy DefaultPolicy() {
  Policy policy;
  policy.entries.emplace_back();
  return policy;
}

absl::StatusOr<Policy> LoadPolicy(const std::string& root, const PolicyOptions& options) {
  if (!options.policy_file.empty()) {
    OVVOC_ASSIGN_OR_RETURN(std::string text, ReadOperatorFile(options.policy_file));
    const std::string name = std::filesystem::path(options.policy_file).filename().string();
    const bool dependabot = name == "dependabot.yml" || name == "dependabot.yaml";
    Policy policy = ParsePolicy(text, options.policy_file,
                                dependabot ? PolicyFormat::kDependabot : PolicyFormat::kOvvoc);
    if (policy.source != PolicySource::kDefaults) policy.source = PolicySource::kPolicyFlag;
    return policy;
  }
  struct Candidate {
    const char* path;
    PolicyFormat format;
  };
  static constexpr Candidate kCandidates[] = {
      {".ovvoc.yml", PolicyFormat::kOvvoc},
      {".ovvoc.yaml", PolicyFormat::kOvvoc},
      {".github/dependabot.yml", PolicyFormat::kDependabot},
      {".github/dependabot.yaml", PolicyFormat::kDependabot},
  };
  for (const Candidate& candidate : kCandidates) {
    absl::StatusOr<std::string> text = ReadFileBeneath(root, candidate.path, kMaxPolicyBytes);
    if (absl::IsNotFound(text.status())) continue;
    if (!text.ok()) {
      // Present but not readable as a plain file: the defaults, and an error to say why.
      Policy policy = DefaultPolicy();
      policy.diagnostics.push_back(Diagnostic{Diagnostic::Severity::kError, candidate.path, 0, 0,
                                              absl::StrCat("not read: ", text.status().message())});
      return policy;
    }
    return ParsePolicy(*text, candidate.path, candidate.format);
  }
  return DefaultPolicy();
}

const PolicyEntry* EntryFor(const Policy& policy, absl::string_view directory) {
  std::optional<std::string> dir = internal::NormalizeDirectory(directory);
  if (!dir) return nullptr;
  for (const PolicyEntry& entry : policy.entries) {
    for (const std::string& glob : entry.directories) {
      if (glob == *dir || (glob.find('*') != std::string::npos && DirectoryMatch(glob, *dir))) {
        return &entry;
      }
    }
  }
  return nullptr;
}

bool GlobMatch(absl::string_view pattern, absl::string_view name) {
  return Wildcard(pattern, name, /*fold_case=*/true);
}

bool IsProduction(ovvoc::v1::DependencyKind kind) {
  return kind != ovvoc::v1::DEPENDENCY_KIND_DEV && kind != ovvoc::v1::DEPENDENCY_KIND_PEER;
}

bool Allows(const PolicyEntry& entry, absl::string_view name, ovvoc::v1::DependencyKind kind,
            bool direct) {
  if (entry.allow.empty()) return direct;
  return std::any_of(entry.allow.begin(), entry.allow.end(), [&](const AllowRule& rule) {
    return TypeMatches(rule.dependency_type, kind, direct) && GlobMatch(rule.dependency_name, name);
  });
}

std::optional<std::string> IgnoreReason(const PolicyEntry& entry, absl::string_view name,
                                        absl::string_view version, UpdateType type,
                                        RangeCache* ranges) {
  const Options loose_prerelease{.loose = true, .include_prerelease = true};
  for (const IgnoreRule& rule : entry.ignore) {
    if (!GlobMatch(rule.dependency_name, name)) continue;
    const std::string by =
        absl::StrCat("ignored by ", rule.where.ToString(), ": \"", rule.dependency_name, "\"");
    if (rule.versions.empty() && rule.update_types.empty()) {
      return absl::StrCat(by, " (every version)");
    }
    for (const std::string& range : rule.versions) {
      if (SatisfiesWith(ranges, version, range, loose_prerelease)) {
        return absl::StrCat(by, " versions ", range);
      }
    }
    if (std::find(rule.update_types.begin(), rule.update_types.end(), type) !=
        rule.update_types.end()) {
      return absl::StrCat(by, " version-update:semver-", UpdateTypeName(type));
    }
  }
  return std::nullopt;
}

int CooldownDays(const PolicyEntry& entry, absl::string_view name, UpdateType type) {
  const Cooldown& c = entry.cooldown;
  if (AnyGlob(c.exclude, name)) return 0;
  if (!c.include.empty() && !AnyGlob(c.include, name)) return 0;
  switch (type) {
    case ovvoc::v1::UPDATE_TYPE_MAJOR:
      return c.semver_major_days.value_or(c.default_days);
    case ovvoc::v1::UPDATE_TYPE_MINOR:
      return c.semver_minor_days.value_or(c.default_days);
    case ovvoc::v1::UPDATE_TYPE_PATCH:
      return c.semver_patch_days.value_or(c.default_days);
    default:
      return c.default_days;
  }
}

const Group* GroupOf(const PolicyEntry& entry, absl::string_view name,
                     ovvoc::v1::DependencyKind kind, UpdateType type, bool security) {
  const AppliesTo applies = security ? AppliesTo::kSecurityUpdates : AppliesTo::kVersionUpdates;
  for (const Group& group : entry.groups) {
    if (group.applies_to != applies || AnyGlob(group.exclude_patterns, name)) continue;
    if (!group.patterns.empty() && !AnyGlob(group.patterns, name)) continue;
    if (!TypeMatches(group.dependency_type, kind, /*direct=*/true)) continue;
    if (!group.update_types.empty() &&
        std::find(group.update_types.begin(), group.update_types.end(), type) ==
            group.update_types.end()) {
      continue;
    }
    return &group;
  }
  return nullptr;
}

}  // namespace ovvoc::agent::npm
