// A registry that lies about one package, for tests: it answers the package's packument as a
// real registry (a Verdaccio) published it, integrity and all, with the tarball URLs pointing at
// itself, and answers those tarballs with another package's bytes. What a compromised registry
// or a machine in the middle would do. Everything else is 404. Test support only.
#ifndef OVVOC_TESTS_SUPPORT_LYING_REGISTRY_H_
#define OVVOC_TESTS_SUPPORT_LYING_REGISTRY_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace ovvoc::testing {

class LyingRegistry {
 public:
  // `real_host_port` ("127.0.0.1:PORT") serves plain HTTP and holds both packages; `package`'s
  // tarballs are answered with the bytes of `substitute`'s latest tarball.
  static absl::StatusOr<std::unique_ptr<LyingRegistry>> Start(const std::string& real_host_port,
                                                              const std::string& package,
                                                              const std::string& substitute);
  ~LyingRegistry();
  LyingRegistry(const LyingRegistry&) = delete;
  LyingRegistry& operator=(const LyingRegistry&) = delete;

  std::string url() const;        // "http://127.0.0.1:PORT/"
  std::string host_port() const;  // "127.0.0.1:PORT"
  int tarballs_served() const { return tarballs_served_.load(); }

 private:
  LyingRegistry() = default;

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> tarballs_served_{0};
};

}  // namespace ovvoc::testing

#endif  // OVVOC_TESTS_SUPPORT_LYING_REGISTRY_H_
