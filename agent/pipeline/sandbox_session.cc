#include "agent/pipeline/sandbox_session.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/git/git.h"
#include "agent/pipeline/plan_step.h"
#include "agent/registry/npm_cache.h"
#include "agent/registry/request_head.h"
#include "agent/sandbox/hardening.h"
#include "agent/workspace/beneath.h"
#include "agent/workspace/tree_copy.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/inert.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace ovvoc::agent {
namespace {

namespace fs = std::filesystem;

}  // namespace

absl::Status CopyWorkTree(const std::string& from, const std::string& to) {
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(from, ec)) {
    if (entry.path().filename() == ".git") continue;
    fs::copy(entry.path(), fs::path(to) / entry.path().filename(),
             fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot copy the work tree: ", ec.message()));
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot read the work tree: ", ec.message()));
  return absl::OkStatus();
}

namespace {

// Gives `to` and everything under it to `uid` (and its group), links themselves, never their
// targets.
absl::Status ChownTree(const std::string& to, uint32_t uid) {
  if (::lchown(to.c_str(), uid, uid) != 0) return absl::InternalError("cannot chown " + to);
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(to, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (::lchown(it->path().c_str(), uid, uid) != 0) {
      return absl::InternalError(absl::StrCat("cannot chown ", it->path().string()));
    }
  }
  return absl::OkStatus();
}

// Where the gateway's CA goes in the job's control dir, and where the container sees it.
constexpr char kCaFile[] = "registry-ca.pem";
constexpr char kCaInContainer[] = "/run/registry-ca.pem";
constexpr size_t kMaxLockfileBytes = 64 << 20;
constexpr int kPrefetchParallel = 8;
constexpr size_t kProblemsShown = 5;

}  // namespace

std::vector<ovvoc::v1::Registry> JobRegistries(const ovvoc::v1::JobSpec& spec,
                                               const std::string& agent_registry) {
  std::vector<ovvoc::v1::Registry> registries;
  std::string default_url;
  for (const ovvoc::v1::Registry& registry : spec.registries()) {
    if (!registry.scope().empty()) {
      registries.push_back(registry);
    } else if (default_url.empty()) {
      default_url = registry.url();
    }
  }
  if (!agent_registry.empty()) default_url = agent_registry;
  if (default_url.empty()) default_url = kPublicRegistry;
  registries.emplace_back().set_url(default_url);
  return registries;
}

void ReapLeftovers(const SandboxSettings* settings, const std::string& work_dir) {
  if (settings != nullptr && settings->backend != nullptr) {
    if (absl::Status s = settings->backend->ReapLeftovers(); !s.ok()) {
      log::Warning("could not remove leftover containers: %s", s.ToString());
    }
  }
  // Unmount first, so that removing the dirs cannot reach into a job disk.
  sandbox::JobDisk::UnmountAllUnder(work_dir);
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(work_dir, ec)) {
    log::Info("removing leftover job dir %s", entry.path().string());
    (void)files::RemoveTree(entry.path().string());
  }
}

