// Which node major a project runs on (agent/npm/node_choice.h), from what it says.
#include "agent/npm/node_choice.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "tests/support/temp_dir.h"

namespace ovvoc::agent::npm {
namespace {

using ovvoc::testing::TempDir;

const std::vector<int> kSupported = {20, 22, 24, 26};
const absl::Time kToday = absl::FromCivil(absl::CivilDay(2026, 12, 3), absl::UTCTimeZone());

void Write(const TempDir& dir, const std::string& relative, const std::string& text) {
  const std::filesystem::path path = std::filesystem::path(dir.path()) / relative;
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

NodeChoice Choose(const TempDir& dir, const std::string& configured = "") {
  absl::StatusOr<Project> project = ReadProject(dir.path());
  REQUIRE(project.ok());
  return ChooseNode(dir.path(), *project, kSupported, configured, kToday);
}

TEST_CASE("a version names the newest supported major it allows", "[node_choice]") {
  auto major = [](const char* text) { return SupportedMajor(text, kSupported, kToday); };
  CHECK(major("20") == 20);
  CHECK(major("v20.11.1") == 20);
  CHECK(major("20.x") == 20);
  CHECK(major(">=18 <23") == 22);
  CHECK(major("^18 || ^20") == 20);
  CHECK(major(">=14") == 26);
  CHECK(major("lts/iron") == 20);
  CHECK(major("lts/jod") == 22);
  CHECK(major("lts/*") == 26);  // node 26 is LTS from October 2026
  CHECK(SupportedMajor("lts/*", kSupported,
                       absl::FromCivil(absl::CivilDay(2026, 6, 1), absl::UTCTimeZone())) == 24);
  CHECK(major("node") == 26);
  CHECK(major("18") == std::nullopt);          // no image for it
  CHECK(major("lts/hydrogen") == std::nullopt);
  CHECK(major("lts/unknown") == std::nullopt);
  CHECK(major("banana") == std::nullopt);
  CHECK(major("") == std::nullopt);
}

TEST_CASE("the project's files are read in the documented order", "[node_choice]") {
  TempDir dir;
  Write(dir, "package.json",
        R"({"engines": {"node": ">=22"}, "volta": {"node": "20.10.0"},
            "devEngines": {"runtime": [{"name": "bun"}, {"name": "node", "version": "^24"}]}})");
  Write(dir, ".github/workflows/ci.yml", R"(
jobs:
  test:
    strategy:
      matrix:
        node: [18, 20.x, 22]
    steps:
      - uses: actions/setup-node@v4
        with:
          node-version: ${{ matrix.node }}
)");
  Write(dir, ".tool-versions", "# tools\nruby 3.3.0\nnodejs 22.1.0\n");
  Write(dir, ".node-version", "v24\n");
  Write(dir, ".nvmrc", "# pinned\nlts/iron\n");

  NodeChoice choice = Choose(dir, "26");
  CHECK(choice.major == 26);
  CHECK(choice.source == ".ovvoc.yml node");
  CHECK(choice.considered.size() == 8);

  choice = Choose(dir);
  CHECK(choice.major == 20);
  CHECK(choice.source == ".nvmrc");
  CHECK(choice.reason == "lts/iron in .nvmrc");
  CHECK(choice.considered.front() == ".nvmrc: lts/iron -> node 20");

  std::filesystem::remove(std::filesystem::path(dir.path()) / ".nvmrc");
  CHECK(Choose(dir).source == ".node-version");
  std::filesystem::remove(std::filesystem::path(dir.path()) / ".node-version");
  CHECK(Choose(dir).major == 22);  // .tool-versions
  std::filesystem::remove(std::filesystem::path(dir.path()) / ".tool-versions");
  CHECK(Choose(dir).source == "package.json volta.node");
  Write(dir, "package.json",
        R"({"engines": {"node": ">=22"},
            "devEngines": {"runtime": [{"name": "bun"}, {"name": "node", "version": "^24"}]}})");
  CHECK(Choose(dir).major == 24);  // devEngines
  Write(dir, "package.json", R"({"engines": {"node": ">=20"}})");
  choice = Choose(dir);
  CHECK(choice.source == ".github/workflows");  // the newest it tests: 22
  CHECK(choice.major == 22);
  std::filesystem::remove(std::filesystem::path(dir.path()) / ".github/workflows/ci.yml");
  choice = Choose(dir);
  CHECK(choice.source == "package.json engines.node");
  CHECK(choice.major == 26);
  Write(dir, "package.json", "{}");
  choice = Choose(dir);
  CHECK(choice.source == "default");
  CHECK(choice.major == 26);
}

TEST_CASE("a version file naming no supported major falls through, and says so",
          "[node_choice]") {
  TempDir dir;
  Write(dir, "package.json", R"({"engines": {"node": "^20 || ^22"}})");
  Write(dir, ".nvmrc", "16\n");
  const NodeChoice choice = Choose(dir);
  CHECK(choice.major == 22);
  CHECK(choice.source == "package.json engines.node");
  CHECK(choice.considered.front() == ".nvmrc: 16 -> no supported major");
}

TEST_CASE("hostile files are read safely", "[node_choice]") {
  TempDir dir;
  Write(dir, "package.json", "{}");
  // A symlinked version file is not followed; an unreadable workflow says nothing.
  std::filesystem::create_symlink("/etc/hostname", std::filesystem::path(dir.path()) / ".nvmrc");
  Write(dir, ".github/workflows/bad.yml", "jobs: [unclosed\n");
  std::string bomb = "a: &a [1, 2, 3, 4, 5, 6, 7, 8]\n";
  for (int i = 0; i < 12; ++i) {
    bomb += "l" + std::to_string(i + 1) + ": &l" + std::to_string(i + 1) + " [";
    for (int j = 0; j < 8; ++j) bomb += std::string(j ? ", " : "") + "*" + (i ? "l" + std::to_string(i) : "a");
    bomb += "]\n";
  }
  bomb += "node-version: \x1b[31m20\n";
  Write(dir, ".github/workflows/bomb.yml", bomb);
  // What a source said is listed inert, whatever bytes it holds.
  Write(dir, ".node-version", "\x1b]0;owned\a20\n");
  const NodeChoice choice = Choose(dir);
  CHECK(choice.source == "default");
  REQUIRE(choice.considered.size() == 1);
  CHECK(absl::StartsWith(choice.considered[0], ".node-version: "));
  for (const std::string& line : choice.considered) CHECK(line.find('\x1b') == std::string::npos);
}

// Red team, issue 11: an alias repeats a costly range for the price of one node, in each of 50
// workflows (10 such files took a minute of the agent's CPU). Each distinct value is tested
// once, and at most 200 of them.
TEST_CASE("a workflow's repeated costly values are tested once", "[node_choice]") {
  TempDir dir;
  Write(dir, "package.json", "{}");
  std::string costly;
  for (int i = 0; i < 62; ++i) costly += ">30 ";
  for (int file = 0; file < 50; ++file) {
    std::string yaml = "a: &v \"" + costly + "\"\nnode-version: [";
    for (int i = 0; i < 19000; ++i) yaml += i ? ", *v" : "*v";
    yaml += "]\nmatrix: {node-version: [" + std::to_string(18 + file % 3) + "]}\n";
    Write(dir, ".github/workflows/w" + std::to_string(file) + ".yml", yaml);
  }
  const NodeChoice choice = Choose(dir);
  CHECK(choice.source == ".github/workflows");
  CHECK(choice.major == 20);
}

}  // namespace
}  // namespace ovvoc::agent::npm
