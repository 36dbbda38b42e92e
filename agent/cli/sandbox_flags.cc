#include "agent/cli/sandbox_flags.h"

#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "agent/config/config.h"
#include "agent/pipeline/plan_step.h"
#include "agent/sandbox/backend_factory.h"
#include "agent/sandbox/image.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace ovvoc::agent::cli {
namespace {

absl::StatusOr<absl::Duration> ParsePositive(const char* flag, const std::string& text) {
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": \"", text, "\" is not a positive duration like 90s or 10m"));
  }
  return d;
}

}  // namespace

void AddSandboxFlags(CLI::App* command, SandboxFlags& flags,
                     const SandboxExtensions* extensions) {
  const char* group = "Sandbox";
  flags.extensions = extensions;
  std::vector<std::string> backends = {"auto", "docker", "oci"};
  if (extensions != nullptr) {
    for (const auto& [name, factory] : extensions->backends) backends.push_back(name);
  }
  command->add_option("--sandbox", flags.backend,
                      "Container backend: auto (docker when its socket answers, else oci), "
                      "docker or oci")
      ->check(CLI::IsMember(backends))
      ->capture_default_str()
      ->group(group);
  if (extensions != nullptr && extensions->add_flags) extensions->add_flags(command);
  command->add_option("--docker-socket", flags.docker_socket, "Docker Engine API socket")
      ->capture_default_str()
      ->group(group);
  AddRegistryFlags(command, flags, group);
  command
      ->add_option("--image-cache", flags.image_cache,
                   "Where the agent keeps the job images it prepares (each ~0.5 GB, made once: "
                   "10-20 s); agents on one machine may share one (default: STATE_DIR/images)")
      ->envname("OVVOC_AGENT_IMAGE_CACHE")
      ->group(group);
  command->add_option("--memory-mib", flags.memory_mib, "Memory per job, no swap")
      ->capture_default_str()
      ->group(group);
  command->add_option("--cpus", flags.cpus, "CPUs per job")->capture_default_str()->group(group);
  command->add_option("--cpuset", flags.cpuset,
                      "CPUs jobs may run on, e.g. 0 or 2-3 (default: any; --cpus still limits)")
      ->group(group);
  command
      ->add_option("--parallel-trials", flags.parallel_trials,
                   "Proposals a job proves at once, each in a container of its own with the "
                   "limits above (default: as many as the CPUs hold at --cpus each and the "
                   "memory at --memory-mib each, shared among --slots jobs; at most 4)")
      ->check(CLI::Range(1, 16))
      ->group(group);
  command->add_option("--pids", flags.pids, "Processes per job")
      ->capture_default_str()
      ->group(group);
  command->add_option("--disk-mib", flags.disk_mib, "Disk per job (work tree, npm cache)")
      ->capture_default_str()
      ->group(group);
  command->add_option("--tmp-mib", flags.tmp_mib, "/tmp per job (counts against memory)")
      ->capture_default_str()
      ->group(group);
  command->add_option("--phase-timeout", flags.phase_timeout, "Install, build or test, each")
      ->capture_default_str()
      ->group(group);
  command->add_option("--job-timeout", flags.job_timeout, "A whole job")
      ->capture_default_str()
      ->group(group);
}

void AddRegistryFlags(CLI::App* command, SandboxFlags& flags, const char* group) {
  command->add_option("--image-dir", flags.image_dir, "Where deploy/image/build.sh put images")
      ->capture_default_str()
      ->group(group);
  command->add_option("--image", flags.image,
                      "Job image identity sha256:<hex> (default: the image dir's current one)")
      ->group(group);
  command->add_option("--registry", flags.registry,
                      "npm registry URL to use instead of the job's (e.g. an internal mirror)")
      ->group(group);
  command->add_option("--allow-internal", flags.allow_internal,
                      "HOST:PORT of a registry that may resolve to a private or loopback "
                      "address (repeatable)")
      ->group(group);
  command->add_option("--registry-ca", flags.registry_ca,
                      "PEM bundle of the CAs to trust for registries instead of the system's "
                      "(an internal mirror's)")
      ->check(CLI::ExistingFile)
      ->group(group);
  command->add_option("--registry-credentials", flags.registry_credentials,
                      "JSON file of registry credentials the agent adds to its own requests "
                      "(never given to jobs): {\"registries\": [{\"url\": URL, \"token\": T}]}; "
                      "mode 0600")
      ->check(CLI::ExistingFile)
      ->group(group);
  command->add_option("--registry-cache-mib", flags.registry_cache_mib,
                      "Size of the agent's package cache (STATE_DIR/registry-cache), shared by "
                      "its jobs; least recently used packages go first")
      ->capture_default_str()
      ->group(group);
}