absl::Status SandboxSession::Prepare(JobContext& job, const Source& source) {
  if (settings_.backend == nullptr) return absl::FailedPreconditionError("no sandbox backend");
  limits_ = sandbox::Tighten(settings_.limits, job.spec().limits());
  who_ = source.label.empty() ? job.spec().job_id()
                              : absl::StrCat(job.spec().job_id(), " [", source.label, "]");
  if (settings_.registry == nullptr) return absl::FailedPreconditionError("no registry client");
  registries_ = JobRegistries(job.spec(), settings_.registry_override);
  OVVOC_ASSIGN_OR_RETURN(endpoints_, JobEndpoints(job.spec(), settings_));
  OVVOC_ASSIGN_OR_RETURN(uid_, sandbox::JobUid::Acquire(settings_.uid_lock_dir));
  const std::string disk_dir =
      absl::StrCat(job.work_dir(), "/disk", source.label.empty() ? "" : "-", source.label);
  OVVOC_ASSIGN_OR_RETURN(disk_, sandbox::JobDisk::Create(disk_dir + ".img", disk_dir,
                                                         limits_.disk_bytes, uid_->uid()));
  source_dir_ = source.tree.empty() ? job.repo_dir() : source.tree;
  OVVOC_RETURN_IF_ERROR(CopyWorkTree(source_dir_, disk_->tree_dir()));
  // The job's own repository: one commit of the tree, so that prepare scripts, hook installers
  // and tests that ask git work, while the clone's history and config stay with the agent.
  git::SnapshotOptions snapshot;
  snapshot.branch = job.spec().repo().default_branch();
  snapshot.message = absl::StrCat("Snapshot of ", job.result().head_commit(), " for Ovvoc\n");
  snapshot.time = job.Now();
  // libgit2, like git, works only in a directory its user owns: the agent's, until the tree is
  // handed to the job below.
  const std::string tree = disk_->tree_dir();
  if (::lchown(tree.c_str(), ::geteuid(), ::getegid()) != 0) {
    return absl::InternalError(absl::StrCat("cannot chown ", tree));
  }
  absl::StatusOr<std::string> commit = git::CommitSnapshot(tree, snapshot);
  if (!commit.ok()) {
    return absl::Status(commit.status().code(),
                        absl::StrCat("cannot make the job's git repository: ", commit.status().message()));
  }
  // The agent keeps the repository it made: PutBackGit() restores it between phases.
  pristine_git_ = disk_dir + "-git";
  OVVOC_RETURN_IF_ERROR(files::RemoveTree(pristine_git_));  // an earlier attempt's (a node retry)
  OVVOC_RETURN_IF_ERROR(files::EnsureDir(pristine_git_, 0700));
  OVVOC_RETURN_IF_ERROR(CopyWorkTree(tree + "/.git", pristine_git_));
  OVVOC_RETURN_IF_ERROR(ChownTree(tree, uid_->uid()));

  sandbox::SandboxSpec spec;
  spec.name = absl::StrCat("ovvoc-", job.spec().job_id(), "-", job.spec().lease().attempt(),
                           source.label.empty() ? "" : "-", source.label);
  spec.job_id = job.spec().job_id();
  for (const sandbox::NodeImage& image : settings_.node_images) {
    if (image.major == job.project().node_major) spec.image = image.digest;
  }
  spec.workspace_dir = disk_->tree_dir();
  spec.home_dir = disk_->home_dir();
  spec.control_dir = disk_->control_dir();
  spec.etc_dir = disk_->etc_dir();
  spec.uid = uid_->uid();
  spec.limits = limits_;
  spec.env = sandbox::BaseEnvironment(limits_);
  sandbox::JobDisk* disk = disk_.get();
  spec.disk_full = [disk] { return disk->Full(); };
  OVVOC_ASSIGN_OR_RETURN(sandbox_, settings_.backend->Create(spec));
  OVVOC_ASSIGN_OR_RETURN(monitor_, registry::EgressMonitor::Start(sandbox_->netns_path()));
  return absl::OkStatus();
}

std::vector<std::string> SandboxSession::RegistryEnv(const registry::Gateway* gateway,
                                                     Network network) const {
  // (sandbox::BaseEnvironment already turns off npm's audit, funding and update checks: each
  // would be a refused request, and a finding, in every job.)
  std::vector<std::string> env;
  for (const ovvoc::v1::Registry& registry : registries_) {
    env.push_back(registry.scope().empty() ? "npm_config_registry=" + registry.url()
                                           : absl::StrCat("npm_config_", registry.scope(),
                                                          ":registry=", registry.url()));
  }
  if (gateway != nullptr) {
    const std::string proxy = absl::StrCat("http://127.0.0.1:", gateway->port());
    env.push_back("npm_config_proxy=" + proxy);
    env.push_back("npm_config_https_proxy=" + proxy);
    env.push_back("npm_config_noproxy=");
    env.push_back("HTTP_PROXY=" + proxy);
    env.push_back("HTTPS_PROXY=" + proxy);
    env.push_back(absl::StrCat("npm_config_cafile=", kCaInContainer));
    env.push_back(absl::StrCat("NODE_EXTRA_CA_CERTS=", kCaInContainer));
  }
  if (!seeded_cache_.empty()) {
    env.push_back(absl::StrCat("npm_config_cache=/home/ovvoc/", seeded_cache_));
  }
  if (network == Network::kResolve) {
    // Resolving runs no code but npm's: not even the program a repository's .npmrc names as
    // `git` (red team, issue 9: it ran, and its requests went upstream). The environment wins
    // over the project's .npmrc; a git dependency then fails to resolve, and says so.
    env.push_back("npm_config_git=/ovvoc/no-git-while-resolving-the-lockfile");
  }
  return env;
}

