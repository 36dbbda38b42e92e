// AgentListener: the TCP port agents connect to, and the TLS front in front of gRPC.
//
// We accept agents' connections and terminate their TLS ourselves (OpenSSL, TLS 1.3 only),
// then hand gRPC the plaintext HTTP/2 over a Unix socket pair (an ExternalConnectionAcceptor
// with insecure credentials: nothing but this front can reach it). Two faults of gRPC 1.51
// (Debian 12) make this necessary:
//   - it closes its listener for good on the first accept4() that fails with EMFILE (1,100 idle
//     connections against 1,024 open files took the control plane off the network);
//   - it predates the fix for HTTP/2 rapid reset (CVE-2023-44487): a client that opens and
//     resets streams in a loop grows its memory without bound.
// So every byte a client sends passes an H2Guard (server/h2_guard.h) on the way in: a client
// that overspends a pacing budget is not read until it is repaid, and one that resets streams
// in a loop or floods header blocks is closed. A connection reaches gRPC only once its client
// has finished the handshake and sent HTTP/2's preface; until then it costs a TLS session and
// is closed after `handshake_timeout`. A client that stops reading is closed after
// `write_stall_timeout`, and one that asks for more than kMaxKeyUpdates TLS key updates at once. The client certificate is requested but not verified
// here beyond choosing the guard's budgets (CA-issued: an agent's; else anonymous, which can
// only enroll): whether it names an enrolled agent is checked on every call (server/auth.h),
// which finds it, and the client's address, in `peers` by gRPC's peer string.
//
// A full file table never closes the listener: a connection is taken only while the process has
// kReservedFds descriptors to spare below its limit (each connection holds three), fewer than
// `max_connections` are open, and its host has fewer than `max_per_host` (one IPv4 address,
// one IPv6 /64: one host cannot take every slot from the agents); past that it is closed at
// once, and EMFILE is waited out. gRPC bounds the rest: idle connections, connection age and
// buffered memory (ControlPlane's channel arguments).
//
// Also watches the admin socket (served by gRPC's own listener): if the kernel no longer lists
// it as listening, or the front fails for good, `on_fatal` runs once, so that the process can
// exit non-zero and its supervisor restart it. One thread; Start() once; Stop() joins.
#ifndef OVVOC_CONTROL_PLANE_SERVER_LISTENER_H_
#define OVVOC_CONTROL_PLANE_SERVER_LISTENER_H_

#include <grpcpp/server_builder.h>
#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <queue>
#include <vector>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/unique_fd.h"
#include "control-plane/server/h2_guard.h"
#include "control-plane/server/peers.h"

namespace ovvoc::cp {

class AgentListener {
 public:
  static constexpr int kReservedFds = 64;
  // TLS 1.3 KeyUpdates a client may ask for in a connection's life: each makes us send one, and
  // a real client asks only after exabytes.
  static constexpr int kMaxKeyUpdates = 16;

  // Binds and listens on "HOST:PORT" ("[::1]:0", "0.0.0.0:7443"; port 0 picks one).
  static absl::StatusOr<std::unique_ptr<AgentListener>> Bind(const std::string& address);
  ~AgentListener();

  int port() const { return port_; }

  struct Tls {
    std::string key_pem;    // the server's key
    std::string chain_pem;  // its certificate, then the CA's
    std::string ca_pem;     // the CA that issues agents' certificates
  };
  struct Limits {
    int max_connections = 20'000;
    int max_per_host = 256;
    absl::Duration handshake_timeout = absl::Seconds(10);  // TLS handshake and HTTP/2 preface
    // A client that takes none of our bytes for this long is closed (gRPC would keep a
    // connection with an unsent answer forever, idle and age limits notwithstanding).
    absl::Duration write_stall_timeout = absl::Seconds(30);
    H2Limits agent = H2Limits::Agent();
    H2Limits anonymous = H2Limits::Anonymous();
  };
  struct Callbacks {
    // The listener or the admin socket failed for good. Called once, on the front's thread.
    std::function<void(const absl::Status&)> on_fatal;
    // A connection from `host` ("ipv4:10.0.0.7") was closed for what it sent.
    std::function<void(const std::string& host, const absl::Status& why)> on_refused;
  };

