#include "common/plan_text.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/inert.h"

namespace ovvoc {
namespace {

using ovvoc::v1::PlannedDependency;

std::string KindName(ovvoc::v1::DependencyKind kind) {
  switch (kind) {
    case ovvoc::v1::DEPENDENCY_KIND_DEV:
      return "dev";
    case ovvoc::v1::DEPENDENCY_KIND_OPTIONAL:
      return "optional";
    case ovvoc::v1::DEPENDENCY_KIND_PEER:
      return "peer";
    default:
      return "prod";
  }
}

absl::string_view UpdateWord(ovvoc::v1::UpdateType type) {
  switch (type) {
    case ovvoc::v1::UPDATE_TYPE_MAJOR:
      return "major";
    case ovvoc::v1::UPDATE_TYPE_MINOR:
      return "minor";
    case ovvoc::v1::UPDATE_TYPE_PATCH:
      return "patch";
    default:
      return "?";
  }
}

}  // namespace

absl::string_view PlanDecisionName(ovvoc::v1::PlanDecision decision) {
  switch (decision) {
    case ovvoc::v1::PLAN_DECISION_UPDATE:
      return "update";
    case ovvoc::v1::PLAN_DECISION_UP_TO_DATE:
      return "up to date";
    case ovvoc::v1::PLAN_DECISION_HELD:
      return "held";
    case ovvoc::v1::PLAN_DECISION_SKIPPED:
      return "skipped";
    case ovvoc::v1::PLAN_DECISION_ERROR:
      return "error";
    default:
      return "?";
  }
}

std::string DescribePlan(const ovvoc::v1::Plan& plan) {
  std::vector<std::vector<std::string>> rows = {
      {"Package", "Current", "Wanted", "Latest", "Location", "Decision"}};
  for (const PlannedDependency& d : plan.dependencies()) {
    std::string decision(PlanDecisionName(d.decision()));
    if (d.decision() == ovvoc::v1::PLAN_DECISION_UPDATE) {
      absl::StrAppend(&decision, " -> ", d.target());
      if (d.new_spec() != d.spec()) absl::StrAppend(&decision, " (", d.spec(), " -> ", d.new_spec(), ")");
      if (d.update_type() != ovvoc::v1::UPDATE_TYPE_UNSPECIFIED) {
        absl::StrAppend(&decision, " ", UpdateWord(d.update_type()));
      }
    }
    if (!d.reason().empty()) absl::StrAppend(&decision, ": ", d.reason());
    std::string location = d.manifest_path();
    if (d.kind() != ovvoc::v1::DEPENDENCY_KIND_PROD) absl::StrAppend(&location, " (", KindName(d.kind()), ")");
    auto cell = [](const std::string& text) { return text.empty() ? "-" : InertLine(text, 80); };
    rows.push_back({InertLine(d.name(), 80), cell(d.current()), cell(d.wanted()),
                    cell(d.latest()), InertLine(location, 200), InertLine(decision, 400)});
  }
  std::vector<size_t> width(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i + 1 < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&out, row[i]);
      if (i + 1 < row.size()) out.append(width[i] - row[i].size() + 2, ' ');
    }
    out += '\n';
  }
  for (const PlannedDependency& d : plan.dependencies()) {
    // Versions not taken; a dependency that got its newest version needs no excuses.
    if (d.passed_over_size() == 0 || d.passed_over(0).version().empty()) continue;
    absl::StrAppend(&out, "\n", InertLine(d.name(), 80), " (", InertLine(d.manifest_path(), 200),
                    "), not taken:\n");
    for (const auto& c : d.passed_over()) {
      absl::StrAppend(&out, "  ", c.version().empty() ? "" : absl::StrCat(InertLine(c.version(), 80), ": "),
                      InertLine(c.reason(), 300), "\n");
    }
  }
  if (plan.proposals_size() > 0) {
    absl::StrAppend(&out, "\nProposals, in update order:\n");
    int n = 0;
    for (const auto& p : plan.proposals()) {
      std::vector<std::string> what;
      for (uint32_t i : p.dependencies()) {
        if (i >= static_cast<uint32_t>(plan.dependencies_size())) continue;  // dropped in storage
        const PlannedDependency& d = plan.dependencies(i);
        what.push_back(absl::StrCat(InertLine(d.name(), 80), " ",
                                    d.current().empty() ? "" : InertLine(d.current(), 80) + " -> ",
                                    InertLine(d.target(), 80)));
      }
      absl::StrAppend(&out, "  ", ++n, ". ", p.group().empty() ? "" : absl::StrCat("group ", InertLine(p.group(), 80), ": "),
                      absl::StrJoin(what, ", "), " [", UpdateWord(p.update_type()), "]",
                      p.deferred() ? " (deferred: open-pull-requests-limit)" : "", "\n");
    }
  } else {
    absl::StrAppend(&out, "\nNo updates to propose.\n");
  }
  if (plan.problems_size() > 0) {
    absl::StrAppend(&out, "\nProblems:\n");
    for (const auto& p : plan.problems()) {
      absl::StrAppend(&out, "  ", InertLine(p.subject(), 200), ": ", InertLine(p.message(), 500), "\n");
    }
  }
  return out;
}

}  // namespace ovvoc
