#include "tests/support/lying_registry.h"

#include <httplib.h>

#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "nlohmann/json.hpp"

namespace ovvoc::testing {
namespace {

absl::StatusOr<std::string> Get(httplib::Client& client, const std::string& path) {
  httplib::Result r = client.Get(path.c_str());
  if (!r) return absl::UnavailableError(absl::StrCat("GET ", path, ": ", httplib::to_string(r.error())));
  if (r->status != 200) return absl::UnavailableError(absl::StrCat("GET ", path, ": ", r->status));
  return r->body;
}

// The path ("/name/-/name-1.0.0.tgz") of the latest version's tarball in a packument served
// from `origin` ("http://host:port").
absl::StatusOr<std::string> LatestTarballPath(const nlohmann::json& packument,
                                              const std::string& origin) {
  const std::string latest = packument["dist-tags"].value("latest", "");
  const std::string url = packument["versions"][latest]["dist"].value("tarball", "");
  if (!absl::StartsWith(url, origin)) return absl::InternalError("no tarball at " + origin);
  return url.substr(origin.size());
}

}  // namespace

absl::StatusOr<std::unique_ptr<LyingRegistry>> LyingRegistry::Start(
    const std::string& real_host_port, const std::string& package, const std::string& substitute) {
  httplib::Client real(absl::StrCat("http://", real_host_port));
  const std::string origin = absl::StrCat("http://", real_host_port, "/");
  absl::StatusOr<std::string> genuine = Get(real, "/" + package);
  absl::StatusOr<std::string> other = Get(real, "/" + substitute);
  if (!genuine.ok()) return genuine.status();
  if (!other.ok()) return other.status();
  absl::StatusOr<std::string> other_path =
      LatestTarballPath(nlohmann::json::parse(*other), "http://" + real_host_port);
  if (!other_path.ok()) return other_path.status();
  absl::StatusOr<std::string> wrong_bytes = Get(real, *other_path);
  if (!wrong_bytes.ok()) return wrong_bytes.status();

  auto liar = std::unique_ptr<LyingRegistry>(new LyingRegistry());
  liar->server_ = std::make_unique<httplib::Server>();
  liar->port_ = liar->server_->bind_to_any_port("127.0.0.1");
  if (liar->port_ <= 0) return absl::UnavailableError("LyingRegistry cannot bind 127.0.0.1");
  // The genuine packument (integrity included), its tarballs moved here.
  const std::string packument = absl::StrReplaceAll(*genuine, {{origin, liar->url()}});
  LyingRegistry* self = liar.get();
  liar->server_->Get(R"(/.*)", [self, package, packument, bytes = *std::move(wrong_bytes)](
                                   const httplib::Request& request, httplib::Response& response) {
    if (request.path == "/" + package) {
      response.set_content(packument, "application/json");
    } else if (absl::StartsWith(request.path, "/" + package + "/-/")) {
      ++self->tarballs_served_;
      response.set_content(bytes, "application/octet-stream");
    } else {
      response.status = 404;
      response.set_content("{\"error\":\"not found\"}", "application/json");
    }
  });
  liar->thread_ = std::thread([server = liar->server_.get()] { server->listen_after_bind(); });
  // stop() is a no-op until the accept loop runs, so the destructor must not come before that.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!liar->server_->is_running()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::DeadlineExceededError("LyingRegistry did not start");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return liar;
}

LyingRegistry::~LyingRegistry() {
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string LyingRegistry::url() const { return absl::StrCat("http://127.0.0.1:", port_, "/"); }
std::string LyingRegistry::host_port() const { return absl::StrCat("127.0.0.1:", port_); }

}  // namespace ovvoc::testing
