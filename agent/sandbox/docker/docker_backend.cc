#include "agent/sandbox/docker/docker_backend.h"

#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "agent/sandbox/cgroup.h"
#include "agent/sandbox/container_exec.h"
#include "agent/sandbox/docker/docker_client.h"
#include "agent/sandbox/hardening.h"
#include "agent/sandbox/init_channel.h"
#include "agent/sandbox/job_disk.h"
#include "agent/sandbox/loop_device.h"
#include "common/files.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace ovvoc::agent::sandbox {
namespace {

using Json = nlohmann::json;

std::string Escape(absl::string_view text) {
  std::string out;
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') {
      out.push_back(c);
    } else {
      absl::StrAppend(&out, "%", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    }
  }
  return out;
}

// A job image as this backend uses it (PrepareDockerImage).
struct DockerImage {
  std::string id;            // the checked image id of the frame: "sha256:<hex>"
  std::string rootfs_image;  // the ext4 image whose /usr each container binds
};

class DockerSandbox final : public ContainerSandbox {
 public:
  DockerSandbox(const DockerClient& client, SandboxSpec spec, std::string mount_dir)
      : ContainerSandbox(std::move(spec)), client_(client), mount_dir_(std::move(mount_dir)) {}
  ~DockerSandbox() override { (void)Destroy(); }

  absl::Status Start(const DockerImage& image, const std::string& owner) {
    // The image on the host for this container alone, read-only: the job sees its /usr as
    // "/usr" of a loop device, not as a path of the agent's.
    OVVOC_RETURN_IF_ERROR(files::EnsureDir(mount_dir_, 0700));
    mounted_ = true;
    OVVOC_RETURN_IF_ERROR(MountImageReadOnly(image.rootfs_image, mount_dir_));
    OVVOC_RETURN_IF_ERROR(ListenForInit());
    Json request = DockerCreateRequest(spec_, image.id, mount_dir_ + "/usr", owner);
    OVVOC_ASSIGN_OR_RETURN(
        DockerClient::Response created,
        client_.Call("POST", "/containers/create?name=" + Escape(spec_.name), &request));
    if (created.status != 201) return DockerClient::ErrorFor("create container", created);
    id_ = created.Json().value("Id", "");
    OVVOC_ASSIGN_OR_RETURN(DockerClient::Response started,
                           client_.Call("POST", "/containers/" + id_ + "/start"));
    if (started.status != 204 && started.status != 304) {
      return DockerClient::ErrorFor("start container", started);
    }
    OVVOC_ASSIGN_OR_RETURN(DockerClient::Response inspected,
                           client_.Call("GET", "/containers/" + id_ + "/json"));
    Json state = inspected.Json();
    const int pid = state.is_object() ? state["State"].value("Pid", 0) : 0;
    if (pid <= 0) return absl::InternalError("docker reports no pid for the container's init");
    return Attach([pid](int peer) { return peer == pid; });
  }

  absl::Status Destroy() override {
    absl::Status status = RemoveContainer();
    if (mounted_) {  // after the container: its /usr is a bind of this mount
      if (::umount2(mount_dir_.c_str(), MNT_DETACH) != 0 && errno != EINVAL) {
        log::Warning("cannot unmount %s: %s", mount_dir_, std::strerror(errno));
      }
      JobDisk::UnmountAllUnder(mount_dir_);
      ::rmdir(mount_dir_.c_str());
      mounted_ = false;
    }
    return status;
  }

 private:
  absl::Status RemoveContainer() {
    if (id_.empty()) return absl::OkStatus();
    absl::StatusOr<DockerClient::Response> removed =
        client_.Call("DELETE", "/containers/" + id_ + "?force=true&v=true");
    id_.clear();
    if (!removed.ok()) return removed.status();
    if (removed->status != 204 && removed->status != 404) {
      return DockerClient::ErrorFor("remove container", *removed);
    }
    return absl::OkStatus();
  }

  const DockerClient& client_;
  const std::string mount_dir_;  // where the image is mounted on the host for this container
  bool mounted_ = false;
  std::string id_;
};

