// Clock: ManualClock's waits end when the test moves time (and only then, unless their
// condition holds first); the real clock's waits are absl's.
#include "common/clock.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>
#include <vector>

namespace ovvoc {
namespace {

const absl::Duration kHang = absl::Minutes(1);  // bounds a hung test, never a slow one

// A thread waiting on `clock` for `deadline`, or for `ready` under `mu`.
class Waiter {
 public:
  Waiter(const Clock& clock, absl::Time deadline)
      : thread_([this, &clock, deadline] {
          absl::MutexLock lock(&mu_);
          const bool result = clock.AwaitWithDeadline(mu_, absl::Condition(&ready_), deadline);
          result_ = result ? 1 : 0;
        }) {}
  ~Waiter() {
    MakeReady();
    thread_.join();
  }

  void MakeReady() {
    absl::MutexLock lock(&mu_);
    ready_ = true;
  }
  // -1 while waiting, else what AwaitWithDeadline returned.
  int result() {
    absl::MutexLock lock(&mu_);
    return result_;
  }
  bool AwaitResult() {
    absl::MutexLock lock(&mu_);
    auto returned = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return result_ != -1; };
    return mu_.AwaitWithTimeout(absl::Condition(&returned), kHang);
  }

 private:
  absl::Mutex mu_;
  bool ready_ ABSL_GUARDED_BY(mu_) = false;
  int result_ ABSL_GUARDED_BY(mu_) = -1;
  std::thread thread_;
};

TEST_CASE("a manual clock's wait ends when the clock reaches its deadline, not before") {
  ManualClock clock;
  const absl::Time deadline = clock.Now() + absl::Seconds(10);
  Waiter waiter(clock, deadline);
  REQUIRE(clock.AwaitWaiters(1, kHang));
  clock.Advance(absl::Seconds(9));
  REQUIRE(clock.AwaitWaiters(1, kHang));  // not due: still waiting
  CHECK(waiter.result() == -1);
  clock.Advance(absl::Seconds(1));
  REQUIRE(waiter.AwaitResult());
  CHECK(waiter.result() == 0);  // timed out
  CHECK(clock.Now() == deadline);
}

TEST_CASE("a manual clock's wait ends when its condition holds, the clock standing still") {
  ManualClock clock;
  const absl::Time start = clock.Now();
  Waiter waiter(clock, start + absl::Hours(1));
  REQUIRE(clock.AwaitWaiters(1, kHang));
  waiter.MakeReady();
  REQUIRE(waiter.AwaitResult());
  CHECK(waiter.result() == 1);
  CHECK(clock.Now() == start);
}

TEST_CASE("a manual clock set back and forth wakes a waiter only at its deadline") {
  ManualClock clock;
  const absl::Time deadline = clock.Now() + absl::Seconds(10);
  Waiter waiter(clock, deadline);
  REQUIRE(clock.AwaitWaiters(1, kHang));
  clock.Set(deadline - absl::Hours(1));
  clock.Set(deadline - absl::Seconds(1));
  REQUIRE(clock.AwaitWaiters(1, kHang));
  CHECK(waiter.result() == -1);
  clock.Set(deadline + absl::Hours(1));
  REQUIRE(waiter.AwaitResult());
  CHECK(waiter.result() == 0);
}

TEST_CASE("a wait whose deadline has passed returns at once, with its condition") {
  ManualClock clock;
  absl::Mutex mu;
  bool ready = false;
  absl::MutexLock lock(&mu);
  CHECK_FALSE(clock.AwaitWithDeadline(mu, absl::Condition(&ready), clock.Now()));
  ready = true;
  CHECK(clock.AwaitWithDeadline(mu, absl::Condition(&ready), clock.Now() - absl::Hours(1)));
}

TEST_CASE("waiters on one mutex wake each at its own deadline") {
  ManualClock clock;
  absl::Mutex mu;
  std::vector<int> woken;
  auto wait = [&](int id, absl::Duration after) {
    static const bool kNever = false;
    absl::MutexLock lock(&mu);
    clock.AwaitWithDeadline(mu, absl::Condition(&kNever), clock.Now() + after);
    woken.push_back(id);
  };
  std::thread first(wait, 1, absl::Seconds(1));
  std::thread second(wait, 2, absl::Seconds(2));
  REQUIRE(clock.AwaitWaiters(2, kHang));
  clock.Advance(absl::Seconds(1));
  first.join();
  REQUIRE(clock.AwaitWaiters(1, kHang));
  {
    absl::MutexLock lock(&mu);
    CHECK(woken == std::vector<int>{1});
  }
  clock.Advance(absl::Seconds(1));
  second.join();
  CHECK(woken == std::vector<int>{1, 2});
}

TEST_CASE("SleepFor on a manual clock lasts until the clock has moved that far") {
  ManualClock clock;
  const absl::Time start = clock.Now();
  std::atomic<bool> slept{false};
  std::thread sleeper([&] {
    clock.SleepFor(absl::Minutes(5));
    slept = true;
  });
  REQUIRE(clock.AwaitWaiters(1, kHang));
  clock.Advance(absl::Minutes(4));
  REQUIRE(clock.AwaitWaiters(1, kHang));
  CHECK_FALSE(slept);
  clock.Advance(absl::Minutes(1));
  sleeper.join();
  CHECK(clock.Now() == start + absl::Minutes(5));
}

// A wake-up lost between registering and waiting would leave a thread asleep for good: the
// clock marks a waiter due once and does not wake it again.
TEST_CASE("waits racing with Advance are never lost") {
  ManualClock clock;
  constexpr int kThreads = 4;
  std::atomic<int> finished{0};
  std::vector<std::thread> sleepers;
  for (int i = 0; i < kThreads; ++i) {
    sleepers.emplace_back([&] {
      for (int round = 0; round < 200; ++round) clock.SleepFor(absl::Milliseconds(1));
      ++finished;
    });
  }
  while (finished < kThreads) {
    clock.Advance(absl::Milliseconds(1));
    std::this_thread::yield();
  }
  for (std::thread& t : sleepers) t.join();
}

TEST_CASE("the real clock waits on real time") {
  const Clock& clock = Clock::Real();
  absl::Mutex mu;
  bool ready = false;
  absl::MutexLock lock(&mu);
  CHECK_FALSE(
      clock.AwaitWithDeadline(mu, absl::Condition(&ready), clock.Now() + absl::Milliseconds(20)));
  ready = true;
  CHECK(clock.AwaitWithDeadline(mu, absl::Condition(&ready), absl::InfiniteFuture()));
}

}  // namespace
}  // namespace ovvoc
