// SandboxSession: one job's container, job disk, egress monitor and (while npm installs) registry
// gateway, shared by the sandbox phases of the pipeline. Made by the "sandbox" phase, torn down
// by its Finish().
#ifndef OVVOC_AGENT_PIPELINE_SANDBOX_SESSION_H_
#define OVVOC_AGENT_PIPELINE_SANDBOX_SESSION_H_

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/pipeline/pipeline.h"
#include "agent/registry/client.h"
#include "agent/registry/egress_monitor.h"
#include "agent/registry/endpoint.h"
#include "agent/registry/gateway.h"
#include "agent/registry/prefetch.h"
#include "agent/sandbox/job_disk.h"
#include "agent/sandbox/image.h"
#include "agent/sandbox/job_uid.h"
#include "agent/sandbox/sandbox.h"

namespace ovvoc::agent {

// How the agent runs sandboxes; from its own configuration, never from the job.
struct SandboxSettings {
  sandbox::Backend* backend = nullptr;  // not owned; null: jobs run no sandbox phases
  // How the agent reads registries (its cache included); not owned. Required with a backend.
  registry::RegistryClient* registry = nullptr;
  sandbox::Limits limits;               // the agent's; a job may only tighten them
  // How many of a job's proposals are proven at once, each in a container of its own under
  // `limits` (the agent's --parallel-trials): CPUs a job's one container at a time would
  // leave idle.
  int parallel_trials = 1;
  // Replaces the job's default registry (an enterprise agent's internal mirror).
  std::string registry_override;
  // "host:port" registries that may resolve to private or loopback addresses.
  std::vector<std::string> allow_internal;
  // The agent's own registry credentials (url and credential), from its configuration: they
  // replace a job's credential for the same registry URL.
  std::vector<ovvoc::v1::Registry> credentials;
  // What the default job image runs ("24.22.3", "11.21.2"), for the plan's engines checks;
  // empty when unknown (engines are then not checked).
  std::string node_version;
  std::string npm_version;
  // The default image's digest ("sha256:<hex>"), when the agent knows it: what a baseline memo's
  // key names for a job that runs it (baseline_memo.h). Empty: such jobs are not remembered.
  std::string image_digest;
  // The agent's images per node major (sandbox/image.h, FindNodeImages): a job runs the one of
  // the major its project asks for (ChooseJobNode), else the default image. Empty: every job
  // runs the default image.
  std::vector<sandbox::NodeImage> node_images;
  // Where jobs' uids are locked (sandbox/job_uid.h): host-wide, shared by every agent.
  std::string uid_lock_dir = sandbox::kJobUidLockDir;
};

// The public npm registry: a job's default registry when neither the agent (--registry) nor the
// job names one.
inline constexpr char kPublicRegistry[] = "https://registry.npmjs.org/";

// A job's registries, the one set that npm's configuration and the gateway both use: the
// job's scoped ones, then exactly one default: `agent_registry` when the agent has one (its
// mirror replaces the job's default, it does not join it), else the job's, else
// kPublicRegistry.
std::vector<ovvoc::v1::Registry> JobRegistries(const ovvoc::v1::JobSpec& spec,
                                               const std::string& agent_registry);

// What an earlier, crashed agent process with this state dir left behind: its containers (when
// a backend is configured), its mounted job disks and every job dir under `work_dir`. Call at
// start, holding the state dir's lock (LockStateDir), before any job runs.
void ReapLeftovers(const SandboxSettings* settings, const std::string& work_dir);

// Copies a work tree (never its .git) from `from` into the existing directory `to`. Symlinks are
// copied as links, never followed.
absl::Status CopyWorkTree(const std::string& from, const std::string& to);

class SandboxSession {
 public:
  explicit SandboxSession(const SandboxSettings& settings) : settings_(settings) {}
  ~SandboxSession() { Teardown(); }

  // What a container's work tree is made from. A job runs several containers one after another:
  // the baseline's, from the clone, and one per proposal, from the agent's copy of the clone
  // with that proposal's manifests and lockfile.
  struct Source {
    std::string tree;   // the agent's own tree to copy (not .git); "": the job's clone
    std::string label;  // "": the baseline's; else it names the container and its disk ("p1")
  };

  // Job disk, a copy of the source tree without .git, and a started container.
  absl::Status Prepare(JobContext& job, const Source& source = {});

  // Where findings go (what the gateway refused, what the egress monitor saw): the job's result
  // unless set (a proposal's own findings). Not owned; must outlive the session's commands.
  void set_findings(google::protobuf::RepeatedPtrField<ovvoc::v1::SecurityFinding>* findings) {
    findings_ = findings;
  }

  // How a command reaches the registries: not at all, or through the gateway in one of its
  // modes (registry/gateway.h). kScript needs PrefetchLockfile() first.
  enum class Network { kNone, kResolve, kScript };

  // Runs phase `phase`'s command in the container, with the gateway open for its duration
  // unless `network` is kNone. Processes it leaves behind are killed afterwards. Every attempt
  // to reach past the container, refused by the gateway or seen by the monitor, is reported in
  // a finding; repeats are counted, not itemised (RefusalFindings, EgressFindings).
  absl::StatusOr<sandbox::ExecResult> Run(JobContext& job, absl::string_view phase,
                                          std::vector<std::string> argv, Network network);

  // Reads the work tree's lockfile and fetches every tarball it names into the agent's cache
  // (registry/prefetch.h), so that script mode can serve them, and seeds a fresh npm cache in
  // the job's home with them (registry/npm_cache.h), which later commands use. A failure says
  // which package and why (a registry whose bytes do not match the lockfile: DataLoss).
  absl::Status PrefetchLockfile(JobContext& job);

