#include "agent/pipeline/proposals.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "agent/pipeline/baseline_memo.h"
#include "agent/pipeline/confusion.h"
#include "agent/pipeline/plan_step.h"
#include "agent/pipeline/proposal_run.h"
#include "common/crypto.h"
#include "common/logging.h"

namespace ovvoc::agent {
namespace {

using ovvoc::v1::PlannedDependency;
using ovvoc::v1::ProposalResult;

// `out` as the proposal of `deps` in `group` and `manifest_dir`, before it runs.
void Describe(absl::string_view group, absl::string_view manifest_dir,
              const std::vector<const PlannedDependency*>& deps, ProposalResult& out) {
  out.Clear();
  out.set_group(std::string(group));
  out.set_manifest_dir(std::string(manifest_dir));
  for (const PlannedDependency* dependency : deps) {
    const PlannedDependency& d = *dependency;
    ovvoc::v1::PackageUpdate* u = out.add_updates();
    u->set_name(d.name());
    u->set_from_version(d.current());
    u->set_to_version(d.target());
    u->set_from_spec(d.spec());
    u->set_to_spec(d.new_spec().empty() ? d.spec() : d.new_spec());
    u->set_type(d.update_type());
    u->set_kind(d.kind());
    u->set_manifest_path(d.manifest_path());
    u->set_group(d.group());
  }
  out.set_branch(ProposalBranch(out));
}

std::vector<const PlannedDependency*> DependenciesOf(const ovvoc::v1::Plan& plan,
                                                     const ovvoc::v1::PlanProposal& proposal) {
  std::vector<const PlannedDependency*> deps;
  for (uint32_t i : proposal.dependencies()) {
    if (i < static_cast<uint32_t>(plan.dependencies_size())) {
      deps.push_back(&plan.dependencies(static_cast<int>(i)));
    }
  }
  return deps;
}

std::string Id(const PlannedDependency& d) { return absl::StrCat(d.name(), "@", d.target()); }

// Whether a failed proposal's failure could be one update's doing, which bisection can find:
// not a sandbox or time failure, nor a cancelled job.
bool Bisectable(const ProposalResult& p) {
  if (p.outcome() != ovvoc::v1::PROPOSAL_OUTCOME_FAILED || p.updates_size() < 2) return false;
  const std::string& c = p.failure().reason_class();
  return c == "resolve" || c == "lockfile" || c == "install" || c == "build" || c == "test" ||
         c == "egress" || c == "tampering";
}

// A failed group, bisected (issue 12): which of its updates break it. Each trial is a proposal
// of its own (a fresh container); halves are tried until each failing part is one update, so k
// culprits among n cost about 2k log2(n) trials. When two halves pass apart but fail together,
// the two together are the culprit: it takes both.
class Bisection {
 public:
  static constexpr int kMaxTrials = 16;

  Bisection(JobContext& job, const ProposalContext& context, const ProposalResult& group,
            std::string label)
      : job_(job), context_(context), group_(group), label_(std::move(label)) {}

  // The culprits among `deps` (which failed together), or nullopt when the job's time, its
  // cancellation or kMaxTrials stopped the search first.
  std::optional<std::vector<const PlannedDependency*>> Culprits(
      const std::vector<const PlannedDependency*>& deps) {
    std::vector<const PlannedDependency*> culprits;
    if (!Search(deps, culprits)) return std::nullopt;
    return culprits;
  }

  // A trial's result for exactly `deps`, if one ran.
  const ProposalResult* Tried(const std::vector<const PlannedDependency*>& deps) const {
    auto it = tried_.find(deps);
    return it == tried_.end() ? nullptr : &it->second;
  }

  int trials() const { return trials_; }

 private:
  bool Search(const std::vector<const PlannedDependency*>& failing,
              std::vector<const PlannedDependency*>& culprits) {
    if (failing.size() == 1) {
      culprits.push_back(failing.front());
      return true;
    }
    const auto middle = failing.begin() + static_cast<std::ptrdiff_t>(failing.size() / 2);
    const std::vector<const PlannedDependency*> a(failing.begin(), middle),
        b(middle, failing.end());
    const std::optional<bool> a_passes = Passes(a);
    if (!a_passes.has_value()) return false;
    const std::optional<bool> b_passes = Passes(b);
    if (!b_passes.has_value()) return false;
    if (*a_passes && *b_passes) {  // only together
      culprits.insert(culprits.end(), failing.begin(), failing.end());
      return true;
    }
    if (!*a_passes && !Search(a, culprits)) return false;
    return *b_passes || Search(b, culprits);
  }

