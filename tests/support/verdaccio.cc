#include "tests/support/verdaccio.h"

#include <netinet/in.h>
#include <openssl/sha.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "common/crypto.h"
#include "nlohmann/json.hpp"
#include "tests/support/subprocess.h"

namespace ovvoc::testing {
namespace {

constexpr char kRootfs[] = "/var/lib/ovvoc/images/current/rootfs";

std::string Node() { return std::string(kRootfs) + "/usr/local/bin/node"; }
std::string NpmCli() {
  return std::string(kRootfs) + "/usr/local/lib/node_modules/npm/bin/npm-cli.js";
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::vector<std::string> Env(const std::string& home) {
  return {absl::StrCat("PATH=", kRootfs, "/usr/local/bin:/usr/bin:/bin"), "HOME=" + home,
          "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt"};
}

// curl, as the simplest HTTP client at hand in test support, trusting `ca_file` when set.
absl::StatusOr<std::string> Curl(const std::string& ca_file, const std::vector<std::string>& args) {
  ProcessSpec spec;
  spec.argv = {"curl", "-sS", "--max-time", "5"};
  if (!ca_file.empty()) spec.argv.insert(spec.argv.end(), {"--cacert", ca_file});
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.env = {"PATH=/usr/bin:/bin"};
  absl::StatusOr<ProcessResult> r = RunProcess(spec);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) return absl::UnavailableError(r->stderr_data);
  return r->stdout_data;
}

// A CA and a certificate for 127.0.0.1 signed by it, in `dir` (ca.pem, key.pem, cert.pem).
absl::Status MakeCertificate(const std::string& dir) {
  const std::vector<std::vector<std::string>> steps = {
      {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
       "-nodes", "-keyout", dir + "/ca-key.pem", "-out", dir + "/ca.pem", "-days", "2",
       "-subj", "/CN=ovvoc test registry CA"},
      {"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", dir + "/key.pem", "-out", dir + "/cert.csr", "-subj", "/CN=127.0.0.1"},
      {"openssl", "x509", "-req", "-in", dir + "/cert.csr", "-CA", dir + "/ca.pem", "-CAkey",
       dir + "/ca-key.pem", "-CAcreateserial", "-out", dir + "/cert.pem", "-days", "2",
       "-extfile", dir + "/san.ext"},
  };
  std::ofstream(dir + "/san.ext") << "subjectAltName=IP:127.0.0.1\n";
  for (const std::vector<std::string>& argv : steps) {
    ProcessSpec spec;
    spec.argv = argv;
    spec.env = {"PATH=/usr/bin:/bin"};
    absl::StatusOr<ProcessResult> r = RunProcess(spec);
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) return absl::InternalError("openssl: " + r->stderr_data);
  }
  return absl::OkStatus();
}

}  // namespace

std::string Verdaccio::UnavailableReason() {
  if (::access(Node().c_str(), X_OK) != 0) return "no job image (deploy/image/build.sh)";
  if (::access(OVVOC_VERDACCIO_DIR "/node_modules/verdaccio/bin/verdaccio", R_OK) != 0) {
    return "verdaccio is not installed in " OVVOC_VERDACCIO_DIR " (tests/run.sh installs it)";
  }
  return "";
}

