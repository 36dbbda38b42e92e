// Fuzz harness for registry packuments and the decision made from them (agent/npm/packument.h,
// pick.h, plan.h): arbitrary bytes as the packument of the one dependency of a small project,
// planned under Ovvoc's default policy. Besides "no crash, no UB", it checks what those headers
// promise: a parsed packument's index agrees with its versions; whatever npm's picker returns
// is a version of the packument that satisfies the spec; a proposed target is newer than the
// current version, satisfies the new spec, is not deprecated, not past `latest`, and older than
// the cooldown; passed-over lists are bounded; the plan as text is inert.
// Built as a libFuzzer target with OVVOC_BUILD_FUZZERS (clang), and into packument_fuzz_smoke,
// which runs it over corpus/packument plus deterministic mutations in every build.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/npm/packument.h"
#include "agent/npm/pick.h"
#include "agent/npm/plan.h"
#include "agent/npm/policy.h"
#include "agent/npm/project.h"
#include "agent/npm/semver.h"
#include "common/inert.h"
#include "common/plan_text.h"

namespace ovvoc::agent::npm {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

class OneSource final : public PackumentSource {
 public:
  explicit OneSource(absl::string_view json) : json_(json) {}
  std::vector<Fetched> Fetch(const std::vector<std::string>& names) override {
    std::vector<Fetched> out(names.size());
    for (Fetched& f : out) {
      f.registry = "https://registry.example/";
      f.packument = ParsePackument(json_);
    }
    return out;
  }

 private:
  absl::string_view json_;
};

bool Satisfied(absl::string_view version, absl::string_view range) {
  auto ok = Satisfies(version, range, Options{.loose = true});
  return ok.ok() && *ok;
}

void FuzzOne(absl::string_view json) {
  absl::StatusOr<Packument> packument = ParsePackument(json);
  if (!packument.ok()) return;
  Check(packument->index.size() == packument->versions.size(), "index size");
  for (size_t i = 0; i < packument->versions.size(); ++i) {
    Check(packument->Find(packument->versions[i].version) == &packument->versions[i], "index");
    Check(packument->versions[i].deprecation.size() <= kMaxDeprecationMessage, "deprecation");
  }
  const PickOptions options{.node_version = "v24.1.0", .npm_version = "11.6.0"};
  for (const char* spec : {"*", "^1.0.0", "~1.2.0", ">=0.0.0-0", "latest", "1.0.0", ""}) {
    absl::StatusOr<const PackumentVersion*> picked = PickManifest(*packument, spec, options);
    if (!picked.ok()) continue;
    Check(packument->Find((*picked)->version) == *picked, "picked from the packument");
    // "*" and "" (any version) take the latest tag even when it is a prerelease, as npm does.
    const Spec classified = ClassifySpec("dep", spec);
    if (classified.kind == SpecKind::kRange && !classified.fetch_spec.empty() &&
        classified.fetch_spec != "*") {
      Check(Satisfied((*picked)->version, spec), "picked satisfies the range");
    }
  }

  // The decision, for a project on 1.0.0 under the default policy.
  Project project;
  project.root = ParsePackageJson(R"({"dependencies": {"dep": "^1.0.0"}})", "",
                                  project.diagnostics);
  project.root.dependencies[0].installed_version = "1.0.0";
  OneSource source(json);
  const Policy policy = DefaultPolicy();
  const ovvoc::v1::Plan plan = MakePlan(
      project, policy, source, PlanOptions{.now = kNow, .node_version = "v24.1.0", .npm_version = "11.6.0"});
  Check(plan.dependencies_size() == 1, "one row");
  const ovvoc::v1::PlannedDependency& row = plan.dependencies(0);
  Check(static_cast<size_t>(row.passed_over_size()) <= kMaxPassedOver + 2, "passed over bounded");
  if (row.decision() == ovvoc::v1::PLAN_DECISION_UPDATE) {
    const PackumentVersion* target = packument->Find(row.target());
    Check(target != nullptr, "target from the packument");
    Check(!target->deprecated, "never deprecated");
    auto target_version = ParseVersion(row.target(), Options{.loose = true});
    auto current = ParseVersion("1.0.0");
    Check(target_version.ok() && Compare(*target_version, *current) > 0, "newer than current");
    Check(Satisfied(row.target(), row.new_spec()), "the new spec allows the target");
    Check(target->published.kind == PublishTime::Kind::kValid &&
              target->published.time + absl::Hours(24 * kDefaultCooldownDays) <= kNow,
          "older than the cooldown");
    if (const PackumentVersion* latest = packument->Tagged("latest")) {
      auto latest_version = ParseVersion(latest->version, Options{.loose = true});
      if (latest_version.ok() && Compare(*current, *latest_version) <= 0) {
        Check(Compare(*target_version, *latest_version) <= 0, "not past latest");
      }
    }
  }
  const std::string text = DescribePlan(plan);
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    Check(InertLine(line, line.size() + 1) == line, "plan text inert");
  }
}

}  // namespace
}  // namespace ovvoc::agent::npm

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ovvoc::agent::npm::FuzzOne(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
