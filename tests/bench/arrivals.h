// Arrivals: when each job reached an agent, keyed by job id, for the benches that measure
// enqueue -> agent holds job. Thread-safe. Bench support only.
#ifndef OVVOC_TESTS_BENCH_ARRIVALS_H_
#define OVVOC_TESTS_BENCH_ARRIVALS_H_

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace ovvoc::bench {

class Arrivals {
 public:
  void Record(const std::string& job_id, absl::Time at = absl::Now()) {
    absl::MutexLock lock(&mu_);
    arrived_[job_id] = at;
  }
  // Waits up to `timeout` for `job_id`; false if it has not arrived by then.
  bool WaitFor(const std::string& job_id, absl::Duration timeout, absl::Time& at) {
    absl::MutexLock lock(&mu_);
    auto has = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return arrived_.count(job_id) > 0; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&has), timeout)) return false;
    at = arrived_[job_id];
    return true;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, absl::Time> arrived_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ovvoc::bench

#endif  // OVVOC_TESTS_BENCH_ARRIVALS_H_
