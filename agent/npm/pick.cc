#include "agent/npm/pick.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/npm/semver.h"
#include "agent/npm/spec.h"

namespace ovvoc::agent::npm {
namespace {

constexpr Options kLoose{.loose = true};
constexpr Options kIncludePrerelease{.include_prerelease = true};

bool EngineSatisfied(const EngineRequirement& engine, const std::string& current,
                     RangeCache* ranges) {
  if (current.empty() || engine.kind == EngineRequirement::Kind::kNone) return true;
  if (engine.kind == EngineRequirement::Kind::kInvalid) return false;
  // npm's satisfies() throwing makes checkEngine throw too: false.
  return SatisfiesWith(ranges, current, engine.range, kIncludePrerelease);
}

absl::Status NoMatch(const Packument& packument, absl::string_view wanted,
                     const PickOptions& options) {
  std::string message = absl::StrCat("No matching version found for ", packument.name, "@", wanted);
  if (options.before) {
    absl::StrAppend(&message, " with a date before ",
                    absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", *options.before, absl::UTCTimeZone()));
  }
  return absl::NotFoundError(absl::StrCat(message, "."));
}

}  // namespace

bool EngineOk(const PackumentVersion& version, const PickOptions& options) {
  auto compute = [&] {
    return EngineSatisfied(version.node, options.node_version, options.ranges) &&
           EngineSatisfied(version.npm, options.npm_version, options.ranges);
  };
  return options.ranges != nullptr ? options.ranges->Remember(&version, compute) : compute();
}

bool PublishedBefore(const Packument& packument, const PackumentVersion& version,
                     std::optional<absl::Time> before) {
  if (!packument.has_time) return true;
  switch (version.published.kind) {
    case PublishTime::Kind::kAbsent:
      return true;
    case PublishTime::Kind::kInvalid:
      return false;  // NaN <= anything
    case PublishTime::Kind::kValid:
      return !before || version.published.time <= *before;
  }
  return true;
}

absl::StatusOr<const PackumentVersion*> PickManifest(const Packument& packument,
                                                     absl::string_view wanted,
                                                     const PickOptions& options) {
  const Spec spec = ClassifySpec(packument.name.empty() ? "x" : packument.name,
                                 wanted.empty() ? absl::string_view(options.default_tag) : wanted);
  if (!spec.registry()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Only tag, version, and range are supported, not ", wanted));
  }
  // `before` only counts where the packument has times.
  const std::optional<absl::Time> before = packument.has_time ? options.before : std::nullopt;
  auto before_ok = [&](const PackumentVersion& v) {
    return PublishedBefore(packument, v, before);
  };

  if (!wanted.empty() && spec.kind == SpecKind::kTag) {
    auto tag = packument.dist_tags.find(std::string(wanted));
    if (tag == packument.dist_tags.end()) return NoMatch(packument, wanted, options);
    const PackumentVersion* version = packument.Find(tag->second);
    if (version == nullptr) return NoMatch(packument, wanted, options);
    if (before_ok(*version)) return version;
    return PickManifest(packument, absl::StrCat("<=", tag->second), options);
  }
  if (!wanted.empty() && spec.kind == SpecKind::kVersion) {
    std::optional<std::string> clean = Clean(wanted, kLoose);
    const PackumentVersion* version = clean ? packument.Find(*clean) : nullptr;
    if (version == nullptr || !before_ok(*version)) return NoMatch(packument, wanted, options);
    return version;
  }

  const absl::string_view range = spec.kind == SpecKind::kRange ? wanted : "*";
  if (const PackumentVersion* tagged = packument.Tagged(options.default_tag)) {
    if ((range == "*" || SatisfiesWith(options.ranges, tagged->version, range, kLoose)) && before_ok(*tagged) &&
        EngineOk(*tagged, options) && !tagged->deprecated) {
      return tagged;
    }
  }

  // satisfies(v, range, { loose: true }) for every version: the range parsed once.
  const absl::StatusOr<Range> parsed_range = Range::Parse(range, kLoose);
  auto satisfies = [&](absl::string_view version) {
    if (!parsed_range.ok()) return false;
    auto ok = parsed_range->Test(version);
    return ok.ok() && *ok;
  };

  struct Candidate {
    const PackumentVersion* version;
    Version parsed;
    bool engine_ok;
  };
  std::vector<Candidate> candidates;
  bool any_before = false;
  for (const PackumentVersion& version : packument.versions) {
    if (!before_ok(version)) continue;
    any_before = true;
    if (!satisfies(version.version)) continue;
    auto parsed = ParseVersion(version.version, kLoose);
    if (!parsed.ok()) continue;  // satisfies() said yes, so this cannot happen
    candidates.push_back({&version, *std::move(parsed), EngineOk(version, options)});
  }
  if (!any_before) {
    return absl::FailedPreconditionError(
        absl::StrCat("No versions available for ", packument.name));
  }
  // npm's sort: not deprecated and engine-compatible, then engine-compatible, then not
  // deprecated, then the highest version. Stable, as Array.prototype.sort is.
  std::stable_sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    const bool good_a = !a.version->deprecated && a.engine_ok;
    const bool good_b = !b.version->deprecated && b.engine_ok;
    if (good_a != good_b) return good_a;
    if (a.engine_ok != b.engine_ok) return a.engine_ok;
    if (a.version->deprecated != b.version->deprecated) return !a.version->deprecated;
    return RCompare(a.parsed, b.parsed) < 0;
  });
  if (candidates.empty()) return NoMatch(packument, wanted, options);
  return candidates.front().version;
}

}  // namespace ovvoc::agent::npm
