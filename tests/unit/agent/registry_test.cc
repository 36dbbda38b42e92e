// The registry component's parts that need no network: which requests count as reads, integrity,
// the cache, lockfiles, and the client over a fake HTTP client.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/registry/cache.h"
#include "agent/registry/client.h"
#include "agent/registry/endpoint.h"
#include "agent/registry/integrity.h"
#include "agent/registry/prefetch.h"
#include "common/clock.h"
#include "common/crypto.h"
#include "common/files.h"
#include "tests/support/fake_http.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/agent/registry_fixtures.h"

namespace ovvoc::agent::registry {
namespace {

using testing::FakeHttpClient;
using testing::TempDir;

TEST_CASE("registry URLs: origin, path and scope") {
  RegistryEndpoint npm = Endpoint("https://Registry.NPMjs.org");
  CHECK(npm.url == "https://registry.npmjs.org/");
  CHECK(npm.path == "/");
  CHECK(npm.port == 443);
  RegistryEndpoint mirror = Endpoint("http://127.0.0.1:4873/npm", "@acme");
  CHECK(mirror.url == "http://127.0.0.1:4873/npm/");
  CHECK(mirror.origin() == "http://127.0.0.1:4873");
  CHECK(mirror.path == "/npm/");
  CHECK(mirror.scope == "@acme");
  ovvoc::v1::Registry bad;
  for (const char* url : {"ftp://h/", "https://u:p@h/", "https://h/a/../b", "https://h/?q",
                          "https://h/%2e", "https://h//x"}) {
    INFO(url);
    bad.set_url(url);
    CHECK(!RegistryEndpoint::FromProto(bad, false).ok());
  }
  bad.set_url("https://h/");
  bad.set_scope("acme");
  CHECK(!RegistryEndpoint::FromProto(bad, false).ok());
  // Red team (issue 9): a password in a registry URL was echoed into the log and the result.
  bad.set_scope("");
  bad.set_url("https://rtuser:S3cretPassw0rd@h/");
  absl::Status refused = RegistryEndpoint::FromProto(bad, false).status();
  CHECK(!refused.ok());
  CHECK(!absl::StrContains(refused.message(), "S3cretPassw0rd"));
  CHECK(absl::StrContains(refused.message(), "https://[credentials]@h/"));
}

TEST_CASE("credentials become one Authorization header") {
  RegistryEndpoint e = Endpoint("https://h/");
  CHECK(e.Authorization().empty());
  e.credential.set_token("t0ken");
  CHECK(e.Authorization() == "Bearer t0ken");
  e.credential.clear_token();
  e.credential.set_username("u");
  e.credential.set_password("p");
  CHECK(e.Authorization() == "Basic dTpw");
}

TEST_CASE("only GET and HEAD of packuments and tarballs under the registry's path are reads") {
  RegistryEndpoint root = Endpoint("https://registry.npmjs.org/");
  struct Read {
    const char* method;
    const char* target;
    ReadKind kind;
    const char* package;
  };
  const Read reads[] = {
      {"GET", "/express", ReadKind::kPackument, "express"},
      {"HEAD", "/express", ReadKind::kPackument, "express"},
      {"GET", "/@types%2fnode", ReadKind::kPackument, "@types/node"},
      {"GET", "/@types%2Fnode", ReadKind::kPackument, "@types/node"},
      {"GET", "/@types/node", ReadKind::kPackument, "@types/node"},
      {"GET", "/JSONStream", ReadKind::kPackument, "JSONStream"},
      {"GET", "/express/-/express-4.18.2.tgz", ReadKind::kTarball, "express"},
      {"GET", "/@types/node/-/node-20.1.0.tgz", ReadKind::kTarball, "@types/node"},
  };
  for (const Read& r : reads) {
    INFO(r.method << " " << r.target);
    absl::StatusOr<RegistryRead> read = ClassifyRead(root, r.method, r.target);
    REQUIRE(read.ok());
    CHECK(read->kind == r.kind);
    CHECK(read->package == r.package);
  }
  const std::pair<const char*, const char*> refused[] = {
      {"PUT", "/my-package"},                           // publish
      {"PUT", "/-/user/org.couchdb.user:mallory"},      // adduser
      {"GET", "/-/v1/search?text=c2VjcmV0"},            // search, data in the query
      {"GET", "/-/whoami"},
      {"PUT", "/-/package/express/dist-tags/latest"},   // dist-tag write
      {"GET", "/-/package/express/dist-tags"},
      {"POST", "/-/npm/v1/security/advisories/bulk"},   // audit
      {"POST", "/-/npm/v1/tokens"},
      {"DELETE", "/express/-rev/1-abc"},                // unpublish
      {"GET", "/express?write=true"},
      {"GET", "/express/4.18.2"},
      {"GET", "/express/-/express-4.18.2.tgz/../../x"},
      {"GET", "/../etc/passwd"},
      {"GET", "/.hidden"},
      {"GET", "/a%2fb"},
      {"GET", "/@types%2fnode%2fx"},
      {"GET", "/express/-/express.exe"},
      {"GET", "//express"},
      {"GET", "/"},
      {"OPTIONS", "/express"},
  };
  for (const auto& [method, target] : refused) {
    INFO(method << " " << target);
    absl::StatusOr<RegistryRead> read = ClassifyRead(root, method, target);
    REQUIRE(!read.ok());
    CHECK(absl::IsPermissionDenied(read.status()));
  }
  // A registry at /npm/ opens nothing else on its host.
  RegistryEndpoint sub = Endpoint("https://artifacts.example/npm/");
  CHECK(ClassifyRead(sub, "GET", "/npm/express").ok());
  CHECK(!ClassifyRead(sub, "GET", "/express").ok());
  CHECK(!ClassifyRead(sub, "GET", "/admin/users").ok());
  CHECK(!ClassifyRead(sub, "GET", "/npmx/express").ok());
}

TEST_CASE("a finding names the path, never a query's data") {
  CHECK(PathForReport("/-/v1/search?text=secret") ==
        "/-/v1/search (with a query of 12 bytes, not shown)");
  CHECK(PathForReport("/a\x01" "b") == "/a?b");
  CHECK(PathForReport(std::string(500, 'a')).size() == 203);
}

TEST_CASE("integrity: the strongest usable hash counts, and bytes are checked against it") {
  Integrity good = Sha512Of("hello");
  CHECK(good.algorithm == "sha512");
  CHECK(VerifyIntegrity(good, "hello").ok());
  absl::Status bad = VerifyIntegrity(good, "hellO");
  CHECK(absl::IsDataLoss(bad));
  CHECK(absl::StrContains(bad.message(), good.ToString()));
  // sha1 beside sha512: sha512 wins; unknown and malformed entries are skipped.
  absl::StatusOr<Integrity> mixed = ParseIntegrity(
      absl::StrCat("sha1-qUqP5cyxm6YcTAhz05Hph5gvu9M= md5-xyz sha512-bad ", good.ToString()));
  REQUIRE(mixed.ok());
  CHECK(*mixed == good);
  CHECK(ParseIntegrity("sha1-qUqP5cyxm6YcTAhz05Hph5gvu9M=")->algorithm == "sha1");
  CHECK(!ParseIntegrity("").ok());
  CHECK(!ParseIntegrity("sha512-AAAA").ok());  // wrong length
  CHECK(!ParseIntegrity("md5-1B2M2Y8AsgTpgAmY7PhCfg==").ok());
}

TEST_CASE("the cache keeps only verified tarballs and evicts the least recently used") {
  TempDir dir;
  auto cache = RegistryCache::Open(dir.Sub("cache"), 250);
  REQUIRE(cache.ok());
  const std::string a(100, 'a'), b(100, 'b'), c(100, 'c');
  const Integrity ia = Sha512Of(a), ib = Sha512Of(b), ic = Sha512Of(c);
  CHECK(absl::IsDataLoss((*cache)->PutTarball("", ia, b)));  // forged bytes are not kept
  CHECK(!(*cache)->HasTarball("", ia));
  REQUIRE((*cache)->PutTarball("", ia, a).ok());
  REQUIRE((*cache)->PutTarball("", ib, b).ok());
  REQUIRE((*cache)->OpenTarball("", ia).ok());  // a is now more recent than b
  REQUIRE((*cache)->PutTarball("", ic, c).ok());
  CHECK((*cache)->HasTarball("", ia));
  CHECK(!(*cache)->HasTarball("", ib));
  CHECK((*cache)->HasTarball("", ic));
  CHECK((*cache)->bytes() == 200);

  // Reopened (a later agent process): entries survive, half-written files do not, and what is
  // on disk is checked when first read: a damaged entry (a crash without fsync) is dropped.
  REQUIRE(files::WriteFile(dir.Sub("cache/tarballs/x.tgz.tmp.123456"), "half").ok());
  REQUIRE(files::WriteFile(dir.Sub("cache/tarballs/" + ia.Key() + ".tgz"), b).ok());
  cache->reset();
  auto again = RegistryCache::Open(dir.Sub("cache"), 250);
  REQUIRE(again.ok());
  CHECK(!files::Exists(dir.Sub("cache/tarballs/x.tgz.tmp.123456")));
  CHECK((*again)->HasTarball("", ia));
  CHECK(absl::IsNotFound((*again)->OpenTarball("", ia).status()));
  CHECK(!(*again)->HasTarball("", ia));
  REQUIRE((*again)->OpenTarball("", ic).ok());

  CachedPackument p{"{\"name\":\"x\"}", "application/json", "\"etag\"", "", absl::FromUnixSeconds(5)};
  REQUIRE((*again)->PutPackument("key", p).ok());
  std::optional<CachedPackument> got = (*again)->GetPackument("key");
  REQUIRE(got);
  CHECK(got->body == p.body);
  CHECK(got->etag == "\"etag\"");
  CHECK(got->fetched == p.fetched);
  CHECK(!(*again)->GetPackument("other"));
}

struct ClientFixture : RegistryClientFixture {
  RegistryEndpoint endpoint = Endpoint("https://registry.example/npm/");
};

TEST_CASE_METHOD(ClientFixture, "packuments: cached while fresh, revalidated after, never malformed") {
  http::Response ok{200, {{"etag", "\"v1\""}, {"content-type", "application/json"}}, "{\"name\":\"a\"}"};
  http.Answer("GET", "https://registry.example/npm/a", ok);
  absl::StatusOr<CachedPackument> p = client.Packument(endpoint, "/npm/a", kAcceptCorgi);
  REQUIRE(p.ok());
  CHECK(p->body == ok.body);
  REQUIRE(client.Packument(endpoint, "/npm/a", kAcceptCorgi).ok());
  CHECK(http.requests().size() == 1);  // fresh: from the cache
  CHECK(http.requests()[0].headers[0].second == kAcceptCorgi);

  clock.Advance(absl::Minutes(6));
  http.Answer("GET", "https://registry.example/npm/a", http::Response{304, {}, ""});
  p = client.Packument(endpoint, "/npm/a", kAcceptCorgi);
  REQUIRE(p.ok());
  CHECK(p->body == ok.body);
  const std::vector<http::Request> sent = http.requests();
  REQUIRE(sent.size() == 2);
  bool revalidated = false;
  for (const auto& [name, value] : sent[1].headers) {
    revalidated |= name == "If-None-Match" && value == "\"v1\"";
  }
  CHECK(revalidated);

  http.Answer("GET", "https://registry.example/npm/bad", 200, "{\"name\": ");
  CHECK(absl::IsDataLoss(client.Packument(endpoint, "/npm/bad", kAcceptFull).status()));
  http.Answer("GET", "https://registry.example/npm/list", 200, "[1,2]");
  CHECK(absl::IsDataLoss(client.Packument(endpoint, "/npm/list", kAcceptFull).status()));
  http.Answer("GET", "https://registry.example/npm/none", 404, "{}");
  CHECK(absl::IsNotFound(client.Packument(endpoint, "/npm/none", kAcceptFull).status()));
  http.Answer("GET", "https://registry.example/npm/down", 503, "");
  absl::Status down = client.Packument(endpoint, "/npm/down", kAcceptFull).status();
  CHECK(absl::IsUnavailable(down));
  CHECK(absl::StrContains(down.message(), "503"));
  CHECK(absl::IsNotFound(client.CachedOnly(endpoint, "/npm/bad", kAcceptFull).status()));
}

TEST_CASE_METHOD(ClientFixture, "tarballs: checked before they are kept, credentials only upstream") {
  endpoint.credential.set_token("s3cret");
  endpoint.allow_internal = false;
  const std::string bytes = "tarball bytes";
  const Integrity integrity = Sha512Of(bytes);
  http.Answer("GET", "https://registry.example/npm/a/-/a-1.0.0.tgz", 200, "forged bytes");
  absl::Status forged = client.Tarball(endpoint, "/npm/a/-/a-1.0.0.tgz", integrity).status();
  CHECK(absl::IsDataLoss(forged));
  CHECK(absl::StrContains(forged.message(), "does not match"));
  CHECK(!cache->HasTarball("", integrity));
  // Streamed to a file as it came (never held whole), and that file is gone with the lie.
  CHECK(http.requests()[0].body_sink != nullptr);
  CHECK(std::filesystem::is_empty(cache->dir() + "/tarballs"));

  http.Answer("GET", "https://registry.example/npm/b/-/b-1.0.0.tgz", 200, bytes);
  REQUIRE(client.Tarball(endpoint, "/npm/b/-/b-1.0.0.tgz", integrity).ok());
  CHECK(client.HasCachedTarball(endpoint, integrity));
  CHECK(!cache->HasTarball("", integrity));  // kept for this credential only
  const std::vector<http::Request> sent = http.requests();
  REQUIRE(sent.size() == 2);
  CHECK(sent[1].headers.size() == 1);
  CHECK(sent[1].headers[0].second == "Bearer s3cret");
  CHECK(sent[1].check_address != nullptr);  // not allow_internal: addresses are checked
  // The same bytes again: from the cache, whatever URL names them.
  REQUIRE(client.Tarball(endpoint, "/npm/c/-/c-1.0.0.tgz", integrity).ok());
  CHECK(http.requests().size() == 2);

  // Red team (issue 9): a job without the credential was served what a job with it had fetched
  // (tarball by integrity, packument by URL). Now it asks the registry itself, and is refused.
  RegistryEndpoint anonymous = endpoint;
  anonymous.credential.Clear();
  http.Answer("GET", "https://registry.example/npm/@corp%2fsecret", 200, "{\"private\":1}");
  REQUIRE(client.Packument(endpoint, "/npm/@corp%2fsecret", kAcceptCorgi).ok());
  // Another job on the same agent (same cache), without the credential: the registry says 401.
  FakeHttpClient other_http;
  RegistryClient other{other_http, *cache, clock, RegistryClientOptions{.retry = {.attempts = 1}}};
  other_http.Answer("GET", "https://registry.example/npm/b/-/b-1.0.0.tgz", 401, "");
  other_http.Answer("GET", "https://registry.example/npm/@corp%2fsecret", 401, "");
  CHECK(!other.HasCachedTarball(anonymous, integrity));
  CHECK(absl::IsNotFound(other.CachedTarball(anonymous, integrity).status()));
  CHECK(!other.Tarball(anonymous, "/npm/b/-/b-1.0.0.tgz", integrity).ok());
  CHECK(!other.Packument(anonymous, "/npm/@corp%2fsecret", kAcceptCorgi).ok());
  CHECK(absl::IsNotFound(other.CachedOnly(anonymous, "/npm/@corp%2fsecret", kAcceptCorgi).status()));
  CHECK(other_http.requests().size() == 2);  // it asked the registry itself, both times

  // Red team (issue 9): dot segments took the credential outside the registry's path.
  const size_t asked = http.requests().size();
  for (const char* path : {"/npm/../", "/npm/..", "/npm/%2e%2e/x", "/npm/./a"}) {
    INFO(path);
    CHECK(!client.Packument(endpoint, path, kAcceptFull).ok());
  }
  for (const http::Request& sent_now : http.requests()) CHECK(!absl::StrContains(sent_now.url, ".."));
  CHECK(http.requests().size() == asked);
}

TEST_CASE("lockfiles v1, v2 and v3 name their registry tarballs") {
  std::vector<RegistryEndpoint> registries = {Endpoint("http://127.0.0.1:4873/", "@acme"),
                                              Endpoint("https://mirror.example/npm/")};
  const std::string sri = Sha512Of("x").ToString();
  const std::string v3 = absl::StrCat(R"({"lockfileVersion": 3, "packages": {
    "": {"name": "app"},
    "node_modules/a": {"version": "1.0.0", "resolved": "https://registry.npmjs.org/a/-/a-1.0.0.tgz", "integrity": ")", sri, R"("},
    "node_modules/@acme/b": {"version": "2.0.0", "resolved": "http://127.0.0.1:4873/@acme/b/-/b-2.0.0.tgz", "integrity": ")", sri, R"("},
    "node_modules/alias": {"name": "real", "version": "3.0.0", "integrity": ")", sri, R"("},
    "node_modules/linked": {"link": true, "resolved": "packages/linked"},
    "node_modules/a/node_modules/bundled": {"version": "1.0.0", "inBundle": true},
    "node_modules/g": {"version": "1.0.0", "resolved": "git+ssh://git@github.com/x/g.git#abc"},
    "node_modules/elsewhere": {"version": "1.0.0", "resolved": "https://evil.example/e.tgz", "integrity": ")", sri, R"("},
    "node_modules/..": {"version": "1.0.0", "integrity": ")", sri, R"("},
    "node_modules/x": {"name": "..?q=1", "version": "1.0.0", "integrity": ")", sri, R"("}
  }})");
  absl::StatusOr<LockfilePackages> locked = ReadLockfile(v3, registries);
  REQUIRE(locked.ok());
  REQUIRE(locked->packages.size() == 3);
  std::map<std::string, std::string> urls;
  for (const LockedPackage& p : locked->packages) urls[p.name] = p.url;
  // npm's replace-registry-host: the public registry's URL moves to the configured default.
  CHECK(urls["a"] == "https://mirror.example/npm/a/-/a-1.0.0.tgz");
  CHECK(urls["@acme/b"] == "http://127.0.0.1:4873/@acme/b/-/b-2.0.0.tgz");
  REQUIRE(urls.count("real") == 1);  // an alias: its target
  CHECK(urls["real"].empty());
  REQUIRE(locked->unsupported.size() == 4);  // two of them names npm would not publish
  const std::string unsupported = absl::StrJoin(locked->unsupported, "\n");
  CHECK(absl::StrContains(unsupported, "g@1.0.0 comes from git+ssh"));
  CHECK(absl::StrContains(unsupported, "elsewhere@1.0.0 is fetched from a URL outside"));

