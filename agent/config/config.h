// The agent's config directory (mode 0700), written by `register` and read by `run`:
//
//   agent.json   server address, agent id, org, pool
//   agent.key    EC P-256 private key (0600); generated here, never sent anywhere
//   agent.pem    client certificate issued by the control plane's CA
//   ca.pem       the control plane's CA, trusted for the server and nothing else
//   work/        per-job directories, deleted after every job
#ifndef OVVOC_AGENT_CONFIG_CONFIG_H_
#define OVVOC_AGENT_CONFIG_CONFIG_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/unique_fd.h"

namespace ovvoc::agent {

struct AgentIdentity {
  std::string server;  // HOST:PORT
  std::string agent_id;
  std::string org;
  std::string pool;
  std::string key_pem;
  std::string certificate_pem;
  std::string ca_pem;
};

class ConfigDir {
 public:
  explicit ConfigDir(std::string root) : root_(std::move(root)) {}

  const std::string& root() const { return root_; }
  std::string work_dir() const { return root_ + "/work"; }
  bool HasIdentity() const;

  absl::StatusOr<AgentIdentity> Load() const;
  // Writes every file (atomically, 0600) into a 0700 directory.
  absl::Status Save(const AgentIdentity& identity) const;
  // Replaces key and certificate after a renewal; the key is written first.
  absl::Status SaveCertificate(const std::string& key_pem,
                               const std::string& certificate_pem) const;

 private:
  std::string Path(const char* name) const { return root_ + "/" + name; }
  std::string root_;
};

// A state dir, locked: its canonical path (absolute, no symlink, no trailing slash), which is the
// one every mount, label and leftover under it is named by, and the lock's fd.
struct LockedStateDir {
  std::string path;
  UniqueFd lock;
};

// Makes `dir` if needed: its canonical path (absolute, no symlink) once it is the agent's alone:
// owned by the agent's user, and every directory above it owned by root or that user and
// writable by no one else unless sticky (/tmp), so that no other user can put a link where the
// agent mounts images or swap the images it runs. FailedPrecondition naming `what` ("the state
// dir") and the dir otherwise.
absl::StatusOr<std::string> OwnedDir(const std::string& dir, absl::string_view what);

// Makes `dir` if needed and takes its lock (DIR/lock, flock) for the life of the result: one
// agent process per state dir, since each reaps what it finds there at start. FailedPrecondition
// naming the dir when another process holds it, and when the dir is not the agent's alone
// (OwnedDir).
absl::StatusOr<LockedStateDir> LockStateDir(const std::string& dir);

// The default config dir: $OVVOC_AGENT_CONFIG_DIR, else /var/lib/ovvoc-agent for root, else
// ~/.config/ovvoc-agent.
std::string DefaultConfigDir();

}  // namespace ovvoc::agent

#endif  // OVVOC_AGENT_CONFIG_CONFIG_H_
