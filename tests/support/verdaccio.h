// Verdaccio: a real npm registry on 127.0.0.1 for tests, serving only packages a test
// publishes to it (no uplinks: nothing is fetched from elsewhere), or, for benchmarks, a caching
// mirror of another registry. Installed by tests/run.sh (tests/support/verdaccio/install.sh) and
// run with the job image's node. Test support only.
#ifndef OVVOC_TESTS_SUPPORT_VERDACCIO_H_
#define OVVOC_TESTS_SUPPORT_VERDACCIO_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "tests/support/daemon.h"
#include "tests/support/subprocess.h"

namespace ovvoc::testing {

class Verdaccio {
 public:
  // Why it cannot run here (not installed, no job image); empty when it can.
  static std::string UnavailableReason();

  struct Options {
    // Also serves (and keeps) every package of the registry at this URL.
    std::string uplink;
    // ("@acme"): that scope's packages are served to authenticated users only.
    std::string private_scope;
    // Serves https with a certificate for 127.0.0.1 from a CA of its own (ca_file()), as an
    // internal mirror would.
    bool https = false;
  };

  // Starts a registry whose storage, config and logs live in `dir`.
  static absl::StatusOr<std::unique_ptr<Verdaccio>> Start(const std::string& dir,
                                                          const Options& options);
  static absl::StatusOr<std::unique_ptr<Verdaccio>> Start(const std::string& dir) {
    return Start(dir, Options());
  }

  std::string url() const;        // "http://127.0.0.1:PORT/" (https:// when serving https)
  std::string host_port() const;  // "127.0.0.1:PORT"
  // The CA that signed the https certificate (PEM); empty when serving plain HTTP.
  const std::string& ca_file() const { return ca_file_; }
  // The publishing user's token: what a private registry's client must send.
  const std::string& token() const { return token_; }

  // `npm publish` of the package in `package_dir`.
  absl::Status Publish(const std::string& package_dir);

  // Publishes a generated package `name`@1.0.0 (a package.json and an index.js exporting its
  // name) that depends on `dependencies` (name -> range), straight through the registry's
  // publish API: many packages in seconds, where `npm publish` takes one.
  absl::Status PublishGenerated(const std::string& name,
                                const std::map<std::string, std::string>& dependencies);

  // One version of a generated package, for PublishVersion.
  struct Generated {
    std::string name;
    std::string version = "1.0.0";
    std::map<std::string, std::string> dependencies;
    // More package.json fields, kept in the published version as they are: {"engines": {"node":
    // ">=99"}}, {"deprecated": "use y"} (Verdaccio keeps a published `deprecated`), {"os": [...]}.
    nlohmann::json fields = nlohmann::json::object();
    // The dist-tags this publish sets (the others stay); empty: {"latest": version}, as `npm
    // publish` does. A new package whose tags name no `latest` gets latest = version anyway.
    std::map<std::string, std::string> dist_tags;
    // index.js; empty: `module.exports = '<name>';`.
    std::string index_js;
  };
  // Publishes `generated` as PublishGenerated does: one more version of the package.
  absl::Status PublishVersion(const Generated& generated);

  // `npm dist-tag add name@version tag`, through the registry's API.
  absl::Status SetDistTag(const std::string& name, const std::string& tag,
                          const std::string& version);

  // The image's npm, run in `cwd` against this registry as the publishing user, with an empty
  // userconfig: `npm deprecate x@1 "why"`, `npm unpublish x@1.0.0`. Errors when it exits non-zero.
  absl::StatusOr<ProcessResult> Npm(const std::vector<std::string>& args, const std::string& cwd);

  // The packument the registry serves for `name` (full, with `time`).
  absl::StatusOr<nlohmann::json> Packument(const std::string& name);

 private:
  Verdaccio() = default;
  std::string dir_;
  int port_ = 0;
  std::string ca_file_;
  std::string token_;
  std::unique_ptr<Daemon> daemon_;
};

}  // namespace ovvoc::testing

#endif  // OVVOC_TESTS_SUPPORT_VERDACCIO_H_
