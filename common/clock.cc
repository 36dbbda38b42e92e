#include "common/clock.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace ovvoc {
namespace {

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  bool AwaitWithDeadline(absl::Mutex& mu, const absl::Condition& cond,
                         absl::Time deadline) const override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return mu.AwaitWithDeadline(cond, deadline);
  }
};

}  // namespace

void Clock::SleepFor(absl::Duration d) const {
  static const bool kNever = false;
  absl::Mutex mu;
  absl::MutexLock lock(&mu);
  AwaitWithDeadline(mu, absl::Condition(&kNever), Now() + d);
}

Clock& Clock::Real() {
  static RealClock* clock = new RealClock();
  return *clock;
}

absl::Time ManualClock::Now() const {
  absl::MutexLock lock(&mu_);
  return now_;
}

bool ManualClock::AwaitWithDeadline(absl::Mutex& mu, const absl::Condition& cond,
                                    absl::Time deadline) const {
  // Loops only when `cond` held, then no longer did by the time `mu` was ours again.
  for (;;) {
    if (cond.Eval()) return true;
    Waiter self{&mu, deadline};
    mu.Unlock();  // waiters_mu_ comes before `mu`
    {
      absl::MutexLock lock(&waiters_mu_);
      self.due = Now() >= deadline;
      waiters_.push_back(&self);
    }
    mu.Lock();
    auto woken = [&self, &cond] { return self.due || cond.Eval(); };
    mu.Await(absl::Condition(&woken));
    mu.Unlock();
    {
      absl::MutexLock lock(&waiters_mu_);
      waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &self));
    }
    mu.Lock();
    if (self.due) return cond.Eval();
  }
}

void ManualClock::Advance(absl::Duration d) {
  absl::MutexLock lock(&waiters_mu_);
  MoveTo(Now() + d);
}

void ManualClock::Set(absl::Time t) {
  absl::MutexLock lock(&waiters_mu_);
  MoveTo(t);
}

void ManualClock::MoveTo(absl::Time t) {
  {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }
  for (Waiter* waiter : waiters_) {
    if (waiter->due || waiter->deadline > t) continue;
    // The waiter cannot unregister (and its mutex cannot go away) while we hold waiters_mu_.
    waiter->mu->Lock();
    waiter->due = true;
    waiter->mu->Unlock();  // absl::Mutex re-evaluates the waiter's condition here: it wakes
  }
}

bool ManualClock::AwaitWaiters(size_t n, absl::Duration timeout) const {
  absl::MutexLock lock(&waiters_mu_);
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(waiters_mu_) {
    return static_cast<size_t>(std::count_if(waiters_.begin(), waiters_.end(),
                                             [](const Waiter* w) { return !w->due; })) >= n;
  };
  return waiters_mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

}  // namespace ovvoc
