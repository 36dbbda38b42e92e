// Executor: a fixed pool of threads for blocking work (store calls, libgit2, libcurl) that
// must not run on gRPC's reactor threads. FIFO. Thread-safe.
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
  explicit Executor(int threads);
  // Runs every task already posted, then joins the threads.
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Queues `task`. After shutdown began, the task is dropped.
  void Post(std::function<void()> task);

 private:
  void Loop();

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace ovvoc

#endif  // OVVOC_COMMON_EXECUTOR_H_
