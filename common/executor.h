// Executor: a fixed pool of threads for blocking work (store calls, libgit2, libcurl) that
// must not run on gRPC's reactor threads. FIFO, with a bounded queue: a caller that would queue
// past `max_queued` is told so at once, so a flood is refused instead of waited for.
// Thread-safe.
#ifndef OVVOC_COMMON_EXECUTOR_H_
#define OVVOC_COMMON_EXECUTOR_H_

#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace ovvoc {

class Executor {
 public:
  explicit Executor(int threads, size_t max_queued = kUnbounded);
  // Runs every task already posted, then joins the threads.
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  static constexpr size_t kUnbounded = ~size_t{0};

  // Queues `task`. False, and `task` is dropped, when the queue is full or shutdown began.
  [[nodiscard]] bool Post(std::function<void()> task);

  size_t queued() const;

 private:
  void Loop();

  const size_t max_queued_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace ovvoc

#endif  // OVVOC_COMMON_EXECUTOR_H_