  std::optional<bool> Passes(const std::vector<const PlannedDependency*>& deps) {
    if (job_.cancelled() || job_.Now() >= job_.deadline() || trials_ >= kMaxTrials) {
      return std::nullopt;
    }
    ++trials_;
    ProposalResult& trial = tried_[deps];
    Describe(group_.group(), group_.manifest_dir(), deps, trial);
    job_.SetProgress("proposals",
                     absl::StrCat("bisecting group ", group_.group(), ": trial ", trials_, ", ",
                                  deps.size(), " of ", group_.updates_size(), " updates"));
    RunProposal(job_, context_, deps, absl::StrCat(label_, "b", trials_), /*commit=*/false, trial);
    if (trial.outcome() == ovvoc::v1::PROPOSAL_OUTCOME_NOT_RUN) return std::nullopt;
    return trial.outcome() == ovvoc::v1::PROPOSAL_OUTCOME_PASSED;
  }

  JobContext& job_;
  const ProposalContext& context_;
  const ProposalResult& group_;
  const std::string label_;
  int trials_ = 0;
  std::map<std::vector<const PlannedDependency*>, ProposalResult> tried_;
};

std::string Title(const ProposalResult& p) {
  if (!p.group().empty()) {
    return absl::StrCat("group ", p.group(), " (", p.updates_size(), " updates)");
  }
  if (p.updates_size() == 0) return "(empty)";
  const ovvoc::v1::PackageUpdate& u = p.updates(0);
  return absl::StrCat(u.name(), " ", u.from_version(), " -> ", u.to_version());
}

class ProposalsPhase final : public Phase {
 public:
  ProposalsPhase(const SandboxSettings& settings, std::shared_ptr<SandboxSession> baseline)
      : settings_(settings), baseline_(std::move(baseline)) {}
  absl::string_view name() const override { return "proposals"; }

