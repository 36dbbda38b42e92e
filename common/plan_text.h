// The update plan (ovvoc.v1.Plan, made by the agent's agent/npm/plan.h) for people: what
// `ovvoc-agent plan` prints and what `ovvoc-control-plane job show` prints of a job's plan.
// Every string of a plan came from a manifest or a registry: it is printed inert.
#ifndef OVVOC_COMMON_PLAN_TEXT_H_
#define OVVOC_COMMON_PLAN_TEXT_H_

#include <string>

#include "absl/strings/string_view.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc {

// A table like `npm outdated` (Package, Current, Wanted, Latest, Location) with the decision and
// its reason, then the versions not taken, the proposals in update order and the problems.
std::string DescribePlan(const ovvoc::v1::Plan& plan);

absl::string_view PlanDecisionName(ovvoc::v1::PlanDecision decision);  // "update", "held", ...

}  // namespace ovvoc

#endif  // OVVOC_COMMON_PLAN_TEXT_H_
