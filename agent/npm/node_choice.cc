#include "agent/npm/node_choice.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/npm/semver.h"
#include "agent/workspace/beneath.h"
#include "common/inert.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace ovvoc::agent::npm {
namespace {

constexpr size_t kMaxVersionFile = 4096;
constexpr size_t kMaxWorkflowFiles = 50;
constexpr size_t kMaxWorkflowBytes = 256 * 1024;
// Nodes visited per workflow file: an alias is a shared node, so an anchor bomb is visited
// many times; this bounds the walk (policy files have the same bound).
constexpr int kMaxWorkflowNodes = 20000;
// Distinct node-version values read from all workflows.
constexpr size_t kMaxWorkflowValues = 200;

// nvm's LTS codenames.
const std::map<std::string, int>& Codenames() {
  static const auto* names = new std::map<std::string, int>{
      {"argon", 4},    {"boron", 6},    {"carbon", 8}, {"dubnium", 10},
      {"erbium", 12},  {"fermium", 14}, {"gallium", 16}, {"hydrogen", 18},
      {"iron", 20},    {"jod", 22},     {"krypton", 24}};
  return *names;
}

bool IsLts(int major, absl::Time today) {
  if (major % 2 != 0) return false;
  const absl::CivilDay day = absl::ToCivilDay(today, absl::UTCTimeZone());
  const int year = 2013 + major / 2;
  return day.year() > year || (day.year() == year && day.month() >= 10);
}

std::string FirstLine(absl::string_view text) {
  for (absl::string_view line : absl::StrSplit(text, absl::ByAnyChar("\r\n"))) {
    line = absl::StripAsciiWhitespace(line.substr(0, line.find('#')));
    if (!line.empty()) return std::string(line);
  }
  return "";
}

// .tool-versions: "nodejs 20.11.1" (asdf) or "node 20" (mise), the first version given.
std::string ToolVersionsNode(absl::string_view text) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line.substr(0, line.find('#')));
    std::vector<absl::string_view> words = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (words.size() >= 2 && (words[0] == "nodejs" || words[0] == "node")) {
      return std::string(words[1]);
    }
  }
  return "";
}

// devEngines.runtime: an object or a list of them; the one named "node".
std::string DevEnginesNode(const std::string& json) {
  if (json.empty()) return "";
  const nlohmann::json dev = nlohmann::json::parse(json, nullptr, false);
  if (!dev.is_object()) return "";
  auto runtime = dev.find("runtime");
  if (runtime == dev.end()) return "";
  std::vector<nlohmann::json> entries =
      runtime->is_array() ? runtime->get<std::vector<nlohmann::json>>()
                          : std::vector<nlohmann::json>{*runtime};
  for (const nlohmann::json& entry : entries) {
    if (!entry.is_object() || entry.value("name", nlohmann::json()) != "node") continue;
    auto version = entry.find("version");
    if (version != entry.end() && version->is_string()) return version->get<std::string>();
  }
  return "";
}

bool IsNodeVersionKey(const std::string& key) {
  return key == "node-version" || key == "node_version" || key == "node" ||
         key == "node-versions" || key == "nodejs";
}

// Every value under a node-version key of a workflow (scalars, or lists of them), skipping
// expressions ("${{ matrix.node }}": the matrix's own list is read where it is written).
// Each distinct value is kept once, and at most kMaxWorkflowValues of them: an alias repeats a
// value many times for the price of one, and each costs a range test per supported major
// (red team, issue 11: 10 files of aliased 62-comparator ranges took a minute).
void CollectWorkflowVersions(const YAML::Node& node, bool under_key, int& budget,
                             std::set<std::string>& out) {
  if (--budget < 0 || !node.IsDefined()) return;
  if (node.IsScalar()) {
    const std::string& value = node.Scalar();
    if (under_key && !absl::StrContains(value, "${{") && out.size() < kMaxWorkflowValues) {
      out.insert(value);
    }
  } else if (node.IsSequence()) {
    for (const YAML::Node& item : node) CollectWorkflowVersions(item, under_key, budget, out);
  } else if (node.IsMap()) {
    for (const auto& entry : node) {
      const YAML::Node key = entry.first;  // copies: the iterator's value is a temporary
      const YAML::Node value = entry.second;
      const bool is_node = key.IsScalar() && IsNodeVersionKey(key.Scalar());
      CollectWorkflowVersions(value, is_node, budget, out);
    }
  }
}