absl::StatusOr<std::vector<ovvoc::v1::Registry>> ReadRegistryCredentials(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a regular file"));
  }
  if (st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " holds registry credentials but others may read it: chown it to the "
                           "agent's user and chmod 600 it"));
  }
  OVVOC_ASSIGN_OR_RETURN(std::string text, files::ReadFile(path));
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (!doc.is_object() || !doc["registries"].is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": expected {\"registries\": [{\"url\": ..., \"token\": ...}]}"));
  }
  std::vector<ovvoc::v1::Registry> out;
  for (const nlohmann::json& entry : doc["registries"]) {
    auto text_of = [&entry](const char* key) {
      return entry.is_object() && entry.contains(key) && entry[key].is_string()
                 ? entry[key].get<std::string>()
                 : std::string();
    };
    ovvoc::v1::Registry registry;
    registry.set_url(text_of("url"));
    registry.mutable_credential()->set_token(text_of("token"));
    registry.mutable_credential()->set_username(text_of("username"));
    registry.mutable_credential()->set_password(text_of("password"));
    const bool basic = !registry.credential().username().empty();
    if (registry.url().empty() || registry.credential().token().empty() == !basic) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": each registry needs a \"url\" and either a \"token\" or a \"username\" "
                "and \"password\""));
    }
    if (!registry::RegistryEndpoint::FromProto(registry, false).ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": \"", registry.url(), "\" is not a registry URL"));
    }
    out.push_back(std::move(registry));
  }
  return out;
}

int CpusetSize(absl::string_view cpuset) {
  int size = 0;
  for (absl::string_view part : absl::StrSplit(cpuset, ',', absl::SkipWhitespace())) {
    std::pair<absl::string_view, absl::string_view> range = absl::StrSplit(part, '-');
    int first = 0, last = 0;
    if (!absl::SimpleAtoi(range.first, &first)) continue;
    if (range.second.empty()) {
      last = first;
    } else if (!absl::SimpleAtoi(range.second, &last)) {
      continue;
    }
    if (first >= 0 && last >= first) size += last - first + 1;
  }
  return size;
}

int DefaultParallelTrials(const SandboxFlags& flags) {
  int cpus = 0;
  if (!flags.cpuset.empty()) {
    cpus = CpusetSize(flags.cpuset);
  } else {
    cpu_set_t set;
    CPU_ZERO(&set);
    cpus = ::sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
  }
  const double slots = std::max(1, flags.slots);
  double fits = flags.cpus > 0 ? cpus / flags.cpus / slots : 1;
  const long pages = ::sysconf(_SC_PHYS_PAGES), page_size = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && page_size > 0 && flags.memory_mib > 0) {
    const double memory_mib =
        static_cast<double>(pages) * static_cast<double>(page_size) / (1 << 20);
    fits = std::min(fits, memory_mib / static_cast<double>(flags.memory_mib) / slots);
  }
  return std::clamp(static_cast<int>(fits), 1, 4);
}

absl::StatusOr<RegistryAccess> MakeRegistryAccess(const SandboxFlags& flags,
                                                  const std::string& state_dir) {
  RegistryAccess access;
  http::CurlOptions http_options;
  http_options.ca_file = flags.registry_ca;
  http_options.max_parallel = 16;
  access.http = http::NewCurlClient(http_options);
  OVVOC_ASSIGN_OR_RETURN(access.cache,
                         registry::RegistryCache::Open(state_dir + "/registry-cache",
                                                       flags.registry_cache_mib << 20));
  access.client =
      std::make_unique<registry::RegistryClient>(*access.http, *access.cache, Clock::Real());
  if (!flags.registry_credentials.empty()) {
    OVVOC_ASSIGN_OR_RETURN(access.credentials, ReadRegistryCredentials(flags.registry_credentials));
  }
  return access;
}

