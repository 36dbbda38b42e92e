// Executor: FIFO on a fixed pool, and a bounded queue that refuses instead of growing.
#include "common/executor.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <vector>

#include "absl/synchronization/notification.h"

namespace ovvoc {
namespace {

TEST_CASE("a full queue refuses a task at once and takes one again when there is room") {
  absl::Notification release;
  std::atomic<int> ran{0};
  {
    Executor executor(1, /*max_queued=*/2);
    absl::Notification started;
    REQUIRE(executor.Post([&] {
      started.Notify();
      release.WaitForNotification();
      ++ran;
    }));
    started.WaitForNotification();  // the only thread is busy; the queue is empty
    CHECK(executor.Post([&] { ++ran; }));
    CHECK(executor.Post([&] { ++ran; }));
    CHECK(executor.queued() == 2);
    CHECK(!executor.Post([&] { ran += 100; }));  // refused and dropped
    release.Notify();
  }  // the destructor runs what was queued
  CHECK(ran == 3);
}

TEST_CASE("tasks run in the order they were posted") {
  std::vector<int> order;
  {
    Executor executor(1);
    for (int i = 0; i < 50; ++i) REQUIRE(executor.Post([&order, i] { order.push_back(i); }));
  }
  REQUIRE(order.size() == 50);
  for (int i = 0; i < 50; ++i) CHECK(order[static_cast<size_t>(i)] == i);
}

}  // namespace
}  // namespace ovvoc
