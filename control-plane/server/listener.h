// AgentListener: the TCP socket agents connect to. We accept its connections ourselves and hand
// them to gRPC (an ExternalConnectionAcceptor), because gRPC 1.51 closes its listener for good
// on the first accept4() that fails with EMFILE: 1,100 idle connections against the default
// 1,024 open files took the control plane off the network while the process kept running.
//
// Here a full file table never closes the listener: a connection is taken only while the
// process has kReservedFds descriptors to spare below its limit (the store, the admin socket
// and gRPC's own need them), fewer than `max_connections` are open, and its host has fewer than
// `max_per_host` open (one IPv4 address, one IPv6 /64: one host cannot take every slot from
// the agents); past that it is
// closed at once, and EMFILE is waited out. A host's connections are counted by descriptor and
// socket inode, since gRPC closes them without telling us: a descriptor whose inode changed was
// closed (and reused). gRPC bounds the rest: the TLS handshake's time, idle connections,
// connection age and buffered memory (ControlPlane's channel arguments).
//
// Also watches the admin socket (served by gRPC's own listener): if the kernel no longer lists
// it as listening, or the accept loop fails for good, `on_fatal` runs once, so that the
// process can exit non-zero and its supervisor restart it. Start() once; Stop() joins.
#ifndef OVVOC_CONTROL_PLANE_SERVER_LISTENER_H_
#define OVVOC_CONTROL_PLANE_SERVER_LISTENER_H_

#include <grpcpp/server_builder.h>

#include <sys/socket.h>
#include <sys/types.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/unique_fd.h"

namespace ovvoc::cp {

class AgentListener {
 public:
  static constexpr int kReservedFds = 64;

  // Binds and listens on "HOST:PORT" ("[::1]:0", "0.0.0.0:7443"; port 0 picks one).
  static absl::StatusOr<std::unique_ptr<AgentListener>> Bind(const std::string& address);
  ~AgentListener();

  int port() const { return port_; }

  // Accepts into `acceptor` on a thread of its own until Stop(). `admin_socket`, if not empty,
  // is checked once a second.
  struct Limits {
    int max_connections = 20'000;
    int max_per_host = 256;
  };
  void Start(std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor,
             Limits limits, std::string admin_socket,
             std::function<void(const absl::Status&)> on_fatal);
  void Stop();

  // Connections closed at once because the process was at its limit (for logs and tests).
  uint64_t refused() const { return refused_.load(); }

 private:
  AgentListener(UniqueFd fd, int port, UniqueFd wake)
      : fd_(std::move(fd)), port_(port), wake_(std::move(wake)) {}
  void Loop();
  // Takes every connection waiting; false if accepting failed for good.
  bool AcceptAll();
  bool AdminSocketListening() const;
  // Counts `fd` for its host; false (and nothing counted) if the host is at its limit.
  bool AdmitHost(int fd, const sockaddr_storage& peer);
  // Forgets connections that were closed, and hosts with none left.
  void SweepHosts();

  UniqueFd fd_;
  const int port_;
  UniqueFd wake_;  // eventfd: Stop() wakes the loop
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor_;
  Limits limits_;
  // Host address bytes -> its open connections (descriptor, socket inode). Listener thread only.
  absl::flat_hash_map<std::string, std::vector<std::pair<int, ino_t>>> by_host_;
  std::string admin_socket_;
  std::function<void(const absl::Status&)> on_fatal_;
  std::atomic<uint64_t> refused_{0};
  std::thread thread_;
};

// Raises this process's open-file limit to its hard limit; returns the new soft limit.
long RaiseOpenFileLimit();

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_SERVER_LISTENER_H_
