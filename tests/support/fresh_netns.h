// FreshNetns: a new network namespace with only `lo` (up), for tests that need one. Creating
// it needs root; check status() and skip the test when it failed.
#ifndef OVVOC_TESTS_SUPPORT_FRESH_NETNS_H_
#define OVVOC_TESTS_SUPPORT_FRESH_NETNS_H_

#include <functional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"

namespace ovvoc::testing {

// The namespace is held by a thread of its own for the object's life.
class FreshNetns {
 public:
  FreshNetns();
  ~FreshNetns();
  FreshNetns(const FreshNetns&) = delete;
  FreshNetns& operator=(const FreshNetns&) = delete;

  const absl::Status& status() const { return status_; }
  const std::string& path() const { return path_; }  // "/proc/self/task/TID/ns/net"
  int tid() const { return tid_; }  // the thread holding it: "/proc/TID/ns/net" names it too

 private:
  void Hold();
  absl::Status Enter();

  absl::Notification ready_;
  absl::Notification release_;
  absl::Status status_;
  std::string path_;
  int tid_ = 0;
  std::thread thread_;  // last: starts once the members above exist
};

// Runs `work` on a new thread that has joined the namespace at `path`; false if it could not.
bool RunInNetns(const std::string& path, const std::function<void()>& work);

}  // namespace ovvoc::testing

#endif  // OVVOC_TESTS_SUPPORT_FRESH_NETNS_H_