absl::StatusOr<std::unique_ptr<registry::Gateway>> SandboxSession::OpenGateway(
    const JobContext& job, Network network) {
  registry::GatewayOptions options;
  options.registries = endpoints_;
  options.mode = network == Network::kScript ? registry::GatewayMode::kScript
                                             : registry::GatewayMode::kResolve;
  if (network == Network::kScript) {
    if (!prefetched_) return absl::FailedPreconditionError("script mode before the prefetch");
    options.tarballs = prefetched_->tarballs;
    options.packages = prefetched_->packages;
    options.packages.insert(resolved_packuments_.begin(), resolved_packuments_.end());
  }
  OVVOC_ASSIGN_OR_RETURN(std::unique_ptr<registry::Gateway> gateway,
                         registry::Gateway::Start(std::move(options), *settings_.registry,
                                                  *job.env().clock, sandbox_->netns_path()));
  // Root's, in the read-only /run: a fresh CA per gateway, trusted by this container only.
  OVVOC_RETURN_IF_ERROR(files::WriteFileAtomic(
      absl::StrCat(disk_->control_dir(), "/", kCaFile), gateway->ca_pem(), 0644));
  return gateway;
}

void SandboxSession::RecordGateway(JobContext& job, absl::string_view phase,
                                   const registry::Gateway& gateway) {
  for (const std::string& package : gateway.ServedPackuments()) resolved_packuments_.insert(package);
  const std::vector<registry::GatewayEvent> events = gateway.Events();
  // Grouped: a container repeating refused requests cannot crowd out the job's other findings.
  for (ovvoc::v1::SecurityFinding& finding :
       registry::RefusalFindings(events, gateway.DroppedEvents(), phase)) {
    *Findings(job).Add() = std::move(finding);
  }
  for (const registry::GatewayEvent& event : events) {
    if (!event.refused && event.failed) {
      gateway_problems_.push_back(
          absl::StrCat(event.method, " ", event.path, ": ", event.reason));
    }
  }
  job.UpdateResult([&](ovvoc::v1::JobResult& result) {
    std::map<std::pair<std::string, int>, ovvoc::v1::EgressUsage*> usage;
    for (const registry::GatewayEvent& event : events) {
      if (event.refused || event.host.empty()) continue;
      ovvoc::v1::EgressUsage*& u = usage[{event.host, event.port}];
      if (u == nullptr) {
        for (ovvoc::v1::EgressUsage& seen : *result.mutable_egress()) {
          if (seen.host() == event.host && seen.port() == static_cast<uint32_t>(event.port)) {
            u = &seen;
          }
        }
      }
      if (u == nullptr) {
        u = result.add_egress();
        u->set_host(event.host);
        u->set_port(static_cast<uint32_t>(event.port));
      }
      u->set_requests(u->requests() + 1);
      if (event.failed) u->set_failed(u->failed() + 1);
      u->set_bytes_down(u->bytes_down() + event.bytes);
    }
  });
}

