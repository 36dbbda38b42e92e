// FakeHttpClient: an http::Client that answers from a script instead of the network, and
// records every request. Strict: a request nobody scripted is an error (and is recorded), so a
// test sees exactly what the code under test asked for. Test support only; thread-safe.
#ifndef OVVOC_TESTS_SUPPORT_FAKE_HTTP_H_
#define OVVOC_TESTS_SUPPORT_FAKE_HTTP_H_

#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/http.h"

namespace ovvoc::testing {

class FakeHttpClient final : public http::Client {
 public:
  // The next request `method url` gets `answer`; answers for the same request queue up in
  // order, and the last one repeats once the others are used.
  void Answer(const std::string& method, const std::string& url,
              absl::StatusOr<http::Response> answer) ABSL_LOCKS_EXCLUDED(mu_);
  // Shorthand: status and body, no headers.
  void Answer(const std::string& method, const std::string& url, int status,
              std::string body = "") ABSL_LOCKS_EXCLUDED(mu_);

  absl::StatusOr<http::Response> Send(const http::Request& request) override
      ABSL_LOCKS_EXCLUDED(mu_);

  // Every request sent so far, in order.
  std::vector<http::Request> requests() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  std::map<std::pair<std::string, std::string>, std::deque<absl::StatusOr<http::Response>>>
      answers_ ABSL_GUARDED_BY(mu_);
  std::vector<http::Request> requests_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ovvoc::testing

#endif  // OVVOC_TESTS_SUPPORT_FAKE_HTTP_H_
