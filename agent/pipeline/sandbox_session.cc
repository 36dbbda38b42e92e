#include "agent/pipeline/sandbox_session.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/sandbox/hardening.h"
#include "common/files.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace ovvoc::agent {
namespace {

namespace fs = std::filesystem;

// Copies the clone's work tree (never .git) into the job disk, owned by `uid`.
// Symlinks are copied as links, never followed.
absl::Status CopyTree(const std::string& from, const std::string& to, uint32_t uid) {
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(from, ec)) {
    if (entry.path().filename() == ".git") continue;
    fs::copy(entry.path(), fs::path(to) / entry.path().filename(),
             fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot copy the work tree: ", ec.message()));
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot read the work tree: ", ec.message()));
  for (auto it = fs::recursive_directory_iterator(to, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (::lchown(it->path().c_str(), uid, uid) != 0) {
      return absl::InternalError(absl::StrCat("cannot chown ", it->path().string()));
    }
  }
  return absl::OkStatus();
}

struct RegistryUrl {
  std::string url;
  std::string host;
  int port = 443;
};

absl::StatusOr<RegistryUrl> ParseRegistry(absl::string_view url) {
  RegistryUrl out;
  out.url = std::string(url);
  absl::string_view rest;
  if (absl::StartsWith(url, "https://")) {
    rest = url.substr(8);
    out.port = 443;
  } else if (absl::StartsWith(url, "http://")) {
    rest = url.substr(7);
    out.port = 80;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("registry URL \"", url, "\" is not http(s)"));
  }
  absl::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.empty() || absl::StrContains(authority, "@")) {
    return absl::InvalidArgumentError(absl::StrCat("registry URL \"", url, "\" has no plain host"));
  }
  const size_t colon = authority.rfind(':');
  if (colon != absl::string_view::npos && authority.find(']') == absl::string_view::npos) {
    if (!absl::SimpleAtoi(authority.substr(colon + 1), &out.port)) {
      return absl::InvalidArgumentError(absl::StrCat("registry URL \"", url, "\" has a bad port"));
    }
    authority = authority.substr(0, colon);
  }
  out.host = std::string(authority);
  if (!absl::EndsWith(out.url, "/")) out.url += "/";
  return out;
}

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

absl::Status SandboxSession::Prepare(JobContext& job) {
  if (settings_.backend == nullptr) return absl::FailedPreconditionError("no sandbox backend");
  limits_ = sandbox::Tighten(settings_.limits, job.spec().limits());
  registries_ = JobRegistries(job.spec(), settings_.registry_override);
  OVVOC_ASSIGN_OR_RETURN(uid_, sandbox::JobUid::Acquire(settings_.uid_lock_dir));
  OVVOC_ASSIGN_OR_RETURN(
      disk_, sandbox::JobDisk::Create(job.work_dir() + "/disk.img", job.work_dir() + "/disk",
                                      limits_.disk_bytes, uid_->uid()));
  OVVOC_RETURN_IF_ERROR(CopyTree(job.repo_dir(), disk_->tree_dir(), uid_->uid()));

  sandbox::SandboxSpec spec;
  spec.name = absl::StrCat("ovvoc-", job.spec().job_id(), "-", job.spec().lease().attempt());
  spec.job_id = job.spec().job_id();
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

std::vector<std::string> SandboxSession::RegistryEnv(int proxy_port) const {
  std::vector<std::string> env;
  for (const ovvoc::v1::Registry& registry : registries_) {
    env.push_back(registry.scope().empty() ? "npm_config_registry=" + registry.url()
                                           : absl::StrCat("npm_config_", registry.scope(),
                                                          ":registry=", registry.url()));
  }
  if (proxy_port > 0) {
    const std::string proxy = absl::StrCat("http://127.0.0.1:", proxy_port);
    env.push_back("npm_config_proxy=" + proxy);
    env.push_back("npm_config_https_proxy=" + proxy);
    env.push_back("npm_config_noproxy=");
    env.push_back("HTTP_PROXY=" + proxy);
    env.push_back("HTTPS_PROXY=" + proxy);
  }
  return env;
}

absl::StatusOr<std::unique_ptr<registry::EgressProxy>> SandboxSession::OpenProxy() {
  registry::EgressPolicy policy;
  for (const ovvoc::v1::Registry& registry : registries_) {
    OVVOC_ASSIGN_OR_RETURN(RegistryUrl parsed, ParseRegistry(registry.url()));
    registry::EgressEndpoint endpoint{parsed.host, parsed.port, false};
    // Only the agent's own configuration may open internal addresses, never the job.
    const std::string host_port = absl::StrCat(parsed.host, ":", parsed.port);
    endpoint.allow_internal =
        std::find(settings_.allow_internal.begin(), settings_.allow_internal.end(), host_port) !=
        settings_.allow_internal.end();
    policy.allowed.push_back(endpoint);
  }
  return registry::EgressProxy::Start(std::move(policy), sandbox_->netns_path());
}

void SandboxSession::RecordProxy(JobContext& job, const registry::EgressProxy& proxy) {
  std::map<std::pair<std::string, int>, ovvoc::v1::EgressUsage*> usage;
  for (const registry::EgressEvent& event : proxy.Events()) {
    if (event.allowed) {
      ovvoc::v1::EgressUsage*& u = usage[{event.host, event.port}];
      if (u == nullptr) {
        u = job.result().add_egress();
        u->set_host(event.host);
        u->set_port(static_cast<uint32_t>(event.port));
      }
      u->set_connections(u->connections() + 1);
      if (!event.connected) u->set_failed(u->failed() + 1);
      u->set_bytes_up(u->bytes_up() + event.bytes_up);
      u->set_bytes_down(u->bytes_down() + event.bytes_down);
      continue;
    }
    ovvoc::v1::SecurityFinding* finding = job.result().add_findings();
    finding->set_kind("blocked-egress");
    finding->set_severity(ovvoc::v1::SEVERITY_HIGH);
    finding->set_detail(
        absl::StrCat(event.method.empty() ? "request" : event.method, " ", event.host,
                     event.port ? absl::StrCat(":", event.port) : "",
                     " refused by the egress proxy during install: ", event.reason));
  }
  if (const uint64_t dropped = proxy.DroppedEvents(); dropped > 0) {
    ovvoc::v1::SecurityFinding* finding = job.result().add_findings();
    finding->set_kind("egress-flood");
    finding->set_severity(ovvoc::v1::SEVERITY_MEDIUM);
    finding->set_detail(absl::StrCat(dropped,
                                     " more attempts through the egress proxy during "
                                     "install, counted but not itemised"));
  }
}

void SandboxSession::RecordAttempts(JobContext& job, absl::string_view phase) {
  if (!monitor_) return;
  for (ovvoc::v1::SecurityFinding& finding : registry::EgressFindings(monitor_->Drain(), phase)) {
    *job.result().add_findings() = std::move(finding);
  }
}

absl::StatusOr<sandbox::ExecResult> SandboxSession::Run(JobContext& job, absl::string_view phase,
                                                        std::vector<std::string> argv,
                                                        bool network) {
  if (!sandbox_) return absl::FailedPreconditionError("the sandbox was not prepared");
  const absl::Duration left = job.deadline() - job.Now();
  if (left <= absl::ZeroDuration()) {
    return absl::DeadlineExceededError("the job ran out of time before this phase");
  }
  std::unique_ptr<registry::EgressProxy> proxy;
  if (network) {
    OVVOC_ASSIGN_OR_RETURN(proxy, OpenProxy());
  }
  sandbox::ExecSpec exec;
  exec.argv = std::move(argv);
  exec.env = RegistryEnv(proxy ? proxy->port() : 0);
  exec.timeout = std::min(limits_.phase_timeout, left);
  absl::StatusOr<sandbox::ExecResult> result =
      sandbox_->Exec(exec, [&job] { return job.cancelled(); });
  if (proxy) {
    proxy->Close();  // every tunnel is torn down: from here on, no network at all
    RecordProxy(job, *proxy);
  }
  if (absl::Status s = sandbox_->KillStrays(); !s.ok()) {
    log::Warning("job %s: %s", job.spec().job_id(), s.ToString());
  }
  RecordAttempts(job, phase);  // after the strays: nothing is left to make more
  ovvoc::v1::ResourceUsage* usage = job.result().mutable_resources();
  usage->set_disk_bytes(std::max(usage->disk_bytes(), disk_->UsedBytes()));
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
}

}  // namespace ovvoc::agent