absl::Status SandboxSession::PrefetchLockfile(JobContext& job) {
  if (!disk_) return absl::FailedPreconditionError("the sandbox was not prepared");
  const std::string tree = disk_->tree_dir();
  // npm prefers the shrinkwrap when both are there.
  absl::StatusOr<std::string> lockfile =
      ReadFileBeneath(tree, "npm-shrinkwrap.json", kMaxLockfileBytes);
  if (absl::IsNotFound(lockfile.status())) {
    lockfile = ReadFileBeneath(tree, "package-lock.json", kMaxLockfileBytes);
  }
  if (!lockfile.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read the lockfile: ", lockfile.status().message()));
  }
  OVVOC_ASSIGN_OR_RETURN(registry::LockfilePackages locked,
                         registry::ReadLockfile(*lockfile, endpoints_));
  if (!locked.unsupported.empty()) {
    std::vector<std::string> shown(
        locked.unsupported.begin(),
        locked.unsupported.begin() + std::min(locked.unsupported.size(), kProblemsShown));
    return absl::FailedPreconditionError(absl::StrCat(
        "the lockfile names ", locked.unsupported.size(),
        " package(s) Ovvoc cannot install without network while dependency code runs: ",
        absl::StrJoin(shown, "; ")));
  }
  // (A proposal's session leaves the job's progress to the proposals phase: trials run side by
  // side.)
  if (who_ == job.spec().job_id()) {
    job.SetProgress("install", absl::StrCat("fetching ", locked.packages.size(), " packages"));
  }
  const absl::Time start = job.Now();
  // Bounded like a command: by the phase timeout and what is left of the job's.
  const absl::Time deadline = std::min(job.deadline(), start + limits_.phase_timeout);
  absl::StatusOr<registry::Prefetched> prefetched =
      registry::Prefetch(*settings_.registry, endpoints_, locked.packages, kPrefetchParallel,
                         [&job, deadline] { return job.cancelled() || job.Now() >= deadline; });
  if (!prefetched.ok() && !job.cancelled() && job.Now() >= deadline) {
    return absl::DeadlineExceededError(absl::StrCat(
        "fetching the lockfile's ", locked.packages.size(), " packages did not finish within ",
        absl::FormatDuration(deadline - start), ": the registry is too slow or not answering"));
  }
  if (!prefetched.ok()) {
    if (absl::IsDataLoss(prefetched.status())) {
      return absl::DataLossError(absl::StrCat("a registry served a tarball that does not match "
                                              "the lockfile, so nothing was installed: ",
                                              prefetched.status().message()));
    }
    return absl::UnavailableError(absl::StrCat("cannot fetch the lockfile's packages: ",
                                               prefetched.status().message()));
  }
  log::Info("job %s: %d packages ready (%d fetched, the rest cached) in %s", who_,
            locked.packages.size(), prefetched->fetched, absl::FormatDuration(job.Now() - start));
  prefetched_ = *std::move(prefetched);
  // What a bundle holds comes in its parent's tarball, but npm asks for the packument of a
  // bundled package that does not satisfy what the bundle wants of it: read now, with no
  // dependency code running, so that script mode serves it from the cache (issue 12: refused,
  // it was a blocked-egress finding against an update for what npm itself asked).
  constexpr size_t kMaxBundledPackuments = 256;
  for (const std::string& name : registry::PrefetchPackuments(
           *settings_.registry, endpoints_, locked.bundled, kMaxBundledPackuments,
           kPrefetchParallel,
           [&job, deadline] { return job.cancelled() || job.Now() >= deadline; })) {
    prefetched_->packages.insert(name);
  }
  // npm then finds every tarball in its own cache by integrity and asks the gateway for none. A
  // fresh name, made by the agent: nothing the job left in its home is written through.
  const std::string name = absl::StrCat(".ovvoc-npm-cache-", crypto::HexEncode(crypto::RandomBytes(6)));
  absl::StatusOr<int> seeded = registry::SeedNpmCache(
      *settings_.registry, endpoints_, *prefetched_, disk_->home_dir(), name, uid_->uid());
  if (seeded.ok()) {
    seeded_cache_ = name;
  } else {
    log::Warning("job %s: cannot seed npm's cache (npm will fetch through the gateway): %s", who_,
                 seeded.status().ToString());
  }
  return absl::OkStatus();
}

absl::Status SandboxSession::ClearHome() {
  if (!disk_) return absl::FailedPreconditionError("the sandbox was not prepared");
  const std::string home = disk_->home_dir();
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(home, ec)) {
    // remove_all removes a link, never its target; no job process runs to swap anything in.
    OVVOC_RETURN_IF_ERROR(files::RemoveTree(entry.path().string()));
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot read ", home, ": ", ec.message()));
  seeded_cache_.clear();
  return absl::OkStatus();
}

namespace {

// The node_modules folders at the top of `installed`'s packages, bins and hidden entries:
// "node_modules/a/node_modules/b" -> "node_modules", "packages/w/node_modules/c" ->
// "packages/w/node_modules".
std::set<std::string> NodeModulesRoots(const InstalledTree& installed) {
  std::set<std::string> roots;
  auto add = [&roots](const std::string& key) {
    size_t at = 0;
    while (at <= key.size()) {
      const size_t end = std::min(key.find('/', at), key.size());
      if (absl::string_view(key).substr(at, end - at) == "node_modules") {
        roots.insert(key.substr(0, end));
        return;
      }
      at = end + 1;
    }
  };
  for (const auto& [key, _] : installed.packages) add(key);
  for (const auto& [key, _] : installed.bins) add(key);
  for (const auto& [key, _] : installed.hidden) add(key);
  return roots;
}

constexpr char kHiddenLockfile[] = ".package-lock.json";

}  // namespace

