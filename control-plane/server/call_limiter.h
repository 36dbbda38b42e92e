// CallLimiter: how many calls of one kind each agent may have inside the server at once (its
// parked polls, its calls queued or running on the executor). An agent's own calls come one
// or two at a time; a stolen or hostile identity that sends thousands is refused past the cap,
// so it can neither take a pool's work nor fill the queue real agents share. Thread-safe.
#ifndef OVVOC_CONTROL_PLANE_SERVER_CALL_LIMITER_H_
#define OVVOC_CONTROL_PLANE_SERVER_CALL_LIMITER_H_

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace ovvoc::cp {

class CallLimiter {
 public:
  explicit CallLimiter(int max_per_agent) : max_per_agent_(max_per_agent) {}

  // Counts one more call of `agent_id`; false (and nothing counted) at the cap.
  bool TryEnter(absl::string_view agent_id) {
    absl::MutexLock lock(&mu_);
    int& n = in_flight_[agent_id];
    if (n >= max_per_agent_) return false;
    ++n;
    return true;
  }

  // Ends a call TryEnter() counted.
  void Leave(absl::string_view agent_id) {
    absl::MutexLock lock(&mu_);
    auto it = in_flight_.find(agent_id);
    if (it != in_flight_.end() && --it->second <= 0) in_flight_.erase(it);
  }

  int max_per_agent() const { return max_per_agent_; }

 private:
  const int max_per_agent_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, int> in_flight_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_SERVER_CALL_LIMITER_H_
