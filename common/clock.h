// Clock: the one source of "now", and of waiting for a time, for code whose behaviour depends on
// time (leases, heartbeats, backoff, token and certificate expiry), so that tests can move time
// by hand instead of sleeping. Thread-safe.
//
// Waiting goes through the clock too: a component that waits "until the lease is due, or until
// it is told to stop" calls AwaitWithDeadline() in place of absl::Mutex::AwaitWithDeadline(),
// with a deadline read from the same clock. Timings that belong to the transport (gRPC call
// deadlines, socket timeouts) stay on real time: the kernel and gRPC keep those.
#ifndef OVVOC_COMMON_CLOCK_H_
#define OVVOC_COMMON_CLOCK_H_

#include <atomic>
#include <cstddef>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace ovvoc {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;

  // absl::Mutex::AwaitWithDeadline on this clock's time: with `mu` held, waits until `cond`
  // holds or Now() reaches `deadline`, and returns whether `cond` holds. `mu` is released while
  // waiting and held again on return. `cond` must depend only on state that `mu` guards (as
  // absl requires), not on the time: the deadline is how time enters.
  virtual bool AwaitWithDeadline(absl::Mutex& mu, const absl::Condition& cond,
                                 absl::Time deadline) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) = 0;

  // Returns once Now() has moved `d` on. Not interruptible: for waits that must end early
  // (a stop), use AwaitWithDeadline with a condition.
  void SleepFor(absl::Duration d) const;

  // The process-wide real clock.
  static Clock& Real();
};

// A clock that only moves when told to, for tests. AwaitWithDeadline() returns the moment
// Advance() or Set() takes the time to the deadline, or `cond` holds.
//
// How a waiter is woken: while it waits it is registered here with its mutex. Advance() and
// Set() lock and unlock the mutex of each waiter whose deadline came, after marking it due;
// absl::Mutex re-evaluates waiting conditions on every unlock, so the waiter wakes. Lock order:
// waiters_mu_, then a waiter's mutex, then mu_ (Now() may be called under any mutex). A waiter
// therefore releases its own mutex while it registers and unregisters: to its caller that is
// part of the wait, as with absl (state guarded by `mu` may change while AwaitWithDeadline runs).
// Hence: hold no mutex but `mu` while waiting on this clock, and none that its waiters wait on
// while calling Advance() or Set().
class ManualClock final : public Clock {
 public:
  explicit ManualClock(absl::Time start = absl::FromUnixSeconds(1'800'000'000)) : now_(start) {}
  ManualClock(const ManualClock&) = delete;
  ManualClock& operator=(const ManualClock&) = delete;

  absl::Time Now() const override ABSL_LOCKS_EXCLUDED(mu_);
  bool AwaitWithDeadline(absl::Mutex& mu, const absl::Condition& cond,
                         absl::Time deadline) const override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu)
      ABSL_LOCKS_EXCLUDED(waiters_mu_);

  // Move time (Set may move it back) and wake the waiters whose deadline came.
  void Advance(absl::Duration d) ABSL_LOCKS_EXCLUDED(waiters_mu_, mu_);
  void Set(absl::Time t) ABSL_LOCKS_EXCLUDED(waiters_mu_, mu_);

  // Blocks until at least `n` waits on this clock have a deadline still ahead: how a test knows
  // that the code under test is parked before it moves time. False when that took longer than
  // `timeout` of real time (a hung test, not a slow one).
  bool AwaitWaiters(size_t n, absl::Duration timeout = absl::Minutes(1)) const
      ABSL_LOCKS_EXCLUDED(waiters_mu_);

 private:
  struct Waiter {
    absl::Mutex* mu;
    absl::Time deadline;
    std::atomic<bool> due{false};  // set once Now() has reached `deadline`
  };

  // Takes the time to `t` and wakes the waiters now due.
  void MoveTo(absl::Time t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(waiters_mu_) ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex waiters_mu_;
  mutable std::vector<Waiter*> waiters_ ABSL_GUARDED_BY(waiters_mu_);

  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ovvoc

#endif  // OVVOC_COMMON_CLOCK_H_
