#include "agent/sandbox/docker/docker_backend.h"

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "agent/sandbox/cgroup.h"
#include "agent/sandbox/container_exec.h"
#include "agent/sandbox/docker/docker_client.h"
#include "agent/sandbox/hardening.h"
#include "agent/sandbox/init_channel.h"
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

class DockerSandbox final : public ContainerSandbox {
 public:
  DockerSandbox(const DockerClient& client, SandboxSpec spec)
      : ContainerSandbox(std::move(spec)), client_(client) {}
  ~DockerSandbox() override { (void)Destroy(); }

  absl::Status Start(const std::string& image, const std::string& owner) {
    OVVOC_RETURN_IF_ERROR(ListenForInit());
    Json request = DockerCreateRequest(spec_, image, owner);
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

 private:
  const DockerClient& client_;
  std::string id_;
};

class DockerBackend final : public Backend {
 public:
  DockerBackend(DockerOptions options, std::string image)
      : options_(std::move(options)), client_(options_.socket), image_(std::move(image)) {}

  absl::string_view name() const override { return "docker"; }

  absl::StatusOr<std::unique_ptr<Sandbox>> Create(const SandboxSpec& spec) override {
    auto sandbox = std::make_unique<DockerSandbox>(client_, spec);
    OVVOC_RETURN_IF_ERROR(sandbox->Start(image_, options_.owner));
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
    return absl::OkStatus();
  }

  const DockerClient& client() const { return client_; }

 private:
  const DockerOptions options_;
  const DockerClient client_;
  const std::string image_;
};

// OK when `tag` is the image whose only layer is the tar with digest `digest`.
absl::Status CheckImage(const DockerClient& client, const std::string& tag,
                        absl::string_view digest) {
  OVVOC_ASSIGN_OR_RETURN(DockerClient::Response inspected,
                         client.Call("GET", "/images/" + Escape(tag) + "/json"));
  if (inspected.status == 404) return absl::NotFoundError(tag + " is not in docker");
  Json image = inspected.Json();
  Json layers = image.is_object() ? image["RootFS"]["Layers"] : Json();
  if (!layers.is_array() || layers.size() != 1 || layers[0] != std::string(digest)) {
    return absl::DataLossError(
        absl::StrCat("refusing docker image ", tag, ": its layer is not the job image ", digest));
  }
  return absl::OkStatus();
}

}  // namespace

std::string DockerImageTag(absl::string_view digest) {
  return "ovvoc-job:" + DigestHex(digest).substr(0, 12);
}

nlohmann::json DockerCreateRequest(const SandboxSpec& spec, const std::string& image,
                                   const std::string& owner) {
  const Limits& limits = spec.limits;
  const int64_t memory = static_cast<int64_t>(limits.memory_bytes);
  Json request = Json{
      {"Image", image},
      {"Cmd", {kInitPath, kInitSocketInContainer}},
      {"Entrypoint", Json()},
      {"User", absl::StrCat(spec.uid, ":", spec.uid)},
      {"Env", spec.env},
      {"WorkingDir", "/"},
      {"Hostname", "ovvoc-job"},
      {"Labels", {{kJobLabel, spec.job_id}, {kOwnerLabel, owner}}},
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
  DockerClient client(options.socket);
  OVVOC_RETURN_IF_ERROR(client.Ping());
  const std::string tag = DockerImageTag(options.image_digest);
  absl::Status checked = CheckImage(client, tag, options.image_digest);
  if (absl::IsNotFound(checked)) {
    // Import it from the verified tar: its layer digest is then the tar's sha256.
    OVVOC_ASSIGN_OR_RETURN(std::string tar, VerifiedImageTar(options.image, options.image_digest));
    log::Info("importing job image %s into docker as %s", options.image_digest, tag);
    const std::string path = absl::StrCat(
        "/images/create?fromSrc=-&repo=ovvoc-job&tag=",
        DigestHex(options.image_digest).substr(0, 12), "&changes=",
        Escape(absl::StrCat("LABEL ovvoc.rootfs.sha256=", DigestHex(options.image_digest))));
    OVVOC_ASSIGN_OR_RETURN(DockerClient::Response imported,
                           client.Upload(path, tar, "application/x-tar"));
    if (imported.status != 200) return DockerClient::ErrorFor("import job image", imported);
    checked = CheckImage(client, tag, options.image_digest);
  }
  OVVOC_RETURN_IF_ERROR(checked);
  return std::unique_ptr<Backend>(new DockerBackend(std::move(options), tag));
}

}  // namespace ovvoc::agent::sandbox