absl::StatusOr<std::unique_ptr<Verdaccio>> Verdaccio::Start(const std::string& dir,
                                                             const Options& options) {
  const std::string& uplink = options.uplink;
  const std::string& private_scope = options.private_scope;
  auto v = std::unique_ptr<Verdaccio>(new Verdaccio());
  v->dir_ = dir;
  v->port_ = FreePort();
  std::filesystem::create_directories(dir + "/storage");
  std::filesystem::create_directories(dir + "/home");
  if (options.https) {
    std::filesystem::create_directories(dir + "/tls");
    if (absl::Status made = MakeCertificate(dir + "/tls"); !made.ok()) return made;
    v->ca_file_ = dir + "/tls/ca.pem";
  }
  std::ofstream(dir + "/config.yaml")
      << "storage: " << dir << "/storage\n"
      << (options.https ? absl::StrCat("https:\n  key: ", dir, "/tls/key.pem\n  cert: ", dir,
                                       "/tls/cert.pem\n")
                        : "")
      << "auth:\n  htpasswd:\n    file: " << dir << "/htpasswd\n    max_users: 100\n"
      << (uplink.empty() ? "uplinks: {}\n"
                         : absl::StrCat("uplinks:\n  upstream:\n    url: ", uplink,
                                        "\n    timeout: 60s\n"))
      << "packages:\n"
      << (private_scope.empty()
              ? ""
              : absl::StrCat("  '", private_scope,
                             "/*':\n    access: $authenticated\n    publish: $authenticated\n"))
      << "  '**':\n    access: $all\n"
      << "    publish: $authenticated\n"
      << (uplink.empty() ? "" : "    proxy: upstream\n")
      << "log: { type: stdout, format: pretty, level: warn }\n";
  absl::StatusOr<std::unique_ptr<Daemon>> daemon =
      Daemon::Start({Node(), OVVOC_VERDACCIO_DIR "/node_modules/verdaccio/bin/verdaccio",
                     "--config", dir + "/config.yaml", "--listen", v->url()},
                    Env(dir + "/home"), dir + "/verdaccio.log");
  if (!daemon.ok()) return daemon.status();
  v->daemon_ = *std::move(daemon);
  for (int i = 0; i < 100; ++i) {
    if (Curl(v->ca_file_, {v->url() + "-/ping"}).ok()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  // A user to publish as; its token goes on npm's command line only.
  absl::StatusOr<std::string> created =
      Curl(v->ca_file_, {"-X", "PUT", "-H", "content-type: application/json", "-d",
            R"({"name":"ovvoc-test","password":"ovvoc-test-password"})",
            v->url() + "-/user/org.couchdb.user:ovvoc-test"});
  if (!created.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "verdaccio did not start: ", created.status().message(), "\n", v->daemon_->Log()));
  }
  nlohmann::json answer = nlohmann::json::parse(*created, nullptr, false);
  if (!answer.is_object() || !answer["token"].is_string()) {
    return absl::InternalError("verdaccio created no user: " + *created);
  }
  v->token_ = answer["token"];
  return v;
}

std::string Verdaccio::url() const {
  return absl::StrCat(ca_file_.empty() ? "http" : "https", "://127.0.0.1:", port_, "/");
}
std::string Verdaccio::host_port() const { return absl::StrCat("127.0.0.1:", port_); }

absl::StatusOr<ProcessResult> Verdaccio::Npm(const std::vector<std::string>& args,
                                             const std::string& cwd) {
  std::ofstream(dir_ + "/empty-npmrc") << "";
  ProcessSpec spec;
  spec.argv = {Node(), NpmCli()};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.argv.insert(spec.argv.end(), {"--userconfig=" + dir_ + "/empty-npmrc", "--registry=" + url(),
                                     absl::StrCat("--//", host_port(), "/:_authToken=", token_)});
  if (!ca_file_.empty()) spec.argv.push_back("--cafile=" + ca_file_);
  spec.env = Env(dir_ + "/home");
  spec.cwd = cwd;
  absl::StatusOr<ProcessResult> r = RunProcess(spec);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::InternalError(absl::StrCat("npm ", args.empty() ? "" : args.front(),
                                            " failed: ", r->stdout_data, r->stderr_data));
  }
  return r;
}

absl::Status Verdaccio::Publish(const std::string& package_dir) {
  return Npm({"publish"}, package_dir).status();
}

absl::Status Verdaccio::PublishGenerated(const std::string& name,
                                         const std::map<std::string, std::string>& dependencies) {
  Generated generated;
  generated.name = name;
  generated.dependencies = dependencies;
  return PublishVersion(generated);
}

