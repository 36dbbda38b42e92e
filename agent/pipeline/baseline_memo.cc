#include "agent/pipeline/baseline_memo.h"

#include <elf.h>
#include <link.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/git/branch.h"
#include "agent/npm/project.h"
#include "agent/pipeline/trial.h"
#include "agent/workspace/beneath.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "common/time_util.h"

namespace ovvoc::agent {
namespace {

// One line of the key's text: a name, the value's length and the value, so that no value can
// run into the next.
void AddPart(std::string& text, absl::string_view name, absl::string_view value) {
  absl::StrAppend(&text, name, " ", value.size(), ":", value, "\n");
}

// The digest of the image the job runs: its node major's, else the default image's.
std::string ImageDigest(const JobContext& job, const SandboxSettings& settings) {
  for (const sandbox::NodeImage& image : settings.node_images) {
    if (image.major == job.project().node_major) return image.digest;
  }
  return settings.image_digest;
}

void CopySet(const std::set<std::string>& from,
             google::protobuf::RepeatedPtrField<std::string>* to) {
  for (const std::string& path : from) to->Add(std::string(path));
}

std::string MemoPath(const std::string& dir, const std::string& repo_url) {
  return absl::StrCat(dir, "/", crypto::HexEncode(crypto::Sha256(repo_url)), ".memo");
}

}  // namespace

// The running binary's GNU build ID (hex; "" when it has none): it changes with any change to
// the agent's code, so that a memo made by an agent with other checks is never taken (red team:
// the version alone stayed 0.1.0 through every change to what proposals are held to).
std::string AgentBuildId() {
  static const std::string* id = [] {
    auto* found = new std::string;
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* out) -> int {
          // The main program is the first object, named "".
          for (int i = 0; i < info->dlpi_phnum; ++i) {
            const ElfW(Phdr)& ph = info->dlpi_phdr[i];
            if (ph.p_type != PT_NOTE) continue;
            const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
            const char* end = p + ph.p_memsz;
            while (p + sizeof(ElfW(Nhdr)) <= end) {
              const auto* note = reinterpret_cast<const ElfW(Nhdr)*>(p);
              const char* name = p + sizeof(ElfW(Nhdr));
              const char* desc = name + ((note->n_namesz + 3) & ~3u);
              if (desc + note->n_descsz > end) break;
              if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 &&
                  std::memcmp(name, "GNU", 4) == 0) {
                *static_cast<std::string*>(out) =
                    crypto::HexEncode(absl::string_view(desc, note->n_descsz));
                return 1;
              }
              p = desc + ((note->n_descsz + 3) & ~3u);
            }
          }
          return 1;  // only the main program
        },
        found);
    return found;
  }();
  return *id;
}

std::string BaselineKeyOf(const BaselineInputs& in) {
  std::string text = "ovvoc baseline memo 1\n";
  AddPart(text, "agent", absl::StrCat(OVVOC_VERSION, " ", AgentBuildId()));
  AddPart(text, "commit", in.commit);
  AddPart(text, "manifest", crypto::HexEncode(crypto::Sha256(in.manifest)));
  AddPart(text, "npmrc",
          in.npmrc.has_value() ? crypto::HexEncode(crypto::Sha256(*in.npmrc)) : "none");
  for (const auto& [name, bytes] : in.lockfiles) {
    AddPart(text, name, crypto::HexEncode(crypto::Sha256(bytes)));
  }
  AddPart(text, "backend", in.backend);
  AddPart(text, "image", in.image);
  AddPart(text, "node", in.node);
  AddPart(text, "npm major", absl::StrCat(in.npm_major));
  for (const std::string& command : in.commands) AddPart(text, "command", command);
  for (const std::string& registry : in.registries) AddPart(text, "registry", registry);
  const sandbox::Limits& limits = in.limits;
  AddPart(text, "limits",
          absl::StrCat(limits.memory_bytes, " ", limits.cpu_millis, " ", limits.pids, " ",
                       limits.disk_bytes, " ", limits.tmp_bytes, " ",
                       absl::ToInt64Seconds(limits.phase_timeout)));
  return crypto::HexEncode(crypto::Sha256(text));
}