  const std::string v1 = absl::StrCat(R"({"lockfileVersion": 1, "dependencies": {
    "a": {"version": "1.0.0", "resolved": "https://mirror.example/npm/a/-/a-1.0.0.tgz", "integrity": ")", sri, R"(",
          "dependencies": {"b": {"version": "npm:c@2.0.0", "resolved": "https://mirror.example/npm/c/-/c-2.0.0.tgz", "integrity": ")", sri, R"("}}}
  }})");
  locked = ReadLockfile(v1, registries);
  REQUIRE(locked.ok());
  REQUIRE(locked->packages.size() == 2);
  CHECK(locked->packages[1].name == "c");
  CHECK(locked->packages[1].version == "2.0.0");

  for (const char* bad : {"", "[]", "{}", R"({"lockfileVersion": 9})",
                          R"({"lockfileVersion": 3, "packages": []})",
                          R"({"lockfileVersion": 3, "packages": {"node_modules/a": 1}})",
                          R"({"lockfileVersion": 3, "packages": {"node_modules/a": {}}})"}) {
    INFO(bad);
    CHECK(absl::IsInvalidArgument(ReadLockfile(bad, registries).status()));
  }
}

// Red team (issue 9, second round): a repository's lockfile aborted the agent with a wrong
// type where a boolean belongs, and cost it 4.7 GB with 60 MiB of `[`.
TEST_CASE("a hostile lockfile is an error or an ordinary package, never a crash or a DOM bomb") {
  std::vector<RegistryEndpoint> registries = {Endpoint("https://mirror.example/npm/")};
  const std::string sri = Sha512Of("x").ToString();
  // Wrong types where npm writes booleans: not links, not bundled; read as packages.
  absl::StatusOr<LockfilePackages> locked = ReadLockfile(
      absl::StrCat(R"({"lockfileVersion": 3, "packages": {"node_modules/a": {"link": "yes",
        "inBundle": 1, "version": "1.0.0", "integrity": ")", sri, R"("}}})"),
      registries);
  REQUIRE(locked.ok());
  CHECK(locked->packages.size() == 1);
  locked = ReadLockfile(absl::StrCat(R"({"lockfileVersion": 1, "dependencies": {"a": {"bundled": 1,
        "version": "1.0.0", "integrity": ")", sri, R"("}}})"),
                        registries);
  REQUIRE(locked.ok());
  CHECK(locked->packages.size() == 1);

  const std::string deep = absl::StrCat(R"({"lockfileVersion": 3, "x": )", std::string(100000, '['));
  absl::Status status = ReadLockfile(deep, registries).status();
  CHECK(absl::IsInvalidArgument(status));
  CHECK(absl::StrContains(status.message(), "nests deeper than 600"));
  std::string wide = R"({"lockfileVersion": 3, "x": [)";
  for (int i = 0; i < 8'000'001; ++i) wide += "0,";
  wide += "0]}";
  status = ReadLockfile(wide, registries).status();
  CHECK(absl::IsInvalidArgument(status));
  CHECK(absl::StrContains(status.message(), "more than 8000000 JSON values"));
}

