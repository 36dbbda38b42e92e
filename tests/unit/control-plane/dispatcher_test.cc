// Dispatcher: wake-ups by pool, deadlines, cancellation and the lost-wakeup rule. Time is a
// ManualClock: deadlines come when a test moves it, never on their own.
#include "control-plane/server/dispatcher.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <vector>

#include "absl/synchronization/notification.h"
#include "common/clock.h"

namespace ovvoc::cp {
namespace {

using Wake = Dispatcher::Wake;

// A clock no test moves: deadlines on it never come.
const ManualClock& StillClock() {
  static const ManualClock* clock = new ManualClock();
  return *clock;
}

absl::Time Later(absl::Duration d = absl::Seconds(30)) { return StillClock().Now() + d; }

TEST_CASE("notify wakes the oldest waiter of that pool only") {
  std::vector<std::string> woken;  // declared first: outlives the dispatcher's final wake-ups
  absl::Mutex mu;
  Dispatcher d(StillClock());
  auto record = [&](std::string name) {
    return [&, name](Wake w) {
      absl::MutexLock lock(&mu);
      woken.push_back(name + (w == Wake::kWork ? ":work" : ":other"));
    };
  };
  d.Wait("org-a", "default", "agt", 0, Later(), record("first"));
  d.Wait("org-a", "default", "agt", 0, Later(), record("second"));
  d.Wait("org-b", "default", "agt", 0, Later(), record("other-org"));
  d.Wait("org-a", "blue", "agt", 0, Later(), record("other-pool"));
  d.Notify("org-a", "default");
  {
    absl::MutexLock lock(&mu);
    REQUIRE(woken == std::vector<std::string>{"first:work"});
  }
  d.Notify("org-a", "default", 5);
  absl::MutexLock lock(&mu);
  CHECK(woken == std::vector<std::string>{"first:work", "second:work"});
  CHECK(d.waiting() == 2);
  mu.Unlock();
  d.Shutdown();
  mu.Lock();
  CHECK(woken.size() == 4);
}

TEST_CASE("work notified before waiting is not lost") {
  Dispatcher d(StillClock());
  uint64_t seen = d.Generation("org", "pool");
  d.Notify("org", "pool");  // arrives between "look for work" and "wait"
  std::optional<Wake> wake;
  d.Wait("org", "pool", "agt", seen, Later(), [&](Wake w) { wake = w; });
  REQUIRE(wake.has_value());  // fired before Wait returned
  CHECK(*wake == Wake::kWork);
  CHECK(d.waiting() == 0);
}

TEST_CASE("a waiter times out when the clock reaches its deadline, not before") {
  ManualClock clock;
  absl::Notification first_done;
  absl::Notification second_done;
  std::atomic<int> first{-1};
  std::atomic<int> second{-1};
  Dispatcher d(clock);
  d.Wait("org", "pool", "agt", 0, clock.Now() + absl::Seconds(10), [&](Wake w) {
    first = static_cast<int>(w);
    first_done.Notify();
  });
  d.Wait("org", "pool", "agt", 0, clock.Now() + absl::Seconds(30), [&](Wake w) {
    second = static_cast<int>(w);
    second_done.Notify();
  });
  REQUIRE(clock.AwaitWaiters(1));  // the timer thread is parked on the clock
  clock.Advance(absl::Seconds(9));
  REQUIRE(clock.AwaitWaiters(1));  // ...and still is: nothing came due
  CHECK(first == -1);
  CHECK(d.waiting() == 2);

  clock.Advance(absl::Seconds(1));
  // Bounds a hang only; the callback runs as soon as the timer thread is scheduled.
  REQUIRE(first_done.WaitForNotificationWithTimeout(absl::Seconds(60)));
  CHECK(first == static_cast<int>(Wake::kTimeout));
  // Parked again, now until the second deadline: the first one's firing took nothing else.
  REQUIRE(clock.AwaitWaiters(1));
  CHECK(second == -1);
  CHECK(d.waiting() == 1);

  clock.Advance(absl::Seconds(20));
  REQUIRE(second_done.WaitForNotificationWithTimeout(absl::Seconds(60)));
  CHECK(second == static_cast<int>(Wake::kTimeout));
  CHECK(d.waiting() == 0);
}

TEST_CASE("an earlier deadline registered while the timer waits for a later one fires first") {
  ManualClock clock;
  absl::Notification done;
  std::atomic<int> early{-1};
  std::atomic<int> late{-1};
  Dispatcher d(clock);
  d.Wait("org", "pool", "agt", 0, clock.Now() + absl::Minutes(10),
         [&](Wake w) { late = static_cast<int>(w); });
  REQUIRE(clock.AwaitWaiters(1));  // parked until the late deadline
  d.Wait("org", "pool", "agt", 0, clock.Now() + absl::Seconds(5), [&](Wake w) {
    early = static_cast<int>(w);
    done.Notify();
  });
  clock.Advance(absl::Seconds(5));
  REQUIRE(done.WaitForNotificationWithTimeout(absl::Seconds(60)));
  CHECK(early == static_cast<int>(Wake::kTimeout));
  CHECK(late == -1);
  CHECK(d.waiting() == 1);
}

TEST_CASE("a cancelled waiter is never called, cancel after firing reports false") {
  Dispatcher d(StillClock());
  bool called = false;
  Dispatcher::WaiterId id = d.Wait("org", "pool", "agt", 0, Later(), [&](Wake) { called = true; });
  CHECK(d.Cancel(id));
  d.Notify("org", "pool");
  CHECK(!called);
  CHECK(!d.Cancel(id));

  Dispatcher::WaiterId fired = d.Wait("org", "pool", "agt", d.Generation("org", "pool"), Later(),
                                      [&](Wake) { called = true; });
  d.Notify("org", "pool");
  CHECK(called);
  CHECK(!d.Cancel(fired));
}

TEST_CASE("shutdown wakes every waiter and answers later waits at once") {
  Dispatcher d(StillClock());
  std::atomic<int> shutdowns{0};
  for (int i = 0; i < 10; ++i) {
    d.Wait("org", std::to_string(i), "agt", 0, Later(), [&](Wake w) {
      if (w == Wake::kShutdown) ++shutdowns;
    });
  }
  d.Shutdown();
  CHECK(shutdowns == 10);
  d.Wait("org", "late", "agt", 0, Later(), [&](Wake w) {
    if (w == Wake::kShutdown) ++shutdowns;
  });
  CHECK(shutdowns == 11);
}

}  // namespace
}  // namespace ovvoc::cp