absl::StatusOr<std::unique_ptr<SandboxSetup>> MakeSandbox(const SandboxFlags& flags,
                                                          const std::string& state_dir) {
  auto setup = std::make_unique<SandboxSetup>();
  sandbox::Limits& limits = setup->settings.limits;
  if (flags.memory_mib < 64 || flags.cpus <= 0 || flags.pids < 16 || flags.disk_mib < 64 ||
      flags.tmp_mib < 1) {
    return absl::InvalidArgumentError(
        "sandbox limits too small: at least 64 MiB memory, some CPU, 16 pids, 64 MiB disk");
  }
  limits.memory_bytes = flags.memory_mib << 20;
  limits.cpu_millis = static_cast<uint32_t>(flags.cpus * 1000);
  limits.pids = flags.pids;
  limits.cpuset = flags.cpuset;
  limits.disk_bytes = flags.disk_mib << 20;
  limits.tmp_bytes = flags.tmp_mib << 20;
  OVVOC_ASSIGN_OR_RETURN(limits.phase_timeout, ParsePositive("--phase-timeout", flags.phase_timeout));
  OVVOC_ASSIGN_OR_RETURN(limits.job_timeout, ParsePositive("--job-timeout", flags.job_timeout));
  setup->settings.parallel_trials =
      flags.parallel_trials > 0 ? flags.parallel_trials : DefaultParallelTrials(flags);
  setup->settings.registry_override = flags.registry;
  setup->settings.allow_internal = flags.allow_internal;
  const SandboxExtensions* extensions = flags.extensions;
  const SandboxExtensions::Factory* extra = nullptr;
  if (extensions != nullptr) {
    auto it = extensions->backends.find(flags.backend);
    if (it != extensions->backends.end()) extra = &it->second;
  }
  if (extra != nullptr) {
    OVVOC_ASSIGN_OR_RETURN(setup->backend, (*extra)());
  } else {
    sandbox::BackendConfig config;
    config.kind = flags.backend;
    config.image.image_dir = flags.image_dir;
    config.image.digest = flags.image;
    config.docker_socket = flags.docker_socket;
    config.state_dir = state_dir;
    if (!flags.image_cache.empty()) {
      OVVOC_ASSIGN_OR_RETURN(config.image_cache, OwnedDir(flags.image_cache, "the image cache"));
    }
    OVVOC_ASSIGN_OR_RETURN(setup->backend, sandbox::MakeBackend(config));
  }
  if (extensions != nullptr && extensions->wrap) {
    setup->backend = extensions->wrap(std::move(setup->backend));
  }
  setup->settings.backend = setup->backend.get();
  sandbox::ImageConfig image{flags.image_dir, flags.image};
  if (absl::StatusOr<std::string> digest = sandbox::ResolveDigest(image); digest.ok()) {
    setup->settings.image_digest = *digest;
    if (auto runtime = sandbox::ReadImageRuntime(image, *digest); runtime.ok()) {
      setup->settings.node_version = runtime->node;
      setup->settings.npm_version = runtime->npm;
    }
  }
  // An image named by --image is the only one; else jobs run the image of their node major.
  if (flags.image.empty()) {
    setup->settings.node_images = sandbox::FindNodeImages(
        image, std::vector<int>(std::begin(kSupportedNodeMajors), std::end(kSupportedNodeMajors)));
  }

  OVVOC_ASSIGN_OR_RETURN(RegistryAccess access, MakeRegistryAccess(flags, state_dir));
  setup->http = std::move(access.http);
  setup->registry_cache = std::move(access.cache);
  setup->registry = std::move(access.client);
  setup->settings.registry = setup->registry.get();
  setup->settings.credentials = std::move(access.credentials);
  return setup;
}

}  // namespace ovvoc::agent::cli
