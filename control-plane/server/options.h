// What `ovvoc-control-plane serve` is configured with, and the data directory's layout.
#ifndef OVVOC_CONTROL_PLANE_SERVER_OPTIONS_H_
#define OVVOC_CONTROL_PLANE_SERVER_OPTIONS_H_

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
// store. Refuses a directory that already holds a CA.
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
};

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_SERVER_OPTIONS_H_
