// The plan step's registry source (agent/pipeline/plan_step.h): which registry each package is
// read from, and the bounds a slow or generous registry meets (time, memory).
#include "agent/pipeline/plan_step.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/agent/registry_fixtures.h"

namespace ovvoc::agent {
namespace {

using registry::Endpoint;
using registry::RegistryClientFixture;

std::string Versions(int n) {
  std::string versions;
  for (int i = 0; i < n; ++i) absl::StrAppend(&versions, i ? "," : "", "\"1.0.", i, "\":{}");
  return absl::StrCat(R"({"name":"x","dist-tags":{"latest":"1.0.0"},"versions":{)", versions,
                      "}}");
}

TEST_CASE("packuments come from the scope's registry, else the default one", "[plan_step]") {
  RegistryClientFixture f;
  f.http.Answer("GET", "https://registry.example/a", 200, Versions(1));
  f.http.Answer("GET", "https://corp.example/npm/@corp%2fb", 200, Versions(2));
  RegistryPackuments source(f.client, {Endpoint("https://registry.example/"),
                                       Endpoint("https://corp.example/npm/", "@corp")});
  std::vector<npm::PackumentSource::Fetched> fetched = source.Fetch({"a", "@corp/b", "../c"});
  REQUIRE(fetched.size() == 3);
  REQUIRE(fetched[0].packument.ok());
  CHECK(fetched[0].packument->versions.size() == 1);
  CHECK(fetched[0].registry == "https://registry.example/");
  REQUIRE(fetched[1].packument.ok());
  CHECK(fetched[1].packument->versions.size() == 2);
  CHECK(fetched[1].registry == "https://corp.example/npm/");
  CHECK(absl::IsInvalidArgument(fetched[2].packument.status()));
  CHECK(f.http.requests().size() == 2);  // nothing asked for a name that is not one
}

TEST_CASE("once the plan's time is spent nothing more is fetched, and each says why",
          "[plan_step]") {
  RegistryClientFixture f;
  for (const char* name : {"a", "b", "c"}) {
    f.http.Answer("GET", absl::StrCat("https://registry.example/", name), 200, Versions(1));
  }
  bool out_of_time = false;
  RegistryPackuments source(f.client, {Endpoint("https://registry.example/")},
                            [&out_of_time]() -> std::string {
                              return out_of_time ? "not fetched: out of time" : "";
                            });
  std::vector<npm::PackumentSource::Fetched> fetched = source.Fetch({"a"});
  CHECK(fetched[0].packument.ok());
  out_of_time = true;
  fetched = source.Fetch({"b", "c"});
  REQUIRE(fetched.size() == 2);
  for (const auto& one : fetched) {
    CHECK(absl::IsDeadlineExceeded(one.packument.status()));
    CHECK(one.packument.status().message() == "not fetched: out of time");
  }
  CHECK(f.http.requests().size() == 1);
}

TEST_CASE("parsed packuments past the memory bound are refused, not kept", "[plan_step]") {
  RegistryClientFixture f;
  f.http.Answer("GET", "https://registry.example/small", 200, Versions(1));
  f.http.Answer("GET", "https://registry.example/big", 200, Versions(2000));
  RegistryPackuments source(f.client, {Endpoint("https://registry.example/")}, {},
                            /*max_held_bytes=*/100'000);
  std::vector<npm::PackumentSource::Fetched> fetched = source.Fetch({"small"});
  REQUIRE(fetched[0].packument.ok());
  fetched = source.Fetch({"big"});
  CHECK(absl::IsResourceExhausted(fetched[0].packument.status()));
  CHECK_THAT(std::string(fetched[0].packument.status().message()),
             Catch::Contains("passed 0 MiB"));
  fetched = source.Fetch({"small"});  // what is still under the bound is kept
  CHECK(fetched[0].packument.ok());
}

}  // namespace
}  // namespace ovvoc::agent

namespace ovvoc::agent {
namespace {

const std::vector<NodeRuntime> kRuntimes = {
    {20, "20.20.2", "11.21.2"}, {22, "22.23.5", "11.21.2"}, {24, "24.22.3", "11.21.2"},
    {26, "26.12.1", "11.21.2"}};
const absl::Time kNodeDay = absl::FromCivil(absl::CivilDay(2026, 12, 3), absl::UTCTimeZone());

JobNode Choose(const std::string& package_json, const std::string& configured = "",
               int remembered = 0, const std::vector<NodeRuntime>& runtimes = kRuntimes) {
  testing::TempDir dir;
  std::ofstream(dir.Sub("package.json")) << package_json;
  absl::StatusOr<npm::Project> project = npm::ReadProject(dir.path());
  REQUIRE(project.ok());
  return ChooseJobNode(dir.path(), *project, configured, remembered, runtimes, 24, kNodeDay);
}

std::vector<int> Majors(const std::vector<NodeRuntime>& runtimes) {
  std::vector<int> out;
  for (const NodeRuntime& r : runtimes) out.push_back(r.major);
  return out;
}

TEST_CASE("the job's node: the image of the major asked for, and where a failing baseline goes next",
          "[plan_step][node]") {
  SECTION("nothing asked: the default, then the older majors newest first, then the newer") {
    JobNode node = Choose(R"({"name":"a"})");
    CHECK(node.runtime.major == 24);
    CHECK(node.record.ran() == "24.22.3");
    CHECK(node.record.source() == "default");
    CHECK(Majors(node.alternatives) == std::vector<int>{22, 20, 26});
  }
  SECTION("engines.node bounds the retries") {
    JobNode node = Choose(R"({"name":"a","engines":{"node":">=20 <25"}})");
    CHECK(node.runtime.major == 24);
    CHECK(Majors(node.alternatives) == std::vector<int>{22, 20});
  }
  SECTION(".ovvoc.yml's node: picks the image and bounds the retries") {
    JobNode node = Choose(R"({"name":"a","engines":{"node":">=18"}})", "^22 || ^26");
    CHECK(node.runtime.major == 26);
    CHECK(node.record.source() == ".ovvoc.yml node");
    CHECK(Majors(node.alternatives) == std::vector<int>{22});
  }
  SECTION("a remembered major wins over the project's files, not over .ovvoc.yml") {
    JobNode node = Choose(R"({"name":"a","engines":{"node":"24"}})", "", 20);
    CHECK(node.runtime.major == 20);
    CHECK(node.record.source() == "remembered");
    CHECK(absl::StrContains(node.record.reason(), "last baseline passed on node 20"));
    CHECK(Choose(R"({"name":"a"})", "22", 20).runtime.major == 22);
    // A remembered major no image exists for is not one.
    CHECK(Choose(R"({"name":"a"})", "", 18).record.source() == "default");
  }
  SECTION("an agent without the image asked for runs its default, and says so") {
    JobNode node = Choose(R"({"name":"a","engines":{"node":"20"}})", "", 0,
                          {{24, "24.22.3", "11.21.2"}});
    CHECK(node.record.wanted_major() == 20);
    CHECK(node.runtime.major == 24);
    CHECK(node.alternatives.empty());
  }
}

}  // namespace
}  // namespace ovvoc::agent
