#include "control-plane/server/dispatcher.h"

#include <algorithm>
#include <vector>

namespace ovvoc::cp {

Dispatcher::Dispatcher(const Clock& clock) : clock_(clock), timer_([this] { TimerLoop(); }) {}

Dispatcher::~Dispatcher() {
  Shutdown();
  timer_.join();
}

uint64_t Dispatcher::Generation(const std::string& org_id, const std::string& pool) {
  absl::MutexLock lock(&mu_);
  auto it = generations_.find(PoolKey(org_id, pool));
  return it == generations_.end() ? 0 : it->second;
}

Dispatcher::WaiterId Dispatcher::Wait(const std::string& org_id, const std::string& pool,
                                      const std::string& agent_id, uint64_t seen_generation,
                                      absl::Time deadline, Callback callback) {
  PoolKey key(org_id, pool);
  WaiterId id;
  std::optional<Wake> fire_now;
  {
    absl::MutexLock lock(&mu_);
    id = next_id_++;
    auto gen = generations_.find(key);
    if (shutdown_) {
      fire_now = Wake::kShutdown;
    } else if (evicted_.contains(agent_id)) {
      fire_now = Wake::kRevoked;
    } else if (gen != generations_.end() && gen->second > seen_generation) {
      fire_now = Wake::kWork;
    } else {
      waiters_.emplace(id, Waiter{key, agent_id, deadline, std::move(callback)});
      by_pool_[key].push_back(id);
      by_agent_[agent_id].insert(id);
      deadlines_.emplace(deadline, id);
    }
  }
  if (fire_now.has_value()) callback(*fire_now);
  return id;
}

Dispatcher::Callback Dispatcher::TakeLocked(WaiterId id) {
  auto it = waiters_.find(id);
  Waiter waiter = std::move(it->second);
  waiters_.erase(it);
  deadlines_.erase({waiter.deadline, id});
  auto pool = by_pool_.find(waiter.pool);
  pool->second.remove(id);
  if (pool->second.empty()) by_pool_.erase(pool);
  auto agent = by_agent_.find(waiter.agent_id);
  agent->second.erase(id);
  if (agent->second.empty()) by_agent_.erase(agent);
  return std::move(waiter.callback);
}

bool Dispatcher::Cancel(WaiterId id) {
  absl::MutexLock lock(&mu_);
  if (!waiters_.contains(id)) return false;
  TakeLocked(id);  // dropped without running
  return true;
}

void Dispatcher::Notify(const std::string& org_id, const std::string& pool, int count) {
  std::vector<Callback> woken;
  {
    absl::MutexLock lock(&mu_);
    PoolKey key(org_id, pool);
    generations_[key] += 1;
    auto it = by_pool_.find(key);
    while (count-- > 0 && it != by_pool_.end()) {
      WaiterId id = it->second.front();
      woken.push_back(TakeLocked(id));  // may erase the pool entry
      it = by_pool_.find(key);
    }
  }
  for (Callback& cb : woken) cb(Wake::kWork);
}

size_t Dispatcher::EvictAgent(const std::string& agent_id) {
  std::vector<Callback> woken;
  {
    absl::MutexLock lock(&mu_);
    evicted_.insert(agent_id);
    auto it = by_agent_.find(agent_id);
    if (it == by_agent_.end()) return 0;
    const std::set<WaiterId> ids = it->second;
    for (WaiterId id : ids) woken.push_back(TakeLocked(id));
  }
  for (Callback& cb : woken) cb(Wake::kRevoked);
  return woken.size();
}

void Dispatcher::Shutdown() {
  std::vector<Callback> woken;
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    while (!waiters_.empty()) woken.push_back(TakeLocked(waiters_.begin()->first));
  }
  for (Callback& cb : woken) cb(Wake::kShutdown);
}

size_t Dispatcher::waiting() const {
  absl::MutexLock lock(&mu_);
  return waiters_.size();
}

void Dispatcher::TimerLoop() {
  absl::MutexLock lock(&mu_);
  while (!shutdown_) {
    const absl::Time next = deadlines_.empty() ? absl::InfiniteFuture() : deadlines_.begin()->first;
    // Wakes early when shutting down or when an earlier deadline is registered.
    auto ready = [this, next]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return shutdown_ || (!deadlines_.empty() && deadlines_.begin()->first < next);
    };
    clock_.AwaitWithDeadline(mu_, absl::Condition(&ready), next);
    if (shutdown_) break;
    std::vector<Callback> expired;
    const absl::Time now = clock_.Now();
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      expired.push_back(TakeLocked(deadlines_.begin()->second));
    }
    if (expired.empty()) continue;
    mu_.Unlock();
    for (Callback& cb : expired) cb(Wake::kTimeout);
    mu_.Lock();
  }
}

}  // namespace ovvoc::cp