absl::StatusOr<std::string> BaselineKey(const JobContext& job, const SandboxSettings& settings) {
  const ClonedProject& project = job.project();
  if (!project.has_lockfile) {
    return absl::FailedPreconditionError(
        "the repository has no lockfile: what npm resolves for it changes with the registry");
  }
  BaselineInputs in;
  in.image = ImageDigest(job, settings);
  if (in.image.empty()) {
    return absl::FailedPreconditionError("the job's image has no known digest");
  }
  if (settings.backend != nullptr) in.backend = std::string(settings.backend->name());
  in.commit = job.result().head_commit();
  in.manifest = project.manifest;
  in.npmrc = project.npmrc;
  for (const char* name : {"npm-shrinkwrap.json", "package-lock.json"}) {
    absl::StatusOr<std::string> lockfile =
        ReadFileBeneath(job.repo_dir(), name, npm::kMaxLockfileBytes);
    if (absl::IsNotFound(lockfile.status())) continue;
    if (!lockfile.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat(name, " cannot be read: ", lockfile.status().message()));
    }
    in.lockfiles[name] = *std::move(lockfile);
  }
  in.node = job.result().node().ran();
  in.npm_major = project.npm_major;
  for (TrialStep step : {TrialStep::kInstall, TrialStep::kBuild, TrialStep::kTest}) {
    in.commands.push_back(DisplayCommand(ProjectCommand(job, step)));
  }
  for (const ovvoc::v1::Registry& registry :
       JobRegistries(job.spec(), settings.registry_override)) {
    in.registries.push_back(absl::StrCat(registry.scope(), " ", registry.url()));
  }
  in.limits = JobLimits(job.env(), job.spec());
  return BaselineKeyOf(in);
}

bool TakeBaselineMemo(JobContext& job, const std::string& key) {
  const ovvoc::v1::BaselineMemo& memo = job.spec().baseline_memo();
  if (key.empty() || memo.key() != key) return false;
  if (absl::Status valid = CheckBaselineMemo(memo); !valid.ok()) {
    log::Warning("job %s: the baseline memo is not one an agent makes (%s): the baseline runs",
                 job.spec().job_id(), valid.message());
    return false;
  }
  ovvoc::v1::JobResult& result = job.result();
  *result.mutable_baseline() = memo.trial();
  for (const ovvoc::v1::SecurityFinding& finding : memo.findings()) {
    *result.add_findings() = finding;
  }
  for (const ovvoc::v1::Advice& advice : memo.advice()) *result.add_advice() = advice;
  ovvoc::v1::BaselineReuse* reuse = result.mutable_baseline_reused();
  reuse->set_job_id(memo.proven_by_job().empty() ? memo.job_id() : memo.proven_by_job());
  *reuse->mutable_proven_at() = memo.proven_at();
  reuse->set_key(memo.key());
  ClonedProject& project = job.project();
  project.build_changes.assign(memo.build_changes().begin(), memo.build_changes().end());
  project.install_added = {memo.install_added().begin(), memo.install_added().end()};
  project.build_added = {memo.build_added().begin(), memo.build_added().end()};
  project.install_added_whole = !memo.install_added_partial();
  project.build_added_whole = !memo.build_added_partial();
  project.installed.reset();
  project.installed_after_build.reset();
  if (memo.has_installed()) project.installed = InstalledTreeOf(memo.installed());
  if (memo.has_installed_after_build()) {
    project.installed_after_build = InstalledTreeOf(memo.installed_after_build());
  }
  return true;
}