// Red team (issue 9, second round): file: dependencies and workspace members made the install
// refuse the job ("has no usable integrity"): their directories are the repository's own.
TEST_CASE("workspace members and file: dependencies are the repository's, not the registry's") {
  std::vector<RegistryEndpoint> registries = {Endpoint("https://mirror.example/npm/")};
  const std::string sri = Sha512Of("x").ToString();
  absl::StatusOr<LockfilePackages> locked = ReadLockfile(
      absl::StrCat(R"({"lockfileVersion": 3, "packages": {
    "": {"name": "root", "workspaces": ["packages/*"], "dependencies": {"lib": "file:../lib"}},
    "../lib": {"version": "1.0.0", "dependencies": {"a": "^1"}},
    "packages/member": {"name": "member", "version": "2.0.0"},
    "node_modules/lib": {"resolved": "../lib", "link": true},
    "node_modules/member": {"resolved": "packages/member", "link": true},
    "packages/member/node_modules/a": {"version": "1.0.0", "resolved": "https://mirror.example/npm/a/-/a-1.0.0.tgz", "integrity": ")",
                   sri, R"("}}})"),
      registries);
  REQUIRE(locked.ok());
  CHECK(locked->unsupported.empty());
  REQUIRE(locked->packages.size() == 1);
  CHECK(locked->packages[0].name == "a");

  locked = ReadLockfile(absl::StrCat(R"({"lockfileVersion": 1, "dependencies": {
    "lib": {"version": "file:../lib", "dependencies": {"a": {"version": "1.0.0", "integrity": ")",
                                     sri, R"("}}}}})"),
                        registries);
  REQUIRE(locked.ok());
  CHECK(locked->unsupported.empty());
  REQUIRE(locked->packages.size() == 1);  // the file: dependency's own registry dependency
  CHECK(locked->packages[0].name == "a");
}

