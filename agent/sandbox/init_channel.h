// InitChannel: how the agent runs a phase's command in a container: through the container's
// init (deploy/image/init.c), which forks it. Cheaper than `runc exec` or a Docker exec by tens
// of milliseconds, and the command gets exactly the container's uid, capabilities,
// no-new-privileges, seccomp filter and limits, being a child of its PID 1.
//
// The agent listens on a SOCK_SEQPACKET socket in a root-owned directory that is bind-mounted
// read-only into the container at /run; the init connects once, at start. The agent accepts
// exactly one peer, the container's init (checked by SO_PEERCRED), then stops listening: no
// process of the job can take the channel's place. Used by one thread at a time.
#ifndef OVVOC_AGENT_SANDBOX_INIT_CHANNEL_H_
#define OVVOC_AGENT_SANDBOX_INIT_CHANNEL_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/unique_fd.h"

namespace ovvoc::agent::sandbox {

// The directory mounted at /run and the socket's name in it, as the container sees them.
inline constexpr char kInitSocketInContainer[] = "/run/ovvoc-init.sock";

// What one message from the init means (init.c's protocol). The init runs in the job's
// container: its messages are untrusted data. Nothing in them steers the agent beyond the exit
// status of the command the agent started, and their text is never repeated.
enum class InitMessage {
  kStarted,      // "pid N"
  kExited,       // "exit N", 0 <= N <= 255, the first of the command: sets `exit_code`
  kCannotStart,  // "error ..." before an exit
  kGone,         // the channel closed: the init, and so the container, is gone
  kMalformed,    // anything else: the init is not behaving as ours does
};
InitMessage ParseInitMessage(absl::string_view text, bool closed, std::optional<int>& exit_code);

class InitChannel {
 public:
  // Creates `host_dir` (root-owned, 0755) and listens on `host_dir`/ovvoc-init.sock, which only
  // `uid` (the init's) may connect to.
  static absl::StatusOr<std::unique_ptr<InitChannel>> Listen(const std::string& host_dir,
                                                             uint32_t uid);

  // Waits for the init to connect: the first peer whose host pid (SO_PEERCRED) satisfies
  // `is_init`; anyone else is dropped unanswered. Closes the listener afterwards. Gives up when
  // `give_up_fd` (when >= 0: the container runtime's pidfd, say) turns readable. The init's pid.
  absl::StatusOr<int> Accept(const std::function<bool(int pid)>& is_init, absl::Duration timeout,
                             int give_up_fd = -1);

  // Sends the seccomp filter (a BPF program) the init installs on itself before it runs any
  // command, and waits for it to confirm. The init refuses commands until then.
  absl::Status InstallSeccomp(const std::string& bpf, absl::Duration timeout);

  struct Result {
    int exit_code = -1;
    bool timed_out = false;
    bool cancelled = false;
    // The init went away or broke its protocol mid-command: the container is lost. `output`
    // holds what was read until then; `exit_code` is -1.
    bool init_lost = false;
    std::string output;
    absl::Duration duration;
  };
  // Runs `argv` in `cwd` with exactly `env`. On a timeout or cancel, `stop` must end the
  // command (kill what runs in the container); so must it free the output when the command has
  // ended but something it left holds its output open.
  absl::StatusOr<Result> Run(const std::vector<std::string>& argv,
                             const std::vector<std::string>& env, const std::string& cwd,
                             absl::Duration timeout, size_t output_limit,
                             const std::function<bool()>& cancelled,
                             const std::function<void()>& stop);

 private:
  UniqueFd dir_;  // the host dir, until the init connected
  std::string socket_path_;
  UniqueFd listener_;
  UniqueFd channel_;
};

}  // namespace ovvoc::agent::sandbox

#endif  // OVVOC_AGENT_SANDBOX_INIT_CHANNEL_H_