std::optional<ovvoc::v1::BaselineMemo> MakeBaselineMemo(const JobContext& job,
                                                        const std::string& key, int advice_from) {
  const ovvoc::v1::JobResult& result = job.result();
  const bool hostile = std::any_of(result.findings().begin(), result.findings().end(),
                                   [](const ovvoc::v1::SecurityFinding& finding) {
                                     return finding.severity() >= ovvoc::v1::SEVERITY_HIGH;
                                   });
  if (key.empty() || hostile) return std::nullopt;
  const ClonedProject& project = job.project();
  ovvoc::v1::BaselineMemo memo;
  memo.set_key(key);
  memo.set_job_id(job.spec().job_id());
  *memo.mutable_proven_at() = ToProto(job.Now());
  *memo.mutable_trial() = result.baseline();
  *memo.mutable_findings() = result.findings();
  for (int i = std::max(advice_from, 0); i < result.advice_size(); ++i) {
    *memo.add_advice() = result.advice(i);
  }
  for (const std::string& path : project.build_changes) memo.add_build_changes(path);
  CopySet(project.install_added, memo.mutable_install_added());
  CopySet(project.build_added, memo.mutable_build_added());
  memo.set_install_added_partial(!project.install_added_whole);
  memo.set_build_added_partial(!project.build_added_whole);
  if (project.installed.has_value()) *memo.mutable_installed() = FingerprintsOf(*project.installed);
  if (project.installed_after_build.has_value()) {
    *memo.mutable_installed_after_build() = FingerprintsOf(*project.installed_after_build);
  }
  if (absl::Status valid = CheckBaselineMemo(memo); !valid.ok()) {
    log::Info("job %s: the baseline is not remembered: %s (%d bytes)", job.spec().job_id(),
              valid.message(), memo.ByteSizeLong());
    return std::nullopt;
  }
  return memo;
}

std::string ProposalKey(const std::string& baseline_key, const ovvoc::v1::ProposalResult& planned) {
  std::string text = "ovvoc proposal 1\n";
  AddPart(text, "baseline", baseline_key);
  AddPart(text, "group", planned.group());
  AddPart(text, "dir", planned.manifest_dir());
  AddPart(text, "branch", planned.branch());
  for (const ovvoc::v1::PackageUpdate& u : planned.updates()) {
    AddPart(text, "manifest", u.manifest_path());
    AddPart(text, "kind", ovvoc::v1::DependencyKind_Name(u.kind()));
    AddPart(text, "name", u.name());
    AddPart(text, "from", u.from_version());
    AddPart(text, "to", u.to_version());
    AddPart(text, "from spec", u.from_spec());
    AddPart(text, "to spec", u.to_spec());
  }
  return crypto::HexEncode(crypto::Sha256(text));
}

namespace {

// Whether an outcome may stand for a later job: passed, or failed by what the update does to
// the project's own build and tests or by what its code did. Not an outcome the registry, the
// machine or the clock may have decided (resolve and install failures, timeouts, a full disk),
// nor one cut short.
bool MayStand(const ovvoc::v1::ProposalResult& result) {
  if (result.outcome() == ovvoc::v1::PROPOSAL_OUTCOME_PASSED) return true;
  if (result.outcome() != ovvoc::v1::PROPOSAL_OUTCOME_FAILED) return false;
  const std::string& why = result.failure().reason_class();
  return why == "build" || why == "test" || why == "tampering" || why == "egress";
}

// `result` as the control plane would store it (common/job_text.h); nullopt when storing it
// would drop part of it.
std::optional<ovvoc::v1::ProposalResult> Bounded(const ovvoc::v1::ProposalResult& result) {
  ovvoc::v1::JobResult holder;
  *holder.add_proposals() = result;
  BoundForStorage(holder);
  if (holder.findings_size() > 0 || holder.proposals_size() != 1) return std::nullopt;
  return std::move(*holder.mutable_proposals(0));
}

}  // namespace

std::vector<ovvoc::v1::ProposalResult> TakeProvenProposal(const JobContext& job,
                                                          const std::string& key) {
  if (!job.memo().reused) return {};
  const std::optional<JobEnv::Branches>& branches = job.env().branches;
  for (const ovvoc::v1::ProvenProposal& proven : job.spec().baseline_memo().proposals()) {
    if (proven.key() != key) continue;
    std::vector<ovvoc::v1::ProposalResult> results(proven.results().begin(),
                                                   proven.results().end());
    for (ovvoc::v1::ProposalResult& result : results) {
      if (!MayStand(result)) return {};
      // A pass stands for the lockfile it was proven with, which only its branch still holds:
      // npm resolving the same update today may come to other transitive versions (red team: a
      // hostile release of a dependency of the target, published between two jobs, passed on
      // the memo's word). Without that branch where the memo left it (deleted, moved, never
      // written: a job that writes none), the update is proven again.
      if (result.outcome() == ovvoc::v1::PROPOSAL_OUTCOME_PASSED) {
        if (!branches.has_value() || result.commit().empty()) return {};
        absl::StatusOr<std::string> tip = git::BranchTip(branches->repo_dir, result.branch());
        if (!tip.ok() || *tip != result.commit()) return {};
      }
      if (result.proven_by_job().empty()) result.set_proven_by_job(proven.job_id());
    }
    return results;
  }
  return {};
}