// Issue 12: npm asks for the packument of a bundled package that does not satisfy what its
// bundle wants of it; refused in script mode, it read as the update's egress.
TEST_CASE_METHOD(ClientFixture,
                 "bundled packages are named, and their packuments read in both forms") {
  std::vector<RegistryEndpoint> registries = {endpoint};
  const std::string sri = Sha512Of("x").ToString();
  absl::StatusOr<LockfilePackages> locked =
      ReadLockfile(absl::StrCat(R"({"lockfileVersion": 3, "packages": {
    "": {"name": "root"},
    "node_modules/host": {"version": "1.0.1", "resolved": "https://registry.example/npm/host/-/host-1.0.1.tgz", "integrity": ")",
                                sri, R"("},
    "node_modules/host/node_modules/inner": {"version": "1.0.0", "inBundle": true},
    "node_modules/host/node_modules/leaf": {"version": "1.0.0", "inBundle": true},
    "node_modules/host/node_modules/Not A Name": {"version": "1.0.0", "inBundle": true}}})"),
                   registries);
  REQUIRE(locked.ok());
  CHECK(locked->unsupported.empty());
  REQUIRE(locked->packages.size() == 1);  // a bundled package comes in its parent's tarball
  CHECK(locked->bundled == std::set<std::string>{"inner", "leaf"});

  http.Answer("GET", "https://registry.example/npm/leaf", 200, R"({"name": "leaf"})");
  http.Answer("GET", "https://registry.example/npm/inner", 404, "{}");  // a private bundle
  const std::set<std::string> read =
      PrefetchPackuments(client, registries, locked->bundled, 10, 2, {});
  CHECK(read == std::set<std::string>{"leaf"});
  CHECK(client.CachedOnly(endpoint, "/npm/leaf", kAcceptCorgi).ok());
  CHECK(client.CachedOnly(endpoint, "/npm/leaf", kAcceptFull).ok());
  CHECK(PrefetchPackuments(client, registries, locked->bundled, 0, 2, {}).empty());  // at most 0
}

