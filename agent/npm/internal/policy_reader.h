// The typed, bounded view of one policy document that agent/npm/policy_parse.cc walks: every
// node it looks at is counted against kMaxPolicyNodes (a YAML alias is yaml-cpp's shared node,
// so counting visits, not nodes, is what stops an anchor bomb), and every type or value error
// becomes a Diagnostic with the node's line and column. Internal to agent/npm.
#ifndef OVVOC_AGENT_NPM_INTERNAL_POLICY_READER_H_
#define OVVOC_AGENT_NPM_INTERNAL_POLICY_READER_H_

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "agent/npm/policy.h"

namespace ovvoc::agent::npm::internal {

using Pair = std::pair<YAML::Node, YAML::Node>;

inline constexpr size_t kMaxPolicyString = 4096;

// One enum value as it is spelled in the file.
template <typename E>
struct Spelling {
  absl::string_view text;
  E value;
};

class PolicyReader {
 public:
  PolicyReader(absl::string_view file, std::vector<Diagnostic>& out) : file_(file), out_(out) {}
  // Adds the note on diagnostics that did not fit. Call once, at the end.
  void Finish();

  // Counts one node; false once kMaxPolicyNodes are spent (said once, as an error).
  bool Visit();
  bool exhausted() const { return exhausted_; }

  void Warn(const YAML::Node& at, absl::string_view message);
  void Error(const YAML::Node& at, absl::string_view message);
  void ErrorAt(const YAML::Mark& mark, absl::string_view message);
  void FileError(absl::string_view message);
  void FileWarning(absl::string_view message);
  // "unknown key \"foo\" in updates[0]".
  void UnknownKey(const YAML::Node& key, absl::string_view where);

  // The pairs of a map in file order, then those merged in with `<<: *anchor` that the map
  // does not set itself. Keys that are not strings, and repeated keys, are errors and skipped.
  std::vector<Pair> Pairs(const YAML::Node& map);
  // The elements of a list, each counted.
  std::vector<YAML::Node> Elements(const YAML::Node& list);

  // Typed values: nullopt after reporting an error naming `path` and what was found.
  std::optional<std::string> String(const YAML::Node& node, absl::string_view path,
                                    size_t max_bytes = kMaxPolicyString);
  std::optional<int> Int(const YAML::Node& node, absl::string_view path, int min, int max);
  std::optional<bool> Bool(const YAML::Node& node, absl::string_view path);
  std::optional<std::vector<std::string>> Strings(const YAML::Node& node, absl::string_view path,
                                                  bool allow_empty_list);
  bool IsMap(const YAML::Node& node, absl::string_view path);
  bool IsList(const YAML::Node& node, absl::string_view path);

  template <typename E, size_t N>
  std::optional<E> Enum(const YAML::Node& node, absl::string_view path,
                        const Spelling<E> (&spellings)[N]) {
    std::optional<std::string> text = String(node, path);
    if (!text) return std::nullopt;
    for (const Spelling<E>& s : spellings) {
      if (s.text == *text) return s.value;
    }
    std::vector<absl::string_view> names;
    for (const Spelling<E>& s : spellings) names.push_back(s.text);
    BadValue(node, path, names, *text);
    return std::nullopt;
  }

  SourceLine LineOf(const YAML::Node& node) const;
  const std::string& file() const { return file_; }

 private:
  void Add(Diagnostic::Severity severity, int line, int column, absl::string_view message);
  void BadValue(const YAML::Node& node, absl::string_view path,
                const std::vector<absl::string_view>& names, absl::string_view found);

  const std::string file_;
  std::vector<Diagnostic>& out_;
  size_t visited_ = 0;
  bool exhausted_ = false;
  size_t dropped_ = 0;
  bool dropped_error_ = false;
};

// What a node is, for messages: "a map", "a list", "nothing", or the scalar quoted and inert.
std::string Describe(const YAML::Node& node);

// `key` is one of `keys`.
template <size_t N>
bool OneOf(absl::string_view key, const absl::string_view (&keys)[N]) {
  for (absl::string_view k : keys) {
    if (k == key) return true;
  }
  return false;
}

// "\"text\"", inert, at most 60 bytes of it: file text inside a message.
std::string Quoted(absl::string_view text);

// Values policies spell as text. Time: "hh:mm", 00:00 to 23:59 (Dependabot's pattern).
bool ValidTime(absl::string_view t);
// An IANA name that tzdata has. The name is checked before it is looked up, because the lookup
// opens a file named after it: no absolute path, no "..", only the characters of tz names.
bool ValidTimezone(const std::string& name);
// Five cron fields ("0 9 * * 1-5"), or Dependabot's natural form ("every day at 5pm").
bool ValidCronjob(absl::string_view text);
// What `git check-ref-format --branch` would refuse, roughly: the name reaches git commands.
bool ValidBranch(absl::string_view name);
// A group's name ends up in branch names and titles: printable, at most 100 bytes.
bool ValidGroupName(absl::string_view name);

// A directory as policies spell it ("/", "packages/web/", "./a") as "/packages/web"; nullopt
// for an empty one, one with a ".." segment, or one with a NUL byte.
std::optional<std::string> NormalizeDirectory(absl::string_view text);

}  // namespace ovvoc::agent::npm::internal

#endif  // OVVOC_AGENT_NPM_INTERNAL_POLICY_READER_H_