  absl::Status Run(JobContext& job) override {
    // The baseline's container has said what it had to: it goes before the first proposal's.
    baseline_->Teardown();
    const ovvoc::v1::Plan& plan = job.result().plan();
    ProposalContext context{&settings_, {}};
    std::vector<std::string> names;
    for (const PlannedDependency& d : plan.dependencies()) {
      if (d.decision() == ovvoc::v1::PLAN_DECISION_UPDATE) names.push_back(d.name());
    }
    context.uses = scoring::FindUses(job.repo_dir(), names, job.project().scripts);
    if (absl::StatusOr<std::vector<registry::RegistryEndpoint>> endpoints =
            JobEndpoints(job.spec(), settings_);
        endpoints.ok()) {
      for (const registry::RegistryEndpoint& e : *endpoints) {
        if (e.scope.empty()) context.public_registry = e;
      }
      context.private_registries = PrivateRegistries(*endpoints, settings_);
    }
    int total = 0;
    for (const ovvoc::v1::PlanProposal& p : plan.proposals()) total += p.deferred() ? 0 : 1;
    int index = 0;
    std::set<std::string> branches;
    // What each proposal came to, for the job's memo (baseline_memo.h).
    std::vector<ovvoc::v1::ProvenProposal> proven;
    for (const ovvoc::v1::PlanProposal& p : plan.proposals()) {
      if (p.deferred()) continue;
      ++index;
      const int first = job.result().proposals_size();
      ProposalResult& out = *job.result().add_proposals();
      const std::vector<const PlannedDependency*> deps = DependenciesOf(plan, p);
      Describe(p.group(), p.manifest_dir(), deps, out);
      const std::string title = Title(out);
      const std::string key = ProposalKey(job.memo().key, out);
      if (std::vector<ProposalResult> taken = TakeProvenProposal(job, key); !taken.empty()) {
        log::Info("job %s: proposal %d of %d: %s: nothing new since job %s proved it",
                  job.spec().job_id(), index, total, title, taken.front().proven_by_job());
        branches.insert(taken.front().branch());
        Remember(proven, key, taken.front().proven_by_job(), taken);
        out = std::move(taken.front());
        for (size_t i = 1; i < taken.size(); ++i)
          *job.result().add_proposals() = std::move(taken[i]);
        continue;
      }
      if (job.cancelled() || job.Now() >= job.deadline()) {
        out.set_outcome(ovvoc::v1::PROPOSAL_OUTCOME_NOT_RUN);
        out.mutable_failure()->set_reason(job.cancelled()
                                              ? "the job was cancelled"
                                              : "the job ran out of time before this proposal");
        continue;
      }
      job.SetProgress("proposals", absl::StrCat(index, " of ", total, ": ", title));
      log::Info("job %s: proposal %d of %d: %s", job.spec().job_id(), index, total, title);
      // Two proposals never share a branch, whatever their names map to.
      if (!branches.insert(out.branch()).second) {
        out.set_branch(absl::StrCat(out.branch(), "-", index));
        branches.insert(out.branch());
      }
      const std::string label = absl::StrCat("p", index);
      RunProposal(job, context, deps, label, /*commit=*/true, out);
      if (Bisectable(out)) Bisect(job, context, deps, out, label);
      // (`out` may have moved: Bisect adds a proposal after it.)
      const auto& made = job.result().proposals();
      Remember(proven, key, job.spec().job_id(), {made.begin() + first, made.end()});
      log::Info("job %s: proposal %d %s%s", job.spec().job_id(), index,
                out.outcome() == ovvoc::v1::PROPOSAL_OUTCOME_PASSED   ? "passed"
                : out.outcome() == ovvoc::v1::PROPOSAL_OUTCOME_FAILED ? "failed"
                                                                      : "not run",
                out.has_failure()
                    ? absl::StrCat(" in ", out.failure().phase(), ": ", out.failure().reason())
                    : "");
    }
    RememberProposals(job, std::move(proven));
    return absl::OkStatus();
  }

 private:
  static void Remember(std::vector<ovvoc::v1::ProvenProposal>& proven, const std::string& key,
                       const std::string& job_id, const std::vector<ProposalResult>& results) {
    ovvoc::v1::ProvenProposal& p = proven.emplace_back();
    p.set_key(key);
    p.set_job_id(job_id);
    for (const ProposalResult& result : results) *p.add_results() = result;
  }

  // `group` failed: find its culprits, keep the rest as the proposal (proven again as it will be
  // committed), and add a failed proposal of the culprits, named in its failure report.
  void Bisect(JobContext& job, const ProposalContext& context,
              const std::vector<const PlannedDependency*>& deps, ProposalResult& group,
              const std::string& label) {
    log::Info("job %s: group %s failed in %s: bisecting", job.spec().job_id(), group.group(),
              group.failure().phase());
    Bisection bisection(job, context, group, label);
    const std::optional<std::vector<const PlannedDependency*>> culprits = bisection.Culprits(deps);
    if (!culprits.has_value()) {
      absl::StrAppend(group.mutable_failure()->mutable_reason(), " (bisection stopped after ",
                      bisection.trials(), " trials: the job's time or trials ran out)");
      return;
    }
    std::vector<std::string> names;
    for (const PlannedDependency* d : *culprits) names.push_back(Id(*d));
    std::vector<const PlannedDependency*> rest;
    for (const PlannedDependency* d : deps) {
      if (std::find(culprits->begin(), culprits->end(), d) == culprits->end()) rest.push_back(d);
    }
    log::Info("job %s: group %s: %s break it", job.spec().job_id(), group.group(),
              absl::StrJoin(names, ", "));
    // The culprits' own failure, as their trial reported it; else the group's.
    ProposalResult failed;
    if (const ProposalResult* alone = bisection.Tried(*culprits); alone != nullptr) {
      failed = *alone;
    } else {
      failed = group;
      Describe(group.group(), group.manifest_dir(), *culprits, failed);
      *failed.mutable_failure() = group.failure();
      failed.set_outcome(ovvoc::v1::PROPOSAL_OUTCOME_FAILED);
    }
    ovvoc::v1::FailureReport* report = failed.mutable_failure();
    report->clear_culprits();
    for (const std::string& name : names) report->add_culprits(name);
    report->set_reason(absl::StrCat("left out of group ", group.group(), " (bisected in ",
                                    bisection.trials(), " trials): ", report->reason()));
    if (!rest.empty()) {
      ProposalResult kept;
      Describe(group.group(), group.manifest_dir(), rest, kept);
      RunProposal(job, context, rest, absl::StrCat(label, "k"), /*commit=*/true, kept);
      if (kept.outcome() == ovvoc::v1::PROPOSAL_OUTCOME_PASSED) {
        group = std::move(kept);
      } else {
        for (const std::string& name : names) group.mutable_failure()->add_culprits(name);
        absl::StrAppend(group.mutable_failure()->mutable_reason(), "; without ",
                        absl::StrJoin(names, ", "), " it still failed");
        return;
      }
    }
    if (rest.empty()) {
      for (const std::string& name : names) group.mutable_failure()->add_culprits(name);
      return;
    }
    *job.result().add_proposals() = std::move(failed);
  }

