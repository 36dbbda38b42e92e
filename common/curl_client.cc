// http::Client over libcurl: a pool of easy handles, each keeping its connections alive.
#include <curl/curl.h>

#include <sys/socket.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "common/http.h"
#include "common/status_macros.h"

namespace ovvoc::http {
namespace {

using Easy = std::unique_ptr<CURL, decltype(&curl_easy_cleanup)>;
using HeaderList = std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)>;

// What one exchange collects, and why it stopped early.
struct Exchange {
  const Request* request = nullptr;
  Response response;
  size_t max_body = 0;
  size_t streamed = 0;  // body bytes given to request->body_sink
  bool over_cap = false;
  absl::Status sink_error;
  std::optional<absl::Status> refused;  // check_address said no
};

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<Exchange*>(user)->request->cancelled() ? 1 : 0;
}

curl_socket_t OnOpenSocket(void* user, curlsocktype purpose, curl_sockaddr* address) {
  auto* exchange = static_cast<Exchange*>(user);
  if (purpose == CURLSOCKTYPE_IPCXN && exchange->request->check_address) {
    absl::Status allowed = exchange->request->check_address(&address->addr, address->addrlen);
    if (!allowed.ok()) {
      exchange->refused = std::move(allowed);
      return CURL_SOCKET_BAD;
    }
  }
  return ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* exchange = static_cast<Exchange*>(user);
  const size_t n = size * count;
  BodySink* sink = exchange->request->body_sink;
  const size_t held = sink != nullptr ? exchange->streamed : exchange->response.body.size();
  if (held + n > exchange->max_body) {
    exchange->over_cap = true;
    return 0;  // libcurl aborts the transfer
  }
  if (sink == nullptr) {
    exchange->response.body.append(data, n);
    return n;
  }
  exchange->sink_error = sink->Write(absl::string_view(data, n));
  if (!exchange->sink_error.ok()) return 0;
  exchange->streamed += n;
  return n;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* exchange = static_cast<Exchange*>(user);
  const size_t n = size * count;
  absl::string_view line(data, n);
  line = absl::StripTrailingAsciiWhitespace(line);
  if (absl::StartsWith(line, "HTTP/")) {
    exchange->response.headers.clear();  // a new response (after 100 Continue): its own headers
    return n;
  }
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos) return n;
  exchange->response.headers.emplace_back(
      absl::AsciiStrToLower(line.substr(0, colon)),
      std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  return n;
}

absl::Status TransportError(CURLcode code, const Request& request, const char* detail) {
  const std::string what = absl::StrCat(request.method, " ", request.url, ": ",
                                        detail[0] != '\0' ? detail : curl_easy_strerror(code));
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(what);
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return absl::InvalidArgumentError(what);
    case CURLE_FILESIZE_EXCEEDED:
      return absl::ResourceExhaustedError(what);
    case CURLE_ABORTED_BY_CALLBACK:
      return absl::CancelledError(what);
    default:
      return absl::UnavailableError(what);
  }
}

class CurlClient final : public Client {
 public:
  explicit CurlClient(const CurlOptions& options) : options_(options) {
    curl_global_init(CURL_GLOBAL_DEFAULT);  // idempotent; thread-safe since libcurl 7.84
  }

  absl::StatusOr<Response> Send(const Request& request) override {
    Easy easy = Take();
    if (easy == nullptr) return absl::InternalError("libcurl: cannot make a handle");
    absl::StatusOr<Response> result = Perform(easy.get(), request);
    Give(std::move(easy));
    return result;
  }

 private:
  absl::StatusOr<Response> Perform(CURL* curl, const Request& request) {
    curl_easy_reset(curl);  // keeps the handle's live connections
    Exchange exchange;
    exchange.request = &request;
    exchange.max_body = request.max_body_bytes;
    char error[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);  // what the caller checked is what is sent
    // A server that dribbles: under 1 byte/s for 30 s ends the exchange (timeout bounds the rest).
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 30L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, options_.user_agent.c_str());
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");  // gzip and friends, decoded
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(absl::ToInt64Milliseconds(request.connect_timeout)));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(absl::ToInt64Milliseconds(request.timeout)));
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE,
                     static_cast<curl_off_t>(request.max_body_bytes));
    if (!options_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &exchange);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &exchange);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, OnOpenSocket);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &exchange);
    if (request.cancelled) {
      curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
      curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, OnProgress);
      curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &exchange);
    }

    HeaderList headers(nullptr, &curl_slist_free_all);
    for (const auto& [name, value] : request.headers) {
      curl_slist* appended =
          curl_slist_append(headers.get(), absl::StrCat(name, ": ", value).c_str());
      if (appended == nullptr) return absl::InternalError("libcurl: out of memory");
      headers.release();
      headers.reset(appended);
    }
    if (headers != nullptr) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());

    if (request.method == "HEAD") {
      curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (request.method != "GET" || !request.body.empty()) {
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
    }

    if (request.body_sink != nullptr) OVVOC_RETURN_IF_ERROR(request.body_sink->Restart());
    const CURLcode code = curl_easy_perform(curl);
    if (!exchange.sink_error.ok()) return exchange.sink_error;
    if (exchange.over_cap) {
      return absl::ResourceExhaustedError(
          absl::StrCat(request.method, " ", request.url, ": the answer is larger than ",
                       request.max_body_bytes, " bytes"));
    }
    if (exchange.refused) {
      return absl::PermissionDeniedError(
          absl::StrCat(request.method, " ", request.url, ": ", exchange.refused->message()));
    }
    if (code != CURLE_OK) return TransportError(code, request, error);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    exchange.response.status = static_cast<int>(status);
    return std::move(exchange.response);
  }

  // A free handle (made if fewer than max_parallel exist), waiting for one if none is free.
  Easy Take() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || made_ < options_.max_parallel;
    };
    mu_.Await(absl::Condition(&available));
    if (!idle_.empty()) {
      Easy easy = std::move(idle_.back());
      idle_.pop_back();
      return easy;
    }
    Easy easy(curl_easy_init(), &curl_easy_cleanup);
    if (easy != nullptr) ++made_;
    return easy;
  }

  void Give(Easy easy) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    idle_.push_back(std::move(easy));
  }

  const CurlOptions options_;
  absl::Mutex mu_;
  std::vector<Easy> idle_ ABSL_GUARDED_BY(mu_);
  int made_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

std::unique_ptr<Client> NewCurlClient(const CurlOptions& options) {
  return std::make_unique<CurlClient>(options);
}

}  // namespace ovvoc::http