TEST_CASE_METHOD(ClientFixture, "a packument's tarball is found where npm finds it, without a DOM") {
  std::vector<RegistryEndpoint> registries = {endpoint};
  const std::string bytes = "B";
  // Decoys before and after the real one: the same keys under other parents, a sibling
  // "dist" under another version, and a later duplicate (npm's JSON.parse keeps the last).
  http.Answer("GET", "https://registry.example/npm/b", 200, R"({
    "time": {"2.0.0": {"dist": {"tarball": "https://registry.example/npm/b/-/decoy-1.tgz"}}},
    "versions": {
      "1.0.0": {"dist": {"tarball": "https://registry.example/npm/b/-/decoy-2.tgz"}},
      "2.0.0": {"name": "b", "dist": {"shasum": "x", "tarball": "https://registry.example/npm/b/-/decoy-3.tgz",
                                      "tarball": "https://registry.example/npm/b/-/b-2.0.0.tgz"},
                "x": {"dist": {"tarball": "https://registry.example/npm/b/-/decoy-4.tgz"}}},
      "3.0.0": {"dist": {"tarball": "https://registry.example/npm/b/-/decoy-5.tgz"}}},
    "dist": {"tarball": "https://registry.example/npm/b/-/decoy-6.tgz"}})");
  http.Answer("GET", "https://registry.example/npm/b/-/b-2.0.0.tgz", 200, bytes);
  absl::StatusOr<Prefetched> got =
      Prefetch(client, registries, {{"b", "2.0.0", "", Sha512Of(bytes)}}, 1, {});
  REQUIRE(got.ok());
  CHECK(got->tarballs.count("https://registry.example/npm/b/-/b-2.0.0.tgz") == 1);

  // A packument nested past any real one fails as a lie, without being built.
  http.Answer("GET", "https://registry.example/npm/c", 200,
              absl::StrCat(R"({"versions": )", std::string(300, '['), std::string(300, ']'), "}"));
  got = Prefetch(client, registries, {{"c", "1.0.0", "", Sha512Of("C")}}, 1, {});
  CHECK(absl::IsDataLoss(got.status()));
}

