// What `ovvoc-control-plane serve` is configured with, and the data directory's layout.
#ifndef OVVOC_CONTROL_PLANE_SERVER_OPTIONS_H_
#define OVVOC_CONTROL_PLANE_SERVER_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace ovvoc::cp {

// DIR/ca.key ca.pem server.key server.pem master.key store.db admin.sock, all 0600, DIR 0700.
struct DataDir {
  std::string root;
  std::string master_key() const { return root + "/master.key"; }
  std::string store_db() const { return root + "/store.db"; }
  std::string admin_socket() const { return root + "/admin.sock"; }
};

// `init`: creates DIR with the CA, server certificate, master key and an empty, migrated
// store. Refuses a directory that already holds a CA, a symlink, and an existing directory that
// another user owns or that its group or others may write in; narrows an existing one to 0700.
absl::Status InitDataDir(const DataDir& dir, const std::vector<std::string>& extra_names);

struct ServerOptions {
  DataDir data_dir;
  std::string listen = "127.0.0.1:7443";
  std::string store_url;  // empty: sqlite in the data dir
  absl::Duration lease_ttl = absl::Seconds(60);
  absl::Duration heartbeat_interval = absl::Seconds(15);
  absl::Duration poll_hold = absl::Seconds(50);
  absl::Duration certificate_lifetime = absl::Hours(24);
  uint32_t max_attempts = 3;
  absl::Duration reap_interval = absl::Seconds(1);  // how often expired leases are looked for
  std::string git_credentials_file;                 // static tokens for plain git remotes
  int executor_threads = 4;
  size_t max_queued_calls = 4096;  // authenticated calls waiting for the executor
  int max_calls_per_agent = 16;    // one agent's unary calls in progress
  int max_polls_per_agent = 4;     // one agent's PollJob calls in progress
  int max_connections = 20'000;    // agent connections open at once (also capped by open files)
  int max_connections_per_host = 256;  // from one address (agents behind one NAT share one)
  absl::Duration handshake_timeout = absl::Seconds(10);  // to finish TLS and begin HTTP/2
  absl::Duration write_stall_timeout = absl::Seconds(30);  // a client that reads nothing
  absl::Duration idle_timeout = absl::Minutes(2);        // a connection with no call is closed
  absl::Duration connection_max_age = absl::Minutes(10); // then the agent reconnects
  size_t connection_memory_mib = 512;                    // all agent connections' buffers
};

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_SERVER_OPTIONS_H_
