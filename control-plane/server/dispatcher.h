// Dispatcher: where idle long polls wait. A poll registers a waiter for its agent's (org, pool)
// with a deadline; Notify() wakes waiters of that pool when work is queued, and a timer thread
// wakes the ones whose hold ran out, by the clock it was given. Waiters cost a map entry, not a
// thread.
//
// Lost-wakeup rule: a poller reads Generation() before it looks for work and passes it to
// Wait(). If anything was notified for that pool since, Wait() fires at once.
//
// EvictAgent() ends every waiter of one agent (kRevoked) and answers its later waits the same
// way at once: a revoked agent's polls end the moment it is revoked, not when their hold runs
// out, including one that was on its way to Wait() when the revocation came.
//
// Every waiter is settled exactly once: either its callback runs (once) or Cancel() returns
// true. Callbacks run on the notifying thread or the timer thread and must not block.
// Thread-safe.
#ifndef OVVOC_CONTROL_PLANE_SERVER_DISPATCHER_H_
#define OVVOC_CONTROL_PLANE_SERVER_DISPATCHER_H_

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace ovvoc::cp {

class Dispatcher {
 public:
  enum class Wake { kWork, kTimeout, kShutdown, kRevoked };
  using Callback = std::function<void(Wake)>;
  using WaiterId = uint64_t;

  // Deadlines passed to Wait() are on `clock`, which must outlive the dispatcher.
  explicit Dispatcher(const Clock& clock);
  ~Dispatcher();  // Shutdown(), then joins the timer thread.

  uint64_t Generation(const std::string& org_id, const std::string& pool);

  // Registers a waiter. If the pool's generation is past `seen_generation`, the agent was
  // evicted, or Shutdown() has run, `callback` runs before Wait returns.
  WaiterId Wait(const std::string& org_id, const std::string& pool, const std::string& agent_id,
                uint64_t seen_generation, absl::Time deadline, Callback callback);

  // Removes a waiter whose callback has not run. False if it already ran (or is running).
  bool Cancel(WaiterId id);

  // Bumps the pool's generation and wakes up to `count` of its waiters, oldest first.
  void Notify(const std::string& org_id, const std::string& pool, int count = 1);

  // Wakes every waiter of `agent_id` with kRevoked, and every later Wait() of it; returns how
  // many were waiting.
  size_t EvictAgent(const std::string& agent_id);

  // Wakes every waiter with kShutdown; later Wait() calls fire kShutdown at once.
  void Shutdown();

  size_t waiting() const;

 private:
  using PoolKey = std::pair<std::string, std::string>;
  struct Waiter {
    PoolKey pool;
    std::string agent_id;
    absl::Time deadline;
    Callback callback;
  };

  void TimerLoop();
  // Unlinks `id` and returns its callback. Requires the waiter to exist.
  Callback TakeLocked(WaiterId id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock& clock_;

  mutable absl::Mutex mu_;
  WaiterId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<WaiterId, Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  std::map<PoolKey, std::list<WaiterId>> by_pool_ ABSL_GUARDED_BY(mu_);  // oldest first
  std::map<PoolKey, uint64_t> generations_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::set<WaiterId>> by_agent_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> evicted_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<absl::Time, WaiterId>> deadlines_ ABSL_GUARDED_BY(mu_);
  std::thread timer_;
};

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_SERVER_DISPATCHER_H_
