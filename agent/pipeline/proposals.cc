#include "agent/pipeline/proposals.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <set>
#include <system_error>
#include <thread>
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
#include "agent/pipeline/proposal_apply.h"
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

  // What the updates' code did (IsJudgedBehaviour) in the group's run and in every trial that
  // held any of `rest`: who of a trial's updates did it cannot be told, so it is evidence against
  // each of them.
  google::protobuf::RepeatedPtrField<ovvoc::v1::SecurityFinding> BehaviourAgainst(
      const std::vector<const PlannedDependency*>& rest) const {
    google::protobuf::RepeatedPtrField<ovvoc::v1::SecurityFinding> out;
    auto add = [&out](const ProposalResult& trial) {
      for (const ovvoc::v1::SecurityFinding& finding : trial.findings()) {
        if (IsJudgedBehaviour(finding)) *out.Add() = finding;
      }
    };
    add(group_);
    for (const auto& [deps, trial] : tried_) {
      if (std::any_of(deps.begin(), deps.end(), [&rest](const PlannedDependency* d) {
            return std::find(rest.begin(), rest.end(), d) != rest.end();
          })) {
        add(trial);
      }
    }
    return out;
  }

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
    std::vector<Slot> slots = Slots(job, plan);
    ProveAll(job, context, slots);
    // In the plan's order, whichever finished first; a bisected group's culprits after it.
    std::vector<ovvoc::v1::ProvenProposal> proven;  // for the job's memo (baseline_memo.h)
    for (Slot& slot : slots) {
      if (!slot.key.empty()) Remember(proven, slot.key, slot.proven_by, slot.results);
      for (ProposalResult& result : slot.results) *job.result().add_proposals() = std::move(result);
    }
    RememberProposals(job, std::move(proven));
    return absl::OkStatus();
  }

 private:
  // One of the plan's proposals: what it came to (the proposal, then a bisected group's
  // culprits), and whether it is still to be proven.
  struct Slot {
    int index = 0;  // 1-based, among the proposals not deferred
    std::string title;
    std::vector<const PlannedDependency*> deps;
    std::string key;        // its memo key (ProposalKey); empty: not remembered
    std::string proven_by;  // the job whose trial it is: this one, or the memo's
    std::vector<ProposalResult> results;
    bool to_prove = false;
  };

  // Every proposal the plan does not defer, described, in its order: an earlier job's outcome
  // where the memo has one (nothing new since), else to be proven. Two never share a branch,
  // whatever their names map to.
  std::vector<Slot> Slots(JobContext& job, const ovvoc::v1::Plan& plan) {
    size_t total = 0;
    for (const ovvoc::v1::PlanProposal& p : plan.proposals()) total += p.deferred() ? 0 : 1;
    std::vector<Slot> slots;
    std::set<std::string> branches;
    for (const ovvoc::v1::PlanProposal& p : plan.proposals()) {
      if (p.deferred()) continue;
      Slot& slot = slots.emplace_back();
      slot.index = static_cast<int>(slots.size());
      slot.deps = DependenciesOf(plan, p);
      ProposalResult& out = slot.results.emplace_back();
      Describe(p.group(), p.manifest_dir(), slot.deps, out);
      slot.title = Title(out);
      slot.key = ProposalKey(job.memo().key, out);
      // (An earlier proposal's branch is not taken again from the memo: that one commits to it.)
      if (std::vector<ProposalResult> taken = TakeProvenProposal(job, slot.key);
          !taken.empty() && branches.count(taken.front().branch()) == 0) {
        log::Info("job %s: proposal %d of %zu: %s: nothing new since job %s proved it",
                  job.spec().job_id(), slot.index, total, slot.title,
                  taken.front().proven_by_job());
        branches.insert(taken.front().branch());
        slot.proven_by = taken.front().proven_by_job();
        slot.results = std::move(taken);
        continue;
      }
      if (!branches.insert(out.branch()).second) {
        out.set_branch(absl::StrCat(out.branch(), "-", slot.index));
        branches.insert(out.branch());
      }
      slot.proven_by = job.spec().job_id();
      slot.to_prove = true;
    }
    return slots;
  }

  // Proves every slot to prove, settings_.parallel_trials at a time, each on a thread of its
  // own: a trial spends most of its time waiting on its container, which has CPUs of its own.
  void ProveAll(JobContext& job, const ProposalContext& context, std::vector<Slot>& slots) {
    std::vector<Slot*> queue;
    for (Slot& slot : slots) {
      if (slot.to_prove) queue.push_back(&slot);
    }
    // Those likeliest to take longest first, so that none is left to run alone at the end:
    // a group (bisected if it fails), then by semver distance (a major's tests fail more often,
    // and a failed test is proven twice).
    auto weight = [](const Slot* slot) {
      int distance = 0;
      for (const ovvoc::v1::PackageUpdate& u : slot->results.front().updates()) {
        distance = std::max(distance, static_cast<int>(u.type()));
      }
      return std::make_pair(slot->deps.size() > 1, distance);
    };
    std::stable_sort(queue.begin(), queue.end(),
                     [&](const Slot* a, const Slot* b) { return weight(a) > weight(b); });
    const int total = static_cast<int>(slots.size());
    const size_t threads =
        std::min(queue.size(), static_cast<size_t>(std::max(1, settings_.parallel_trials)));
    if (threads > 1) {
      log::Info("job %s: proving %zu proposals, %zu at a time", job.spec().job_id(), queue.size(),
                threads);
    }
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t i = next++; i < queue.size(); i = next++) Prove(job, context, *queue[i], total);
    };
    std::vector<std::thread> pool;
    for (size_t i = 1; i < threads; ++i) {
      try {
        pool.emplace_back(work);
      } catch (const std::system_error& e) {  // fewer at once, then
        log::Warning("job %s: cannot start a thread for a trial: %s", job.spec().job_id(),
                     e.what());
        break;
      }
    }
    work();
    for (std::thread& t : pool) t.join();
  }

  void Prove(JobContext& job, const ProposalContext& context, Slot& slot, int total) {
    ProposalResult& out = slot.results.front();
    if (job.cancelled() || job.Now() >= job.deadline()) {
      out.set_outcome(ovvoc::v1::PROPOSAL_OUTCOME_NOT_RUN);
      out.mutable_failure()->set_reason(job.cancelled()
                                            ? "the job was cancelled"
                                            : "the job ran out of time before this proposal");
      slot.key.clear();  // nothing proven to remember
      return;
    }
    job.SetProgress("proposals", absl::StrCat(slot.index, " of ", total, ": ", slot.title));
    log::Info("job %s: proposal %d of %d: %s", job.spec().job_id(), slot.index, total, slot.title);
    const std::string label = absl::StrCat("p", slot.index);
    RunProposal(job, context, slot.deps, label, /*commit=*/true, out);
    if (Bisectable(out)) {
      std::optional<ProposalResult> culprits = Bisect(job, context, slot.deps, out, label);
      if (culprits.has_value()) slot.results.push_back(*std::move(culprits));
    }
    const ProposalResult& first = slot.results.front();
    log::Info("job %s: proposal %d %s%s", job.spec().job_id(), slot.index,
              first.outcome() == ovvoc::v1::PROPOSAL_OUTCOME_PASSED   ? "passed"
              : first.outcome() == ovvoc::v1::PROPOSAL_OUTCOME_FAILED ? "failed"
                                                                      : "not run",
              first.has_failure()
                  ? absl::StrCat(" in ", first.failure().phase(), ": ", first.failure().reason())
                  : "");
  }

  static void Remember(std::vector<ovvoc::v1::ProvenProposal>& proven, const std::string& key,
                       const std::string& job_id, const std::vector<ProposalResult>& results) {
    ovvoc::v1::ProvenProposal& p = proven.emplace_back();
    p.set_key(key);
    p.set_job_id(job_id);
    for (const ProposalResult& result : results) *p.add_results() = result;
  }

  // `group` failed: find its culprits, keep the rest as the proposal (proven again as it will be
  // committed), and return a failed proposal of the culprits, named in its failure report, to
  // follow it; nullopt when the culprits are the whole group or were not found.
  std::optional<ProposalResult> Bisect(JobContext& job, const ProposalContext& context,
                                       const std::vector<const PlannedDependency*>& deps,
                                       ProposalResult& group, const std::string& label) {
    log::Info("job %s: group %s failed in %s: bisecting", job.spec().job_id(), group.group(),
              group.failure().phase());
    Bisection bisection(job, context, group, label);
    const std::optional<std::vector<const PlannedDependency*>> culprits = bisection.Culprits(deps);
    if (!culprits.has_value()) {
      absl::StrAppend(group.mutable_failure()->mutable_reason(), " (bisection stopped after ",
                      bisection.trials(), " trials: the job's time or trials ran out)");
      return std::nullopt;
    }
    std::vector<std::string> names;
    for (const PlannedDependency* d : *culprits) names.push_back(Id(*d));
    std::vector<const PlannedDependency*> rest;
    for (const PlannedDependency* d : deps) {
      if (std::find(culprits->begin(), culprits->end(), d) == culprits->end()) rest.push_back(d);
    }
    log::Info("job %s: group %s: %s break it", job.spec().job_id(), group.group(),
              absl::StrJoin(names, ", "));
    if (rest.empty()) {
      for (const std::string& name : names) group.mutable_failure()->add_culprits(name);
      return std::nullopt;
    }
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
    ProposalResult kept;
    Describe(group.group(), group.manifest_dir(), rest, kept);
    const google::protobuf::RepeatedPtrField<ovvoc::v1::SecurityFinding> behaviour =
        bisection.BehaviourAgainst(rest);
    RunProposal(job, context, rest, absl::StrCat(label, "k"), /*commit=*/true, kept, &behaviour);
    if (kept.outcome() != ovvoc::v1::PROPOSAL_OUTCOME_PASSED) {
      for (const std::string& name : names) group.mutable_failure()->add_culprits(name);
      absl::StrAppend(group.mutable_failure()->mutable_reason(), "; without ",
                      absl::StrJoin(names, ", "), " it still failed (",
                      kept.failure().reason_class(), ": ", kept.failure().reason(), ")");
      return std::nullopt;
    }
    group = std::move(kept);
    return failed;
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