  const SandboxSettings& settings_;
  const std::shared_ptr<SandboxSession> baseline_;
};

// What git allows in a ref component, of a package name or version: "@types/node" -> "types/node".
std::string RefSafe(absl::string_view text) {
  std::string out;
  for (char c : text) {
    const bool ok = absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ||
                    c == '.' || c == '/';
    if (c == '@') continue;
    out.push_back(ok ? c : '-');
  }
  while (absl::StrContains(out, "..")) out = absl::StrReplaceAll(out, {{"..", "."}});
  while (absl::StrContains(out, "//")) out = absl::StrReplaceAll(out, {{"//", "/"}});
  // git refuses a component ending in ".lock" (red team, issue 12: "1.1.0-rc.lock").
  while (absl::StrContains(out, ".lock/")) out = absl::StrReplaceAll(out, {{".lock/", "-lock/"}});
  if (absl::EndsWith(out, ".lock")) out.replace(out.size() - 5, 5, "-lock");
  while (!out.empty() && (out.front() == '.' || out.front() == '/')) out.erase(0, 1);
  while (!out.empty() && (out.back() == '.' || out.back() == '/')) out.pop_back();
  return out;
}

}  // namespace

std::string ProposalBranch(const ProposalResult& proposal) {
  std::string branch = "ovvoc/npm/";
  // The directory of the manifests it changes, when they share one (a workspace member's: red
  // team, issue 12, where two members' updates of one package shared a branch), else the
  // policy entry's.
  std::string dir(absl::StripPrefix(proposal.manifest_dir(), "/"));
  std::optional<std::string> shared;
  for (const ovvoc::v1::PackageUpdate& u : proposal.updates()) {
    const std::string member = ManifestDir(u.manifest_path());
    if (!shared.has_value()) shared = member;
    if (*shared != member) shared = std::string(absl::StripPrefix(proposal.manifest_dir(), "/"));
  }
  if (shared.has_value() && !shared->empty()) dir = *shared;
  if (!dir.empty()) absl::StrAppend(&branch, RefSafe(absl::StrReplaceAll(dir, {{"/", "-"}})), "/");
  if (!proposal.group().empty()) {
    std::vector<std::string> parts;
    for (const ovvoc::v1::PackageUpdate& u : proposal.updates()) {
      parts.push_back(absl::StrCat(u.manifest_path(), ":", u.name(), "@", u.to_version()));
    }
    const std::string hash = crypto::HexEncode(crypto::Sha256(absl::StrJoin(parts, "\n")));
    absl::StrAppend(&branch, RefSafe(proposal.group()), "-", hash.substr(0, 8));
  } else if (proposal.updates_size() > 0) {
    absl::StrAppend(&branch, RefSafe(proposal.updates(0).name()), "-",
                    RefSafe(proposal.updates(0).to_version()));
  }
  return branch;
}

std::unique_ptr<Phase> MakeProposalsPhase(const SandboxSettings& settings,
                                          std::shared_ptr<SandboxSession> baseline) {
  return std::make_unique<ProposalsPhase>(settings, std::move(baseline));
}

}  // namespace ovvoc::agent