void RememberProposals(JobContext& job, std::vector<ovvoc::v1::ProvenProposal> proven) {
  BaselineMemoState& state = job.memo();
  if (!state.made.has_value()) {
    if (!state.reused) return;
    // The baseline is the memo's; this job's proposals replace the ones it proved.
    state.made = job.spec().baseline_memo();
    if (state.made->proven_by_job().empty()) state.made->set_proven_by_job(state.made->job_id());
    state.made->set_job_id(job.spec().job_id());
  }
  ovvoc::v1::BaselineMemo& memo = *state.made;
  memo.clear_proposals();
  for (ovvoc::v1::ProvenProposal& p : proven) {
    ovvoc::v1::ProvenProposal kept;
    kept.set_key(p.key());
    kept.set_job_id(p.job_id());
    for (const ovvoc::v1::ProposalResult& result : p.results()) {
      std::optional<ovvoc::v1::ProposalResult> bounded = Bounded(result);
      if (!MayStand(result) || !bounded.has_value()) {
        kept.clear_results();
        break;
      }
      *kept.add_results() = *std::move(bounded);
    }
    if (kept.results_size() > 0) *memo.add_proposals() = std::move(kept);
  }
  if (memo.ByteSizeLong() > kMaxBaselineMemoBytes) {
    log::Info("job %s: its proposals are not remembered: the memo would be %d bytes (at most %d)",
              job.spec().job_id(), memo.ByteSizeLong(), kMaxBaselineMemoBytes);
    memo.clear_proposals();
  }
}

ovvoc::v1::InstalledFingerprints FingerprintsOf(const InstalledTree& tree) {
  ovvoc::v1::InstalledFingerprints out;
  out.mutable_packages()->insert(tree.packages.begin(), tree.packages.end());
  out.mutable_bins()->insert(tree.bins.begin(), tree.bins.end());
  out.mutable_hidden()->insert(tree.hidden.begin(), tree.hidden.end());
  out.set_partial(!tree.complete);
  return out;
}

InstalledTree InstalledTreeOf(const ovvoc::v1::InstalledFingerprints& proto) {
  InstalledTree tree;
  tree.packages.insert(proto.packages().begin(), proto.packages().end());
  tree.bins.insert(proto.bins().begin(), proto.bins().end());
  tree.hidden.insert(proto.hidden().begin(), proto.hidden().end());
  tree.complete = !proto.partial();
  return tree;
}

ovvoc::v1::BaselineMemo LoadBaselineMemo(const std::string& dir, const std::string& repo_url) {
  ovvoc::v1::BaselineMemo memo;
  const std::string path = MemoPath(dir, repo_url);
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return memo;
  if (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) > kMaxBaselineMemoBytes) {
    log::Warning("%s is not a baseline memo this agent wrote: ignored", path);
    return memo;
  }
  absl::StatusOr<std::string> bytes = files::ReadFile(path);
  if (!bytes.ok() || !memo.ParseFromString(*bytes)) {
    log::Warning("%s cannot be read: the baseline runs", path);
    memo.Clear();
  }
  return memo;
}

absl::Status SaveBaselineMemo(const std::string& dir, const std::string& repo_url,
                              const ovvoc::v1::BaselineMemo& memo) {
  OVVOC_RETURN_IF_ERROR(files::EnsureDir(dir, 0700));
  return files::WriteFileAtomic(MemoPath(dir, repo_url), memo.SerializeAsString(), 0600);
}

}  // namespace ovvoc::agent
