#include "tests/support/git_http_server.h"

#include <httplib.h>

#include <chrono>
#include <cstdlib>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "tests/support/cgi.h"
#include "tests/support/git_cli.h"
#include "tests/support/subprocess.h"

namespace ovvoc::testing {
namespace {

// "/acme/widgets.git/info/refs" -> "acme/widgets.git". Paths with "." or ".." segments name
// no repository: they could escape the root or dodge the token's prefix.
std::optional<std::string> RepoPathOf(absl::string_view path) {
  if (!absl::ConsumePrefix(&path, "/")) return std::nullopt;
  for (absl::string_view segment : absl::StrSplit(path, '/')) {
    if (segment == "." || segment == "..") return std::nullopt;
  }
  size_t end = path.find(".git/");
  if (end == absl::string_view::npos || end == 0) return std::nullopt;
  return std::string(path.substr(0, end + 4));
}

// user and password of "Authorization: Basic base64(user:password)".
std::optional<std::pair<std::string, std::string>> BasicCredentials(absl::string_view header) {
  if (!absl::StartsWithIgnoreCase(header, "Basic ")) return std::nullopt;
  std::string decoded;
  if (!absl::Base64Unescape(absl::StripAsciiWhitespace(header.substr(6)), &decoded)) {
    return std::nullopt;
  }
  size_t colon = decoded.find(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::make_pair(decoded.substr(0, colon), decoded.substr(colon + 1));
}

// cpp-httplib has already decoded these request bodies when it was built with zlib / brotli
// (Debian's is): passing the encoding on would make http-backend decode them a second time.
bool DecodedByHttplib(absl::string_view encoding) {
#ifdef CPPHTTPLIB_ZLIB_SUPPORT
  if (encoding == "gzip" || encoding == "deflate") return true;
#endif
#ifdef CPPHTTPLIB_BROTLI_SUPPORT
  if (absl::StrContains(encoding, "br")) return true;
#endif
  return false;
}

// The CGI environment of one request: nothing is inherited from ours but PATH.
std::vector<std::string> BackendEnvironment(const std::string& root,
                                            const httplib::Request& request,
                                            const std::string* remote_user) {
  const char* path = std::getenv("PATH");
  size_t query = request.target.find('?');
  std::vector<std::string> env = {
      absl::StrCat("PATH=", path ? path : "/usr/bin:/bin"),
      "HOME=/nonexistent",
      "GIT_CONFIG_NOSYSTEM=1",
      "GIT_CONFIG_GLOBAL=/dev/null",
      absl::StrCat("GIT_PROJECT_ROOT=", root),
      "GIT_HTTP_EXPORT_ALL=1",
      absl::StrCat("PATH_INFO=", request.path),
      absl::StrCat("REQUEST_METHOD=", request.method),
      absl::StrCat("QUERY_STRING=",
                   query == std::string::npos ? "" : request.target.substr(query + 1)),
      absl::StrCat("REMOTE_ADDR=", request.remote_addr),
      absl::StrCat("CONTENT_LENGTH=", request.body.size()),
  };
  if (request.has_header("Content-Type")) {
    env.push_back(absl::StrCat("CONTENT_TYPE=", request.get_header_value("Content-Type")));
  }
  std::string encoding = request.get_header_value("Content-Encoding");
  if (!encoding.empty() && !DecodedByHttplib(encoding)) {
    env.push_back(absl::StrCat("HTTP_CONTENT_ENCODING=", encoding));
  }
  if (request.has_header("Git-Protocol")) {
    env.push_back(absl::StrCat("GIT_PROTOCOL=", request.get_header_value("Git-Protocol")));
  }
  if (remote_user != nullptr) {
    env.push_back(absl::StrCat("REMOTE_USER=", remote_user->empty() ? "token" : *remote_user));
    env.insert(env.end(), {"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.receivepack",
                           "GIT_CONFIG_VALUE_0=true"});
  }
  return env;
}

void RespondText(httplib::Response& response, int status, const std::string& text) {
  response.status = status;
  response.set_content(text + "\n", "text/plain");
}

bool IsHopByHop(absl::string_view header) {
  return absl::EqualsIgnoreCase(header, "Content-Length") ||
         absl::EqualsIgnoreCase(header, "Transfer-Encoding") ||
         absl::EqualsIgnoreCase(header, "Connection");
}

// Runs `git http-backend` for `request` and copies its CGI answer into `response`.
void ServeWithBackend(const std::string& root, const httplib::Request& request,
                      const std::string* remote_user, httplib::Response& response) {
  ProcessSpec spec;
  spec.argv = {"git", "http-backend"};
  spec.env = BackendEnvironment(root, request, remote_user);
  spec.stdin_data = request.body;
  absl::StatusOr<ProcessResult> result = RunProcess(spec);
  if (!result.ok()) return RespondText(response, 500, result.status().ToString());
  absl::StatusOr<CgiResponse> cgi = ParseCgiOutput(result->stdout_data);
  if (!cgi.ok()) {
    return RespondText(response, 500,
                       absl::StrCat(cgi.status().ToString(), "\n", result->stderr_data));
  }
  response.status = cgi->status;
  for (const auto& [name, value] : cgi->headers) {
    if (!IsHopByHop(name)) response.set_header(name, value);
  }
  response.set_content(std::move(cgi->body),
                       cgi->content_type.empty() ? "application/octet-stream" : cgi->content_type);
}

}  // namespace

GitHttpServer::GitHttpServer(std::string root) : root_(std::move(root)) {}

GitHttpServer::~GitHttpServer() { Stop(); }

absl::Status GitHttpServer::Start() {
  if (server_ != nullptr) return absl::FailedPreconditionError("GitHttpServer already started");
  server_ = std::make_unique<httplib::Server>();
  httplib::Server::Handler handler = [this](const httplib::Request& request,
                                            httplib::Response& response) {
    Handle(request, response);
  };
  server_->Get(R"(/.*)", handler);
  server_->Post(R"(/.*)", handler);
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) {
    server_.reset();
    return absl::UnavailableError("GitHttpServer cannot bind 127.0.0.1");
  }
  thread_ = std::thread([server = server_.get()] { server->listen_after_bind(); });
  // stop() is a no-op until the accept loop runs, so Stop() must not come before that.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!server_->is_running()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::DeadlineExceededError("GitHttpServer did not start");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return absl::OkStatus();
}

void GitHttpServer::Stop() {
  if (server_ == nullptr) return;
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

std::string GitHttpServer::BaseUrl() const { return absl::StrCat("http://127.0.0.1:", port_); }

void GitHttpServer::AddToken(std::string token, std::string repo_path_prefix) {
  absl::string_view prefix = repo_path_prefix;
  absl::ConsumePrefix(&prefix, "/");
  absl::MutexLock lock(&mu_);
  tokens_.emplace_back(std::move(token), std::string(prefix));
}

void GitHttpServer::set_require_auth(bool require_auth) {
  absl::MutexLock lock(&mu_);
  require_auth_ = require_auth;
}

int GitHttpServer::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

int GitHttpServer::authenticated_requests() const {
  absl::MutexLock lock(&mu_);
  return authenticated_requests_;
}

int GitHttpServer::rejected_requests() const {
  absl::MutexLock lock(&mu_);
  return rejected_requests_;
}

GitHttpServer::AuthOutcome GitHttpServer::last_auth_outcome() const {
  absl::MutexLock lock(&mu_);
  return last_auth_outcome_;
}

absl::StatusOr<std::string> GitHttpServer::CreateBareRepoFromDir(const std::string& source_dir,
                                                                 const std::string& bare_path) {
  if (absl::Status status = InitBareRepo(bare_path, "main"); !status.ok()) return status;
  return PushDirAsBranch(source_dir, bare_path, "main");
}

GitHttpServer::AuthDecision GitHttpServer::Authorize(const httplib::Request& request,
                                                     const std::string& repo_path) {
  auto credentials = BasicCredentials(request.get_header_value("Authorization"));
  if (!credentials.has_value()) return {AuthOutcome::kMissing, ""};
  auto& [username, token] = *credentials;
  absl::MutexLock lock(&mu_);
  bool known = false;
  for (const auto& [allowed_token, prefix] : tokens_) {
    if (allowed_token != token) continue;
    known = true;
    if (absl::StartsWith(repo_path, prefix)) return {AuthOutcome::kAccepted, username};
  }
  return {known ? AuthOutcome::kForbidden : AuthOutcome::kRejected, ""};
}

void GitHttpServer::Record(AuthOutcome outcome) {
  absl::MutexLock lock(&mu_);
  ++requests_;
  if (outcome == AuthOutcome::kAccepted) ++authenticated_requests_;
  if (outcome == AuthOutcome::kRejected) ++rejected_requests_;
  last_auth_outcome_ = outcome;
}

void GitHttpServer::Handle(const httplib::Request& request, httplib::Response& response) {
  std::optional<std::string> repo_path = RepoPathOf(request.path);
  if (!repo_path.has_value()) {
    Record(AuthOutcome::kMissing);
    return RespondText(response, 404, "no repository at this path");
  }
  AuthDecision decision = Authorize(request, *repo_path);
  Record(decision.outcome);
  bool require_auth;
  {
    absl::MutexLock lock(&mu_);
    require_auth = require_auth_;
  }
  if (decision.outcome == AuthOutcome::kRejected ||
      (decision.outcome == AuthOutcome::kMissing && require_auth)) {
    // The challenge makes clients (git, libgit2) send their credentials on the next try.
    response.set_header("WWW-Authenticate", "Basic realm=\"git\"");
    return RespondText(response, 401, "authentication required");
  }
  if (decision.outcome == AuthOutcome::kForbidden) {
    return RespondText(response, 403, absl::StrCat("this token may not access ", *repo_path));
  }
  bool accepted = decision.outcome == AuthOutcome::kAccepted;
  ServeWithBackend(root_, request, accepted ? &decision.username : nullptr, response);
}

}  // namespace ovvoc::testing