// Red team (issue 9, second round): an ETag of invalid UTF-8 aborted the agent when the cache
// wrote it down.
TEST_CASE_METHOD(ClientFixture, "header values that are not printable ASCII are not kept") {
  http::Response odd{200, {{"etag", "\"\xff\xfe\""}, {"content-type", "application/json\x01"}},
                     "{\"name\":\"a\"}"};
  http.Answer("GET", "https://registry.example/npm/a", odd);
  absl::StatusOr<CachedPackument> p = client.Packument(endpoint, "/npm/a", kAcceptCorgi);
  REQUIRE(p.ok());
  CHECK(p->etag.empty());
  CHECK(p->content_type == "application/json");
  p = client.CachedOnly(endpoint, "/npm/a", kAcceptCorgi);
  REQUIRE(p.ok());
  CHECK(p->body == odd.body);
}

TEST_CASE_METHOD(ClientFixture, "prefetch fetches each tarball once and fails on forged bytes") {
  std::vector<RegistryEndpoint> registries = {endpoint};
  const std::string a = "A", b = "B";
  http.Answer("GET", "https://registry.example/npm/a/-/a-1.0.0.tgz", 200, a);
  http.Answer("GET", "https://registry.example/npm/b", 200,
              R"({"versions": {"2.0.0": {"dist": {"tarball": "https://registry.example/npm/b/-/b-2.0.0.tgz"}}}})");
  http.Answer("GET", "https://registry.example/npm/b/-/b-2.0.0.tgz", 200, b);
  std::vector<LockedPackage> packages = {
      {"a", "1.0.0", "https://registry.example/npm/a/-/a-1.0.0.tgz", Sha512Of(a)},
      {"b", "2.0.0", "", Sha512Of(b)}};
  absl::StatusOr<Prefetched> got = Prefetch(client, registries, packages, 2, {});
  REQUIRE(got.ok());
  CHECK(got->fetched == 2);
  CHECK(got->tarballs.size() == 2);
  CHECK(got->tarballs.count("https://registry.example/npm/b/-/b-2.0.0.tgz") == 1);
  CHECK(got->packages == std::set<std::string>{"b"});
  got = Prefetch(client, registries, packages, 2, {});
  REQUIRE(got.ok());
  CHECK(got->fetched == 0);  // all cached now

  packages.push_back({"c", "1.0.0", "https://registry.example/npm/c/-/c-1.0.0.tgz", Sha512Of("C")});
  http.Answer("GET", "https://registry.example/npm/c/-/c-1.0.0.tgz", 200, "not C");
  got = Prefetch(client, registries, packages, 2, {});
  REQUIRE(!got.ok());
  CHECK(absl::IsDataLoss(got.status()));
  CHECK(absl::StartsWith(got.status().message(), "c@1.0.0: "));

  // A lockfile cannot make the agent fetch the registry's API in its name.
  const size_t asked = http.requests().size();
  got = Prefetch(client, registries,
                 {{"d", "1.0.0", "https://registry.example/npm/-/npm/v1/tokens", Sha512Of("D")}},
                 2, {});
  REQUIRE(!got.ok());
  CHECK(absl::StrContains(got.status().message(), "not a package tarball"));
  CHECK(http.requests().size() == asked);
}

// A registry that never answers: every request waits until its caller gives up on it.
class SilentRegistry final : public http::Client {
 public:
  absl::StatusOr<http::Response> Send(const http::Request& request) override {
    ++asked_;
    while (!(request.cancelled && request.cancelled())) absl::SleepFor(absl::Milliseconds(2));
    return absl::CancelledError("abandoned");
  }
  int asked() const { return asked_.load(); }

 private:
  std::atomic<int> asked_{0};
};

// Red team (issue 9, F3): the prefetch against a registry that dribbled ran 8 minutes past a
// 30 s job timeout. Its reads in flight now end when the job gives up (its deadline, or a
// cancel): Prefetch returns instead of waiting on the registry.
TEST_CASE("a prefetch from a registry that never answers ends when the job gives up") {
  TempDir dir;
  SilentRegistry http;
  auto cache = RegistryCache::Open(dir.Sub("cache"), 1 << 20);
  REQUIRE(cache.ok());
  RegistryClient client(http, **cache, Clock::Real());
  std::vector<RegistryEndpoint> registries = {Endpoint("https://registry.example/")};
  std::vector<LockedPackage> packages;
  for (int i = 0; i < 20; ++i) {
    packages.push_back({absl::StrCat("p", i), "1.0.0",
                        absl::StrCat("https://registry.example/p", i, "/-/p", i, "-1.0.0.tgz"),
                        Sha512Of(std::to_string(i))});
  }
  std::atomic<bool> give_up{false};
  std::thread job([&] {
    while (http.asked() < 4) absl::SleepFor(absl::Milliseconds(1));  // reads are in flight
    give_up.store(true);
  });
  absl::StatusOr<Prefetched> got =
      Prefetch(client, registries, packages, 4, [&] { return give_up.load(); });
  job.join();
  REQUIRE(!got.ok());
  CHECK(absl::IsCancelled(got.status()));
  CHECK(http.asked() < 20);  // the rest were never asked for
}

}  // namespace
}  // namespace ovvoc::agent::registry