namespace ovvoc::cp {
namespace {

TEST_CASE("evicting an agent ends its waiters at once and no one else's") {
  std::vector<std::string> woken;
  absl::Mutex mu;
  Dispatcher d(StillClock());
  auto record = [&](std::string name) {
    return [&, name](Dispatcher::Wake w) {
      absl::MutexLock lock(&mu);
      woken.push_back(name + (w == Dispatcher::Wake::kRevoked ? ":revoked" : ":other"));
    };
  };
  d.Wait("org", "pool", "agt_thief", 0, Later(), record("thief-1"));
  d.Wait("org", "pool", "agt_honest", 0, Later(), record("honest"));
  d.Wait("org", "other", "agt_thief", 0, Later(), record("thief-2"));
  CHECK(d.EvictAgent("agt_thief") == 2);
  CHECK(d.EvictAgent("agt_thief") == 0);
  {
    absl::MutexLock lock(&mu);
    CHECK(woken == std::vector<std::string>{"thief-1:revoked", "thief-2:revoked"});
  }
  CHECK(d.waiting() == 1);
  d.Notify("org", "pool");  // the job goes to the honest agent, not a revoked waiter
  absl::MutexLock lock(&mu);
  CHECK(woken.back() == "honest:other");
}

}  // namespace
}  // namespace ovvoc::cp

namespace ovvoc::cp {
namespace {

TEST_CASE("an evicted agent's later waits end at once") {
  Dispatcher d(StillClock());
  CHECK(d.EvictAgent("agt_thief") == 0);  // nothing waiting: a poll still on its way
  Dispatcher::Wake wake = Dispatcher::Wake::kWork;
  bool called = false;
  d.Wait("org", "pool", "agt_thief", 0, Later(), [&](Dispatcher::Wake w) {
    called = true;
    wake = w;
  });
  CHECK(called);
  CHECK(wake == Dispatcher::Wake::kRevoked);
  CHECK(d.waiting() == 0);
}

}  // namespace
}  // namespace ovvoc::cp