  // The packuments this session's resolve-mode commands read (npm, no dependency code running),
  // which script mode serves again; and how a later session of the same proposal (a second
  // attempt that starts from the lockfile those reads made) gets them too.
  const std::set<std::string>& resolved_packuments() const { return resolved_packuments_; }
  void add_resolved_packuments(const std::set<std::string>& names) {
    resolved_packuments_.insert(names.begin(), names.end());
  }

  // What the gateway could not serve during the last Run() (the registry failed or lied), one
  // line each, for a failed install's reason; empty when everything was served.
  const std::vector<std::string>& gateway_problems() const { return gateway_problems_; }

  // The registry secrets this job's gateway uses (tokens, passwords), to scrub from anything
  // reported. None of them is ever given to the container.
  std::vector<std::string> Secrets() const;

  // Empties the job's home (/home/ovvoc), between commands (no job process runs): what an
  // install left there (~/.node_modules, which node searches for a module it cannot find, npx's
  // cache, a tool's config) is gone before the project's own code runs.
  absl::Status ClearHome();

  // Puts back the job's own repository (the tree's .git) as Prepare made it, between commands
  // (no job process runs): what an install planted there (a file monitor or a hook in its config
  // that git runs on `git status`, which tests call; rewritten objects or refs) is gone before
  // the project's own code runs (red team, issue 12).
  absl::Status PutBackGit();

  // Copies the node_modules folders of `installed` (what an install just left in the work tree;
  // its roots: "node_modules", "packages/a/node_modules") out into `to`, a new directory the
  // agent owns, between commands (no job process runs). npm's hidden lockfile is left out, so
  // that an install over the copy looks at what the folders hold. ResourceExhausted past the
  // job's disk size (hard links count once per name); FailedPrecondition when `installed` is
  // incomplete. On error nothing of `to` is left.
  absl::StatusOr<ClonedProject::KeptInstall> KeepInstall(const InstalledTree& installed,
                                                         const std::string& to);

  // Puts `kept` (KeepInstall's copy of the baseline's) into the work tree, owned by the job's
  // user, between commands, but for the package folders at `leave_out` (lockfile keys:
  // "node_modules/a", "packages/w/node_modules/b"), which npm then installs from their
  // tarballs. Each root must not exist yet and its parent must, reached without a symlink
  // (AlreadyExists, NotFound, PermissionDenied otherwise).
  absl::Status PutInstall(const ClonedProject::KeptInstall& kept,
                          const std::set<std::string>& leave_out);

  // Empties the container's /tmp (a tmpfs that lasts from the install to the tests), run in the
  // container as the job's user: what an install left there (a test runner's transform cache,
  // seeded so that a test's cached "compiled" form runs instead of the test) is gone before the
  // project's own code runs. Modes are made the owner's first, so that a directory the job
  // closed (mode 000) is emptied too.
  absl::Status ClearTmp(JobContext& job);

  // The work tree as the container left it (read with ReadFileBeneath).
  std::string tree_dir() const { return disk_ ? disk_->tree_dir() : std::string(); }
  // The trusted tree it was copied from (Prepare's source): what RestoreTreeBeneath puts back.
  const std::string& source_dir() const { return source_dir_; }
  const sandbox::Limits& limits() const { return limits_; }
  // The uid (and gid) the job's processes run as; 0 before Prepare().
  uint32_t job_uid() const { return uid_ ? uid_->uid() : 0; }

  void Teardown();

 private:
  absl::StatusOr<std::unique_ptr<registry::Gateway>> OpenGateway(const JobContext& job,
                                                                 Network network);
  std::vector<std::string> RegistryEnv(const registry::Gateway* gateway, Network network) const;
  // The gateway's refusals become findings; what it served, the result's egress evidence.
  void RecordGateway(JobContext& job, absl::string_view phase, const registry::Gateway& gateway);
  void RecordAttempts(JobContext& job, absl::string_view phase);
  google::protobuf::RepeatedPtrField<ovvoc::v1::SecurityFinding>& Findings(JobContext& job) {
    return findings_ != nullptr ? *findings_ : *job.result().mutable_findings();
  }

  const SandboxSettings& settings_;
  sandbox::Limits limits_;
  std::string source_dir_;
  std::string who_;           // for the log: "JOB", or "JOB [p1]" for a proposal's session
  std::string pristine_git_;  // the agent's copy of the tree's .git as Prepare made it
  google::protobuf::RepeatedPtrField<ovvoc::v1::SecurityFinding>* findings_ = nullptr;
  std::optional<sandbox::JobUid> uid_;
  std::unique_ptr<sandbox::JobDisk> disk_;
  std::unique_ptr<sandbox::Sandbox> sandbox_;
  std::unique_ptr<registry::EgressMonitor> monitor_;
  std::vector<ovvoc::v1::Registry> registries_;  // JobRegistries(), made by Prepare()
  std::vector<registry::RegistryEndpoint> endpoints_;  // the same, parsed, made by Prepare()
  std::optional<registry::Prefetched> prefetched_;     // by PrefetchLockfile()
  // Packuments the lockfile phase's gateway served: this job's npm read them with no dependency
  // code running, so the script-mode gateway serves them again, from the cache only (npm ci
  // asks for one when a bundle does not satisfy itself: chalk's xo 0.54 bundles globby, which
  // wants fast-glob ^3.3.0, beside fast-glob 3.2.12). Only this job's own reads: a name the job
  // merely puts in its lockfile would tell it whether another job had that packument cached.
  std::set<std::string> resolved_packuments_;
  std::string seeded_cache_;  // the npm cache PrefetchLockfile() filled, in the job's home
  std::vector<std::string> gateway_problems_;          // of the last Run()
};

}  // namespace ovvoc::agent

#endif  // OVVOC_AGENT_PIPELINE_SANDBOX_SESSION_H_
