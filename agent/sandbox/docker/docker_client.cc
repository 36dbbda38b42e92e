#include "agent/sandbox/docker/docker_client.h"

#include <curl/curl.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"

namespace ovvoc::agent::sandbox {
namespace {

// Docker 20.10 (Debian 12) speaks API 1.41; newer daemons still accept it.
constexpr char kApiPrefix[] = "http://docker/v1.41";

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t AppendBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// A handle aimed at `method` `path` on the daemon's socket.
std::unique_ptr<CURL, CurlDeleter> Handle(const std::string& socket, absl::string_view method,
                                          absl::string_view path) {
  GlobalInit();
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  const std::string url = absl::StrCat(kApiPrefix, path);
  curl_easy_setopt(curl.get(), CURLOPT_UNIX_SOCKET_PATH, socket.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, std::string(method).c_str());
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  return curl;
}

absl::Status CurlError(CURLcode code, absl::string_view what, const std::string& socket) {
  std::string message = absl::StrCat(what, ": ", curl_easy_strerror(code));
  if (code == CURLE_COULDNT_CONNECT) {
    return absl::UnavailableError(absl::StrCat(message, " (is dockerd running on ", socket, "?)"));
  }
  if (code == CURLE_OPERATION_TIMEDOUT) return absl::DeadlineExceededError(message);
  if (code == CURLE_ABORTED_BY_CALLBACK) return absl::CancelledError(message);
  return absl::UnavailableError(message);
}

}  // namespace

nlohmann::json DockerClient::Response::Json() const {
  return nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
}

absl::Status DockerClient::ErrorFor(absl::string_view what, const Response& response) {
  nlohmann::json json = response.Json();
  std::string message = json.is_object() && json.contains("message") && json["message"].is_string()
                            ? json["message"].get<std::string>()
                            : response.body;
  message = absl::StrCat(what, ": docker answered ", response.status, ": ", message);
  if (response.status == 404) return absl::NotFoundError(message);
  if (response.status == 409) return absl::AlreadyExistsError(message);
  if (response.status >= 500) return absl::UnavailableError(message);
  return absl::InvalidArgumentError(message);
}

absl::StatusOr<DockerClient::Response> DockerClient::Call(absl::string_view method,
                                                          absl::string_view path,
                                                          const nlohmann::json* body,
                                                          absl::Duration timeout) const {
  auto curl = Handle(socket_path_, method, path);
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  std::string payload;
  if (body != nullptr) {
    payload = body->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    headers.reset(curl_slist_append(nullptr, "Content-Type: application/json"));
    curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, payload.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(payload.size()));
  }
  Response response;
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(timeout)));
  CURLcode code = curl_easy_perform(curl.get());
  if (code != CURLE_OK) return CurlError(code, absl::StrCat(method, " ", path), socket_path_);
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

absl::StatusOr<DockerClient::Response> DockerClient::Upload(absl::string_view path,
                                                            const std::string& file,
                                                            absl::string_view content_type) const {
  std::unique_ptr<FILE, FileCloser> in(std::fopen(file.c_str(), "rb"));
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", file));
  struct stat st {};
  ::fstat(fileno(in.get()), &st);
  auto curl = Handle(socket_path_, "POST", path);
  const std::string type = absl::StrCat("Content-Type: ", content_type);
  std::unique_ptr<curl_slist, SlistDeleter> headers(curl_slist_append(nullptr, type.c_str()));
  headers.reset(curl_slist_append(headers.release(), "Expect:"));  // no 100-continue pause
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl.get(), CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, "POST");
  curl_easy_setopt(curl.get(), CURLOPT_READDATA, in.get());
  curl_easy_setopt(curl.get(), CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(st.st_size));
  Response response;
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, 600'000L);
  CURLcode code = curl_easy_perform(curl.get());
  if (code != CURLE_OK) return CurlError(code, absl::StrCat("POST ", path), socket_path_);
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

absl::Status DockerClient::Ping() const {
  absl::StatusOr<Response> pong = Call("GET", "/_ping", nullptr, absl::Seconds(3));
  if (!pong.ok()) return pong.status();
  if (pong->status != 200) return ErrorFor("ping", *pong);
  return absl::OkStatus();
}

}  // namespace ovvoc::agent::sandbox