// The image id of `tag` when it is the image whose only layer is the tar with digest `digest`.
absl::StatusOr<std::string> CheckImage(const DockerClient& client, const std::string& tag,
                                       absl::string_view digest) {
  OVVOC_ASSIGN_OR_RETURN(DockerClient::Response inspected,
                         client.Call("GET", "/images/" + Escape(tag) + "/json"));
  if (inspected.status == 404) return absl::NotFoundError(tag + " is not in docker");
  Json image = inspected.Json();
  Json layers = image.is_object() ? image["RootFS"]["Layers"] : Json();
  if (!layers.is_array() || layers.size() != 1 || layers[0] != std::string(digest)) {
    return absl::DataLossError(
        absl::StrCat("refusing docker image ", tag, ": its layer is not ", digest));
  }
  // Nothing of an image's config may act on its containers (red team: the same layer imported
  // with VOLUME gave jobs a writable docker volume; a HEALTHCHECK would run outside the init).
  const Json config = image.is_object() && image.contains("Config") ? image["Config"] : Json();
  for (const char* key : {"Volumes", "Healthcheck", "OnBuild", "Entrypoint", "Shell", "Env",
                          "ExposedPorts", "User", "WorkingDir", "StopSignal"}) {
    const Json value = config.is_object() ? config.value(key, Json()) : Json();
    const bool unset =
        value.is_null() || (value.is_string() && value.get_ref<const std::string&>().empty()) ||
        ((value.is_array() || value.is_object()) && value.empty());
    if (!unset) {
      return absl::DataLossError(
          absl::StrCat("refusing docker image ", tag, ": its config sets ", key));
    }
  }
  const std::string id = image.is_object() ? image.value("Id", "") : "";
  if (!absl::StartsWith(id, "sha256:")) {
    return absl::DataLossError(absl::StrCat("docker reports no image id for ", tag));
  }
  return id;
}

std::string TagOf(absl::string_view digest) {
  return "ovvoc-job:" + DigestHex(digest).substr(0, 12);
}

// The frame of the job image `digest` in docker, imported from the agent's own frame tar when
// the daemon lacks it and checked either way (its one layer is that tar), with the ext4 image
// to bind /usr from. Containers are made from the id that was checked, never from a tag that
// could be moved in between.
absl::StatusOr<DockerImage> EnsureImage(const DockerClient& client, const DockerOptions& options,
                                        absl::string_view digest) {
  OVVOC_ASSIGN_OR_RETURN(DockerImageParts parts,
                         PrepareDockerImage(options.image, digest, options.image_cache));
  const std::string hex = DigestHex(parts.frame_digest).substr(0, 12);
  const std::string tag = "ovvoc-job-frame:" + hex;
  absl::StatusOr<std::string> checked = CheckImage(client, tag, parts.frame_digest);
  if (absl::IsNotFound(checked.status())) {
    log::Info("importing the frame of job image %s into docker as %s", digest, tag);
    const std::string path = absl::StrCat(
        "/images/create?fromSrc=-&repo=ovvoc-job-frame&tag=", hex, "&changes=",
        Escape(absl::StrCat("LABEL ovvoc.rootfs.sha256=", DigestHex(digest))));
    OVVOC_ASSIGN_OR_RETURN(DockerClient::Response imported,
                           client.Upload(path, parts.frame_tar, "application/x-tar"));
    if (imported.status != 200) return DockerClient::ErrorFor("import job image", imported);
    checked = CheckImage(client, tag, parts.frame_digest);
  }
  if (!checked.ok()) return checked.status();
  return DockerImage{*std::move(checked), std::move(parts.rootfs_image)};
}

class DockerBackend final : public Backend {
 public:
  DockerBackend(DockerOptions options, DockerImage default_image)
      : options_(std::move(options)), client_(options_.socket) {
    images_[options_.image_digest] = std::move(default_image);
  }

  absl::string_view name() const override { return "docker"; }

  absl::StatusOr<std::unique_ptr<Sandbox>> Create(const SandboxSpec& spec) override {
    OVVOC_RETURN_IF_ERROR(CheckContainerName(spec.name));
    OVVOC_ASSIGN_OR_RETURN(DockerImage image,
                           ImageFor(spec.image.empty() ? options_.image_digest : spec.image));
    auto sandbox = std::make_unique<DockerSandbox>(client_, spec, MountsDir() + "/" + spec.name);
    OVVOC_RETURN_IF_ERROR(sandbox->Start(image, options_.owner));
    return sandbox;
  }

  absl::Status ReapLeftovers() override {
    const std::string filter =
        Escape(Json{{"label", {kJobLabel, absl::StrCat(kOwnerLabel, "=", options_.owner)}}}.dump());
    OVVOC_ASSIGN_OR_RETURN(DockerClient::Response listed,
                           client_.Call("GET", "/containers/json?all=true&filters=" + filter));
    Json containers = listed.Json();
    if (!containers.is_array()) return DockerClient::ErrorFor("list containers", listed);
    for (const Json& c : containers) {
      const std::string id = c.value("Id", "");
      log::Info("removing leftover container %s", id.substr(0, 12));
      (void)client_.Call("DELETE", "/containers/" + id + "?force=true&v=true");
    }
    // And the images mounted for them (this agent holds its state dir).
    JobDisk::UnmountAllUnder(MountsDir());
    std::error_code ec;
    for (const auto& dir : std::filesystem::directory_iterator(MountsDir(), ec)) {
      ::rmdir(dir.path().c_str());
    }
    return absl::OkStatus();
  }

  const DockerClient& client() const { return client_; }

 private:
  std::string MountsDir() const { return options_.state_dir + "/docker-mounts"; }