absl::Status Verdaccio::PublishVersion(const Generated& generated) {
  const std::string& name = generated.name;
  const std::string& release = generated.version;
  const std::string flat = absl::StrReplaceAll(name, {{"/", "-"}});
  const std::string root = absl::StrCat(dir_, "/generated/", flat, "@", release);
  std::filesystem::create_directories(root + "/package");
  nlohmann::json manifest = {{"name", name}, {"version", release}, {"main", "index.js"},
                             {"license", "UNLICENSED"}, {"dependencies", generated.dependencies}};
  if (generated.fields.is_object()) manifest.update(generated.fields);
  std::ofstream(root + "/package/package.json") << manifest.dump(2);
  if (generated.index_js.empty()) {
    std::ofstream(root + "/package/index.js") << "module.exports = '" << name << "';\n";
  } else {
    std::ofstream(root + "/package/index.js") << generated.index_js;
  }
  const std::string tgz = root + "/package.tgz";
  ProcessSpec tar;
  tar.argv = {"tar", "czf", tgz, "--owner=0", "--group=0", "--mtime=2020-01-01", "-C", root,
              "package"};
  tar.env = {"PATH=/usr/bin:/bin"};
  absl::StatusOr<ProcessResult> packed = RunProcess(tar);
  if (!packed.ok() || packed->exit_code != 0) return absl::InternalError("tar failed");
  std::ifstream in(tgz, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  unsigned char sha1[SHA_DIGEST_LENGTH], sha512[SHA512_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), sha1);
  SHA512(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), sha512);
  const std::string file = absl::StrCat(name.substr(name.find('/') + 1), "-", release, ".tgz");
  nlohmann::json version = manifest;
  version["_id"] = absl::StrCat(name, "@", release);
  version["dist"] = {
      {"shasum", crypto::HexEncode(std::string(reinterpret_cast<char*>(sha1), sizeof(sha1)))},
      {"integrity",
       "sha512-" + crypto::Base64Encode(std::string(reinterpret_cast<char*>(sha512),
                                                    sizeof(sha512)))},
      {"tarball", absl::StrCat(url(), name, "/-/", file)}};
  nlohmann::json tags = nlohmann::json::object();
  for (const auto& [tag, tagged] : generated.dist_tags) tags[tag] = tagged;
  if (generated.dist_tags.empty()) tags["latest"] = release;
  nlohmann::json doc = {
      {"_id", name},
      {"name", name},
      {"dist-tags", tags},
      {"versions", {{release, version}}},
      {"_attachments",
       {{file,
         {{"content_type", "application/octet-stream"},
          {"data", crypto::Base64Encode(bytes)},
          {"length", bytes.size()}}}}}};
  std::ofstream(root + "/publish.json") << doc.dump();
  absl::StatusOr<std::string> put =
      Curl(ca_file_, {"-f", "-X", "PUT", "-H", "content-type: application/json", "-H",
            "authorization: Bearer " + token_, "--data-binary", "@" + root + "/publish.json",
            url() + absl::StrReplaceAll(name, {{"/", "%2f"}})});
  if (!put.ok()) {
    return absl::InternalError(absl::StrCat("publishing ", name, "@", release, ": ",
                                            put.status().message()));
  }
  return absl::OkStatus();
}

absl::Status Verdaccio::SetDistTag(const std::string& name, const std::string& tag,
                                   const std::string& version) {
  absl::StatusOr<std::string> put = Curl(
      ca_file_, {"-f", "-X", "PUT", "-H", "content-type: application/json", "-H",
                 "authorization: Bearer " + token_, "--data-binary",
                 nlohmann::json(version).dump(),
                 absl::StrCat(url(), "-/package/", absl::StrReplaceAll(name, {{"/", "%2f"}}),
                              "/dist-tags/", tag)});
  if (!put.ok()) {
    return absl::InternalError(absl::StrCat("tagging ", name, "@", version, " ", tag, ": ",
                                            put.status().message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> Verdaccio::Packument(const std::string& name) {
  absl::StatusOr<std::string> got =
      Curl(ca_file_, {"-f", url() + absl::StrReplaceAll(name, {{"/", "%2f"}})});
  if (!got.ok()) return got.status();
  nlohmann::json packument = nlohmann::json::parse(*got, nullptr, false);
  if (!packument.is_object()) return absl::InternalError("not a packument: " + *got);
  return packument;
}

}  // namespace ovvoc::testing
