// DockerClient: the Docker Engine API over its Unix socket, with libcurl. Only what the docker
// backend needs. Each call uses its own curl handle, so calls may run on any thread.
#ifndef OVVOC_AGENT_SANDBOX_DOCKER_DOCKER_CLIENT_H_
#define OVVOC_AGENT_SANDBOX_DOCKER_DOCKER_CLIENT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace ovvoc::agent::sandbox {

class DockerClient {
 public:
  explicit DockerClient(std::string socket_path = "/var/run/docker.sock")
      : socket_path_(std::move(socket_path)) {}

  const std::string& socket_path() const { return socket_path_; }

  struct Response {
    long status = 0;
    std::string body;
    nlohmann::json Json() const;  // null when the body is not JSON
  };

  // `path` starts with "/" and excludes the API version prefix. A body is sent as JSON.
  absl::StatusOr<Response> Call(absl::string_view method, absl::string_view path,
                                const nlohmann::json* body = nullptr,
                                absl::Duration timeout = absl::Seconds(60)) const;

  // POSTs the contents of `file` with `content_type` (docker import of a rootfs tar).
  absl::StatusOr<Response> Upload(absl::string_view path, const std::string& file,
                                  absl::string_view content_type) const;

  // OK when a daemon answers on the socket.
  absl::Status Ping() const;

  // An error status for a non-2xx response, with the daemon's message.
  static absl::Status ErrorFor(absl::string_view what, const Response& response);

 private:
  std::string socket_path_;
};

}  // namespace ovvoc::agent::sandbox

#endif  // OVVOC_AGENT_SANDBOX_DOCKER_DOCKER_CLIENT_H_