absl::StatusOr<ClonedProject::KeptInstall> SandboxSession::KeepInstall(
    const InstalledTree& installed, const std::string& to) {
  if (!installed.complete) {
    return absl::FailedPreconditionError("the install made more than the agent reads");
  }
  const std::set<std::string> roots = NodeModulesRoots(installed);
  // Each must stand where npm makes one: in a directory of the repository's own (the root, a
  // workspace member's), which has none of its own (a committed node_modules is npm's to
  // replace). Else none is kept (red team, issue 12: a script planted newdir/node_modules, which
  // no proposal's tree could take).
  for (const std::string& root : roots) {
    const std::string parent = fs::path(root).parent_path().string();
    if (!CheckDirBeneath(source_dir_, parent).ok() ||
        !absl::IsNotFound(CheckDirBeneath(source_dir_, root))) {
      return absl::FailedPreconditionError(absl::StrCat(
          InertLine(root, 256), " is not where the repository lets npm make a node_modules"));
    }
  }
  ClonedProject::KeptInstall kept;
  kept.dir = to;
  OVVOC_RETURN_IF_ERROR(files::RemoveTree(to));
  OVVOC_RETURN_IF_ERROR(files::EnsureDir(to, 0700));
  TreeCopyOptions options;
  options.uid = ::geteuid();
  options.gid = ::getegid();
  options.skip_names = {kHiddenLockfile};
  options.max_bytes = limits_.disk_bytes;
  absl::Status status;
  for (const std::string& root : roots) {
    // The roots' parents are the repository's own directories, made here in the agent's copy:
    // the names come from the walk of the tree (no ".." among them), and nothing copied is
    // above a node_modules.
    const std::string parent = fs::path(root).parent_path().string();
    std::error_code ec;
    if (!parent.empty()) fs::create_directories(fs::path(to) / parent, ec);
    if (ec) {
      status = absl::InternalError(absl::StrCat("cannot make ", parent, ": ", ec.message()));
      break;
    }
    absl::StatusOr<TreeCopyStats> copied = CopyTreeBeneath(tree_dir(), root, to, root, options);
    if (!copied.ok()) {
      status = copied.status();
      break;
    }
    options.max_bytes -= std::min(options.max_bytes, copied->bytes);
    kept.roots.push_back(root);
  }
  if (!status.ok()) {
    (void)files::RemoveTree(to);
    return status;
  }
  return kept;
}

absl::Status SandboxSession::PutInstall(const ClonedProject::KeptInstall& kept,
                                        const std::set<std::string>& leave_out) {
  TreeCopyOptions options;
  options.skip_paths = leave_out;
  options.uid = uid_->uid();
  options.gid = uid_->uid();
  options.max_bytes = limits_.disk_bytes;
  for (const std::string& root : kept.roots) {
    OVVOC_RETURN_IF_ERROR(CopyTreeBeneath(kept.dir, root, tree_dir(), root, options).status());
  }
  return absl::OkStatus();
}

absl::Status SandboxSession::PutBackGit() {
  if (!disk_ || pristine_git_.empty()) {
    return absl::FailedPreconditionError("the sandbox was not prepared");
  }
  // (No job process runs: nothing can swap a path while it is replaced. remove_all removes a
  // link, never its target; the tree dir itself is the container's mount point.)
  const std::string git = disk_->tree_dir() + "/.git";
  OVVOC_RETURN_IF_ERROR(files::RemoveTree(git));
  OVVOC_RETURN_IF_ERROR(files::EnsureDir(git, 0755));
  OVVOC_RETURN_IF_ERROR(CopyWorkTree(pristine_git_, git));
  return ChownTree(git, uid_->uid());
}