  // Serves connections into `acceptor` on a thread of its own until Stop(). `admin_socket`, if
  // not empty, is checked once a second. Fails if the TLS identity is unusable.
  // Each connection gRPC serves is listed in `peers`, which must outlive the listener.
  absl::Status Start(std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor,
                     const Tls& tls, Limits limits, PeerDirectory& peers,
                     std::string admin_socket, Callbacks callbacks);
  void Stop();

  // Connections closed at once because the process was at a limit (for logs and tests).
  uint64_t refused() const { return refused_.load(); }
  // Client connections open now.
  int connections() const { return open_.load(); }

 private:
  struct Connection;

  AgentListener(UniqueFd fd, int port, UniqueFd wake, UniqueFd epoll);
  void Loop();
  // Takes every connection waiting; false if accepting failed for good.
  bool AcceptAll();
  bool AtLimit(int fd) const;
  // Makes progress on `c` in every direction it can; false once it was closed.
  bool Drive(Connection& c);
  // `events` arrived on one side of `c`.
  void OnEvents(Connection& c, bool inner, uint32_t events);
  // A TLS call on `c` returned `result` <= 0: true if it waits for the socket, else `c` is
  // closed.
  bool TlsWaits(Connection& c, int result);
  bool Handshake(Connection& c);
  bool FromClient(Connection& c);
  bool ToInner(Connection& c);
  bool FromInner(Connection& c);
  bool ToClient(Connection& c);
  bool OpenInner(Connection& c);
  // Closes `c` for what its client sent, and says so.
  void Refuse(Connection& c, const absl::Status& why);
  void Watch(Connection& c);
  void Close(Connection& c);
  void CloseExpired(absl::Time now);
  // Reads again the paced clients whose time has come.
  void Resume(absl::Time now);
  // gRPC 1.51 keeps a record of every connection it served (a ReclaimerQueue handle, for its
  // memory quota) until some later connection closes and sweeps the queue past it: each close
  // removes the closed records at the head and moves one live record to the back. After a
  // flood of connections and then quiet, thousands stay, scattered through the heap, and hold
  // megabytes of pages resident (flood_bench: 2,700 records, 2.4 MiB). So once many
  // connections have closed and then none for a second, we hand gRPC as many connections that
  // close at once as there are connections open, a few per pass of the loop.
  void SweepReclaimers(absl::Time now);
  bool AdminSocketListening() const;

  UniqueFd fd_;
  const int port_;
  UniqueFd wake_;   // eventfd: Stop() wakes the loop
  UniqueFd epoll_;  // the listener, the wake fd and both ends of every connection
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor_;
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> tls_{nullptr, &SSL_CTX_free};
  Limits limits_;
  std::string admin_socket_;
  Callbacks callbacks_;
  PeerDirectory* peers_ = nullptr;
  std::string name_prefix_;  // of inner sockets' abstract names: "ovvoc-cp.<pid>.<random>."

  // The front's thread only.
  uint64_t next_id_ = 1;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Connection>> connections_;
  // Connections open per host, by address bytes (IPv6: the /64).
  absl::flat_hash_map<std::string, int> hosts_;
  // (deadline, connection), in order: handshakes, and clients that stopped taking our bytes.
  std::deque<std::pair<absl::Time, uint64_t>> handshakes_;
  std::deque<std::pair<absl::Time, uint64_t>> stalls_;
  // (ready, connection) for paced clients, soonest first.
  std::priority_queue<std::pair<absl::Time, uint64_t>, std::vector<std::pair<absl::Time, uint64_t>>,
                      std::greater<>>
      pauses_;

  // Connections gRPC served that closed since the last sweep, the last one's time, and the
  // sweeping connections still to make.
  uint64_t closed_since_sweep_ = 0;
  absl::Time last_close_ = absl::InfinitePast();
  int sweeps_left_ = 0;

  std::atomic<uint64_t> refused_{0};
  std::atomic<int> open_{0};
  std::thread thread_;
};

// Raises this process's open-file limit to its hard limit; returns the new soft limit.
long RaiseOpenFileLimit();

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_SERVER_LISTENER_H_