  // The image of `digest`, made, imported and checked on its first use (EnsureImage).
  absl::StatusOr<DockerImage> ImageFor(const std::string& digest) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto it = images_.find(digest);
    if (it != images_.end()) return it->second;
    OVVOC_ASSIGN_OR_RETURN(DockerImage image, EnsureImage(client_, options_, digest));
    return images_[digest] = std::move(image);
  }

  const DockerOptions options_;
  const DockerClient client_;
  absl::Mutex mu_;
  std::map<std::string, DockerImage> images_ ABSL_GUARDED_BY(mu_);  // by job image digest
};

}  // namespace

std::string DockerImageTag(absl::string_view digest) { return TagOf(digest); }

nlohmann::json DockerCreateRequest(const SandboxSpec& spec, const std::string& image_id,
                                   const std::string& usr_dir, const std::string& owner) {
  const Limits& limits = spec.limits;
  const int64_t memory = static_cast<int64_t>(limits.memory_bytes);
  Json request = Json{
      {"Image", image_id},
      {"Cmd", {kInitPath, kInitSocketInContainer}},
      {"Entrypoint", Json()},
      {"User", absl::StrCat(spec.uid, ":", spec.uid)},
      {"Env", spec.env},
      {"WorkingDir", "/"},
      {"Hostname", "ovvoc-job"},
      {"Labels", {{kJobLabel, spec.job_id}, {kOwnerLabel, owner}}},
      {"Healthcheck", {{"Test", {"NONE"}}}},
      {"HostConfig",
       {{"NetworkMode", "none"},
        // As in the image (an empty resolv.conf: the resolver's default is 127.0.0.1), not the
        // host's resolver and search domains; a query is then seen by the egress monitor.
        {"Dns", {"127.0.0.1"}},
        {"DnsSearch", {"."}},
        {"ReadonlyRootfs", true},
        {"CapDrop", {"ALL"}},
        // The seccomp filter is installed by the init itself (seccomp_filter.h), the same one
        // as on the oci backend; Docker's own would only be compiled and stacked for nothing.
        {"SecurityOpt", {"no-new-privileges:true", "seccomp=unconfined"}},
        {"Memory", memory},
        {"MemorySwap", memory},  // memory + swap: no swap
        {"NanoCpus", static_cast<int64_t>(limits.cpu_millis) * 1'000'000},
        {"PidsLimit", limits.pids},
        {"Tmpfs", {{"/tmp", absl::StrCat("rw,nosuid,nodev,mode=1777,size=", limits.tmp_bytes)}}},
        {"Binds",
         {spec.workspace_dir + ":/workspace:rw", spec.home_dir + ":/home/ovvoc:rw",
          spec.control_dir + ":/run:ro"}},
        {"IpcMode", "private"},
        // Replaces Docker's defaults: the same lists as the oci backend's.
        {"MaskedPaths", MaskedPaths()},
        {"ReadonlyPaths", ReadonlyPaths()},
        {"OomScoreAdj", 1000},
        {"Ulimits",
         {{{"Name", "nofile"}, {"Soft", 4096}, {"Hard", 4096}},
          {{"Name", "core"}, {"Soft", 0}, {"Hard", 0}}}},
        // The init sends its stdio to /dev/null; no log driver either, so nothing a job
        // writes can reach dockerd's disk.
        {"LogConfig", {{"Type", "none"}, {"Config", Json::object()}}},
        {"Init", false},
        {"AutoRemove", false}}},
  };
  if (!usr_dir.empty()) {
    // The image's runtime, read-only: no capability remounts it. Bound from the agent's ext4
    // image of the verified tar (MountImageReadOnly); docker's bind does not keep that mount's
    // nosuid and nodev, so what holds is that the image has no setuid file and no device
    // (deploy/image/build.sh refuses both) and that the job runs with no-new-privileges.
    request["HostConfig"]["Mounts"] = Json::array({Json{
        {"Type", "bind"},
        {"Source", usr_dir},
        {"Target", "/usr"},
        {"ReadOnly", true},
    }});
  }
  if (!limits.cpuset.empty()) request["HostConfig"]["CpusetCpus"] = limits.cpuset;
  if (!spec.etc_dir.empty()) {
    // Docker binds its own copies from /var/lib/docker/containers/<id>/ unless given these.
    for (const char* file : {"hosts", "hostname", "resolv.conf"}) {
      request["HostConfig"]["Binds"].push_back(
          absl::StrCat(spec.etc_dir, "/", file, ":/etc/", file, ":ro"));
    }
  }
  return request;
}

absl::StatusOr<std::unique_ptr<Backend>> MakeDockerBackend(DockerOptions options) {
  if (options.state_dir.empty() || options.image_cache.empty()) {
    return absl::InvalidArgumentError(
        "the docker backend needs the agent's state dir and image cache");
  }
  DockerClient client(options.socket);
  OVVOC_RETURN_IF_ERROR(client.Ping());
  OVVOC_ASSIGN_OR_RETURN(DockerImage image, EnsureImage(client, options, options.image_digest));
  return std::unique_ptr<Backend>(new DockerBackend(std::move(options), std::move(image)));
}

}  // namespace ovvoc::agent::sandbox
