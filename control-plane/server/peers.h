// PeerDirectory: who is behind each connection gRPC serves on the agent port.
//
// The TLS front (server/listener.h) terminates agents' TLS itself and hands gRPC the plaintext
// over a Unix socket pair whose other end it binds to an abstract name of its own, unique for
// the process's life. gRPC's peer string for a call is then "unix-abstract:NAME", and this
// directory maps NAME to what the front saw: the client's address and the certificate it
// presented. A name is listed from before gRPC sees its connection until the front closes it.
// Thread-safe.
#ifndef OVVOC_CONTROL_PLANE_SERVER_PEERS_H_
#define OVVOC_CONTROL_PLANE_SERVER_PEERS_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/strip.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace ovvoc::cp {

struct Peer {
  std::string host;      // "ipv4:10.0.0.7", "ipv6:[2001:db8::7]": never the port
  std::string cert_pem;  // the client certificate it presented (unverified), or empty
};

class PeerDirectory {
 public:
  static constexpr absl::string_view kScheme = "unix-abstract:";

  void Add(const std::string& name, std::shared_ptr<const Peer> peer) {
    absl::MutexLock lock(&mu_);
    peers_[name] = std::move(peer);
  }
  void Remove(const std::string& name) {
    absl::MutexLock lock(&mu_);
    peers_.erase(name);
  }
  // The peer behind gRPC's peer string; null if the front no longer (or never) had it.
  std::shared_ptr<const Peer> Find(absl::string_view grpc_peer) const {
    if (!absl::ConsumePrefix(&grpc_peer, kScheme)) return nullptr;
    absl::MutexLock lock(&mu_);
    auto it = peers_.find(grpc_peer);
    return it == peers_.end() ? nullptr : it->second;
  }

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const Peer>> peers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_SERVER_PEERS_H_
