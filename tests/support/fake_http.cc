#include "tests/support/fake_http.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ovvoc::testing {

void FakeHttpClient::Answer(const std::string& method, const std::string& url,
                            absl::StatusOr<http::Response> answer) {
  absl::MutexLock lock(&mu_);
  answers_[{method, url}].push_back(std::move(answer));
}

void FakeHttpClient::Answer(const std::string& method, const std::string& url, int status,
                            std::string body) {
  http::Response response;
  response.status = status;
  response.body = std::move(body);
  Answer(method, url, std::move(response));
}

absl::StatusOr<http::Response> FakeHttpClient::Send(const http::Request& request) {
  absl::MutexLock lock(&mu_);
  requests_.push_back(request);
  auto it = answers_.find({request.method, request.url});
  if (it == answers_.end() || it->second.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("FakeHttpClient: nothing scripted for ", request.method, " ", request.url));
  }
  absl::StatusOr<http::Response> answer = it->second.front();
  if (it->second.size() > 1) it->second.pop_front();
  if (answer.ok() && answer->body.size() > request.max_body_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(request.method, " ", request.url,
                                                     ": the answer is larger than ",
                                                     request.max_body_bytes, " bytes"));
  }
  if (answer.ok() && request.body_sink != nullptr) {
    // As libcurl would: the body streams into the sink, and the response holds none of it.
    if (absl::Status s = request.body_sink->Restart(); !s.ok()) return s;
    if (absl::Status s = request.body_sink->Write(answer->body); !s.ok()) return s;
    answer->body.clear();
  }
  return answer;
}

std::vector<http::Request> FakeHttpClient::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

}  // namespace ovvoc::testing