std::set<std::string> WorkflowVersions(const std::string& root) {
  std::set<std::string> versions;
  absl::StatusOr<std::vector<std::string>> names =
      ListDirBeneath(root, ".github/workflows", kMaxWorkflowFiles);
  if (!names.ok()) return versions;
  std::sort(names->begin(), names->end());
  for (const std::string& name : *names) {
    if (!absl::EndsWith(name, ".yml") && !absl::EndsWith(name, ".yaml")) continue;
    absl::StatusOr<std::string> text =
        ReadFileBeneath(root, absl::StrCat(".github/workflows/", name), kMaxWorkflowBytes);
    if (!text.ok()) continue;
    try {
      const YAML::Node doc = YAML::Load(*text);
      int budget = kMaxWorkflowNodes;
      CollectWorkflowVersions(doc, false, budget, versions);
    } catch (const std::exception&) {
      continue;  // a workflow that is not YAML says nothing
    }
  }
  return versions;
}

}  // namespace

std::optional<int> SupportedMajor(absl::string_view text, const std::vector<int>& supported,
                                  absl::Time today) {
  if (supported.empty()) return std::nullopt;
  std::vector<int> newest_first = supported;
  std::sort(newest_first.rbegin(), newest_first.rend());
  std::string value = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (value.empty() || value.size() > 256) return std::nullopt;
  if (value == "node" || value == "latest" || value == "current" || value == "stable") {
    return newest_first.front();
  }
  if (value == "lts" || value == "lts/*" || absl::StartsWith(value, "lts/-")) {
    for (int major : newest_first) {
      if (IsLts(major, today)) return major;
    }
    return std::nullopt;
  }
  if (absl::StartsWith(value, "lts/")) {
    auto it = Codenames().find(value.substr(4));
    if (it == Codenames().end()) return std::nullopt;
    value = absl::StrCat(it->second);
  }
  for (int major : newest_first) {
    absl::StatusOr<bool> meets = Intersects(
        value, absl::StrCat(">=", major, ".0.0 <", major + 1, ".0.0-0"), Options{.loose = true});
    if (meets.ok() && *meets) return major;
  }
  return std::nullopt;
}

NodeChoice ChooseNode(const std::string& root, const Project& project,
                      const std::vector<int>& supported, absl::string_view configured,
                      absl::Time today) {
  NodeChoice choice;
  auto consider = [&](const std::string& source, const std::string& value) {
    if (value.empty() || choice.major != 0) {
      if (!value.empty()) {
        choice.considered.push_back(absl::StrCat(source, ": ", InertLine(value, 100)));
      }
      return;
    }
    std::optional<int> major = SupportedMajor(value, supported, today);
    choice.considered.push_back(
        absl::StrCat(source, ": ", InertLine(value, 100), " -> ",
                     major ? absl::StrCat("node ", *major) : "no supported major"));
    if (major) {
      choice.major = *major;
      choice.source = source;
      choice.reason = absl::StrCat(InertLine(value, 100), " in ", source);
    }
  };
  auto file = [&](const char* name) -> std::string {
    absl::StatusOr<std::string> text = ReadFileBeneath(root, name, kMaxVersionFile);
    return text.ok() ? *text : "";
  };

  consider(".ovvoc.yml node", std::string(configured));
  consider(".nvmrc", FirstLine(file(".nvmrc")));
  consider(".node-version", FirstLine(file(".node-version")));
  consider(".tool-versions", ToolVersionsNode(file(".tool-versions")));
  consider("package.json volta.node", project.root.volta_node);
  consider("package.json devEngines.runtime", DevEnginesNode(project.root.dev_engines_json));

  // CI: the newest supported major the workflows test.
  std::optional<int> tested;
  std::string tested_value;
  for (const std::string& value : WorkflowVersions(root)) {
    std::optional<int> major = SupportedMajor(value, supported, today);
    if (major && (!tested || *major > *tested)) tested = major, tested_value = value;
  }
  if (tested) consider(".github/workflows", tested_value);

  for (const auto& [engine, range] : project.root.engines) {
    if (engine == "node") consider("package.json engines.node", range);
  }
  if (choice.major == 0 && !supported.empty()) {
    choice.major = *std::max_element(supported.begin(), supported.end());
    choice.source = "default";
    choice.reason = "the project names no node version: the newest supported";
  }
  return choice;
}

}  // namespace ovvoc::agent::npm