absl::Status SandboxSession::ClearTmp(JobContext& job) {
  OVVOC_ASSIGN_OR_RETURN(
      sandbox::ExecResult r,
      Run(job, "tmp",
          {"/bin/sh", "-c",
           // Each directory opened to its owner as it is reached (before find descends), then
           // everything removed, then checked gone. /tmp itself is root's: left as it is.
           "find /tmp -mindepth 1 -type d -exec chmod u+rwx {} \\; ; "
           "find /tmp -mindepth 1 -delete && test -z \"$(ls -A /tmp)\""},
          Network::kNone));
  if (r.termination != ovvoc::v1::TERMINATION_EXITED || r.exit_code != 0) {
    // What it printed is the job's to shape: not repeated here.
    return absl::FailedPreconditionError(
        absl::StrCat("cannot empty the job's /tmp before its code runs (exit ", r.exit_code, ")"));
  }
  return absl::OkStatus();
}

std::vector<std::string> SandboxSession::Secrets() const {
  std::vector<std::string> secrets;
  for (const registry::RegistryEndpoint& endpoint : endpoints_) {
    for (const std::string& secret : {endpoint.credential.token(), endpoint.credential.password()}) {
      if (!secret.empty()) secrets.push_back(secret);
    }
    if (std::string header = endpoint.Authorization(); !header.empty()) {
      secrets.push_back(header.substr(header.find(' ') + 1));  // the Basic form too
    }
  }
  return secrets;
}

void SandboxSession::RecordAttempts(JobContext& job, absl::string_view phase) {
  if (!monitor_) return;
  for (ovvoc::v1::SecurityFinding& finding : registry::EgressFindings(monitor_->Drain(), phase)) {
    *Findings(job).Add() = std::move(finding);
  }
}

absl::StatusOr<sandbox::ExecResult> SandboxSession::Run(JobContext& job, absl::string_view phase,
                                                        std::vector<std::string> argv,
                                                        Network network) {
  if (!sandbox_) return absl::FailedPreconditionError("the sandbox was not prepared");
  const absl::Duration left = job.deadline() - job.Now();
  if (left <= absl::ZeroDuration()) {
    return absl::DeadlineExceededError("the job ran out of time before this phase");
  }
  gateway_problems_.clear();
  std::unique_ptr<registry::Gateway> gateway;
  if (network != Network::kNone) {
    OVVOC_ASSIGN_OR_RETURN(gateway, OpenGateway(job, network));
  }
  sandbox::ExecSpec exec;
  exec.argv = std::move(argv);
  exec.env = RegistryEnv(gateway.get(), network);
  if (const int npm = job.project().npm_major; npm != 0) {
    // The image's older npm first on the PATH; its node-gyp reads the headers' place under the
    // name npm 11 warns about.
    exec.env.push_back(absl::StrCat("PATH=/usr/local/lib/npm", npm, "/bin:", sandbox::kPath));
    exec.env.push_back("npm_config_nodedir=/usr/local");
  }
  exec.timeout = std::min(limits_.phase_timeout, left);
  absl::StatusOr<sandbox::ExecResult> result =
      sandbox_->Exec(exec, [&job] { return job.cancelled(); });
  if (gateway) {
    gateway->Close();  // every connection is cut: from here on, no network at all
    RecordGateway(job, phase, *gateway);
  }
  if (absl::Status s = sandbox_->KillStrays(); !s.ok()) {
    log::Warning("job %s: %s", job.spec().job_id(), s.ToString());
  }
  RecordAttempts(job, phase);  // after the strays: nothing is left to make more
  const uint64_t disk_bytes = disk_->UsedBytes();
  job.UpdateResult([disk_bytes](ovvoc::v1::JobResult& job_result) {
    ovvoc::v1::ResourceUsage* usage = job_result.mutable_resources();
    usage->set_disk_bytes(std::max(usage->disk_bytes(), disk_bytes));
  });
  return result;
}

void SandboxSession::Teardown() {
  monitor_.reset();
  if (sandbox_) {
    if (absl::Status s = sandbox_->Destroy(); !s.ok()) log::Warning("%s", s.ToString());
    sandbox_.reset();
  }
  if (disk_) {
    if (absl::Status s = disk_->Release(); !s.ok()) log::Warning("%s", s.ToString());
    disk_.reset();
  }
  uid_.reset();  // only once nothing of the job runs as it
  if (!pristine_git_.empty()) {
    if (absl::Status s = files::RemoveTree(pristine_git_); !s.ok())
      log::Warning("%s", s.ToString());
    pristine_git_.clear();
  }
}

}  // namespace ovvoc::agent
