// A real git smart-HTTP server for tests: cpp-httplib in front of `git http-backend` (CGI),
// listening on 127.0.0.1 with a port the kernel picks.
//
// It serves the bare repositories under `root` at /OWNER/REPO.git/... for clone, fetch and
// (authenticated) push, and checks HTTP basic auth like a forge does with access tokens: the
// user name is ignored, the password must be a token allowed for the repository.
//
// Thread safety: every method may be called from any thread while the server runs; requests
// are served on cpp-httplib's own threads.
#ifndef OVVOC_TESTS_SUPPORT_GIT_HTTP_SERVER_H_
#define OVVOC_TESTS_SUPPORT_GIT_HTTP_SERVER_H_

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace ovvoc::testing {

class GitHttpServer {
 public:
  // How the server judged the Authorization header of a request.
  enum class AuthOutcome {
    kNone,       // no request yet
    kMissing,    // no (usable) Authorization header
    kRejected,   // a token the server does not know
    kForbidden,  // a known token, but not for this repository
    kAccepted,   // a token allowed for this repository
  };

  explicit GitHttpServer(std::string root);
  ~GitHttpServer();
  GitHttpServer(const GitHttpServer&) = delete;
  GitHttpServer& operator=(const GitHttpServer&) = delete;

  // Binds 127.0.0.1:0 and serves on a background thread until Stop().
  absl::Status Start();
  void Stop();

  int port() const { return port_; }
  // "http://127.0.0.1:PORT"; repositories are at BaseUrl() + "/OWNER/REPO.git".
  std::string BaseUrl() const;

  // Allows `token` for every repository whose path (e.g. "acme/widgets.git") starts with
  // `repo_path_prefix`.
  void AddToken(std::string token, std::string repo_path_prefix);
  // Default true. When false, requests without credentials may read (not push); a presented
  // token is still checked.
  void set_require_auth(bool require_auth);

  int requests() const;
  // Requests that carried a token allowed for their repository.
  int authenticated_requests() const;
  // Requests that carried an unknown token.
  int rejected_requests() const;
  AuthOutcome last_auth_outcome() const;

  // Builds a fixture: a bare repository at `bare_path` (HEAD on "main") whose one commit holds
  // the files of `source_dir`, with a fixed author and date. Returns the commit id.
  static absl::StatusOr<std::string> CreateBareRepoFromDir(const std::string& source_dir,
                                                           const std::string& bare_path);

 private:
  struct AuthDecision {
    AuthOutcome outcome = AuthOutcome::kMissing;
    std::string username;  // set when accepted
  };

  void Handle(const httplib::Request& request, httplib::Response& response);
  AuthDecision Authorize(const httplib::Request& request, const std::string& repo_path);
  void Record(AuthOutcome outcome);

  // Immutable after construction.
  const std::string root_;

  // Owned by the thread that calls Start() and Stop().
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;

  mutable absl::Mutex mu_;
  std::vector<std::pair<std::string, std::string>> tokens_ ABSL_GUARDED_BY(mu_);
  bool require_auth_ ABSL_GUARDED_BY(mu_) = true;
  int requests_ ABSL_GUARDED_BY(mu_) = 0;
  int authenticated_requests_ ABSL_GUARDED_BY(mu_) = 0;
  int rejected_requests_ ABSL_GUARDED_BY(mu_) = 0;
  AuthOutcome last_auth_outcome_ ABSL_GUARDED_BY(mu_) = AuthOutcome::kNone;
};

}  // namespace ovvoc::testing

#endif  // OVVOC_TESTS_SUPPORT_GIT_HTTP_SERVER_H_
