#include "agent/npm/internal/policy_reader.h"

#include <cstdint>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/inert.h"

namespace ovvoc::agent::npm::internal {
namespace {

// yaml-cpp marks are 0-based, -1 when unknown; diagnostics are 1-based, 0 when unknown.
int OneBased(int position) { return position < 0 ? 0 : position + 1; }

// A quoted scalar has the non-specific tag "!"; a plain one "?".
bool IsQuoted(const YAML::Node& node) { return node.Tag() == "!"; }

// One cron field: comma-separated items, each `*`, N, N-M or a name, with an optional /STEP.
bool ValidCronField(absl::string_view field, int min, int max,
                    const std::vector<absl::string_view>& names) {
  auto value = [&](absl::string_view text) {
    int n = 0;
    if (absl::SimpleAtoi(text, &n)) return n >= min && n <= max;
    for (absl::string_view name : names) {
      if (absl::EqualsIgnoreCase(name, text)) return true;
    }
    return false;
  };
  for (absl::string_view item : absl::StrSplit(field, ',')) {
    std::vector<absl::string_view> parts = absl::StrSplit(item, absl::MaxSplits('/', 1));
    int step = 0;
    if (parts.size() == 2 && (!absl::SimpleAtoi(parts[1], &step) || step < 1)) return false;
    if (parts[0] == "*") continue;
    std::vector<absl::string_view> ends = absl::StrSplit(parts[0], absl::MaxSplits('-', 1));
    for (absl::string_view end : ends) {
      if (!value(end)) return false;
    }
  }
  return true;
}

}  // namespace

std::string Quoted(absl::string_view text) { return absl::StrCat("\"", InertLine(text, 60), "\""); }

bool ValidTime(absl::string_view t) {
  int hours = 0, minutes = 0;
  return t.size() == 5 && t[2] == ':' && absl::ascii_isdigit(t[0]) && absl::ascii_isdigit(t[1]) &&
         absl::ascii_isdigit(t[3]) && absl::ascii_isdigit(t[4]) &&
         absl::SimpleAtoi(t.substr(0, 2), &hours) && absl::SimpleAtoi(t.substr(3), &minutes) &&
         hours < 24 && minutes < 60;
}

bool ValidTimezone(const std::string& name) {
  if (name.empty() || name.size() > 64 || name.front() == '/') return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '-' && c != '+' && c != '/') return false;
  }
  for (absl::string_view segment : absl::StrSplit(name, '/')) {
    if (segment.empty() || segment == "." || segment == "..") return false;
  }
  absl::TimeZone zone;
  return absl::LoadTimeZone(name, &zone);
}

bool ValidCronjob(absl::string_view text) {
  if (absl::StartsWithIgnoreCase(text, "every ")) return true;
  std::vector<absl::string_view> fields = absl::StrSplit(text, ' ', absl::SkipWhitespace());
  static const std::vector<absl::string_view> kMonths = {"jan", "feb", "mar", "apr", "may", "jun",
                                                         "jul", "aug", "sep", "oct", "nov", "dec"};
  static const std::vector<absl::string_view> kWeekdays = {"sun", "mon", "tue", "wed",
                                                           "thu", "fri", "sat"};
  return fields.size() == 5 && ValidCronField(fields[0], 0, 59, {}) &&
         ValidCronField(fields[1], 0, 23, {}) && ValidCronField(fields[2], 1, 31, {}) &&
         ValidCronField(fields[3], 1, 12, kMonths) && ValidCronField(fields[4], 0, 7, kWeekdays);
}

bool ValidBranch(absl::string_view name) {
  if (name.empty() || name.front() == '-' || name.front() == '/' || name.back() == '/' ||
      name.back() == '.' || absl::EndsWith(name, ".lock") || absl::StrContains(name, "..") ||
      absl::StrContains(name, "@{") || absl::StrContains(name, "//")) {
    return false;
  }
  for (char c : name) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f || absl::StrContains("~^:?*[\\", c)) {
      return false;
    }
  }
  return true;
}

bool ValidGroupName(absl::string_view name) {
  if (name.empty() || name.size() > 100) return false;
  for (char c : name) {
    if (static_cast<unsigned char>(c) < ' ' || c == 0x7f) return false;
  }
  return true;
}

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return absl::StrCat("\"", InertLine(node.Scalar(), 60), "\"");
    default:
      return "nothing";
  }
}

std::optional<std::string> NormalizeDirectory(absl::string_view text) {
  if (text.empty() || text.find('\0') != absl::string_view::npos) return std::nullopt;
  std::vector<absl::string_view> segments;
  for (absl::string_view segment : absl::StrSplit(text, '/', absl::SkipEmpty())) {
    if (segment == "..") return std::nullopt;
    if (segment != ".") segments.push_back(segment);
  }
  return absl::StrCat("/", absl::StrJoin(segments, "/"));
}

void PolicyReader::Add(Diagnostic::Severity severity, int line, int column,
                       absl::string_view message) {
  if (out_.size() >= kMaxPolicyDiagnostics) {
    ++dropped_;
    dropped_error_ |= severity == Diagnostic::Severity::kError;
    return;
  }
  Diagnostic d;
  d.severity = severity;
  d.file = file_;
  d.line = line;
  d.column = severity == Diagnostic::Severity::kError ? column : 0;
  d.message = std::string(message);
  out_.push_back(std::move(d));
}

void PolicyReader::Finish() {
  if (dropped_ == 0) return;
  Diagnostic d;
  d.severity = dropped_error_ ? Diagnostic::Severity::kError : Diagnostic::Severity::kWarning;
  d.file = file_;
  d.message = absl::StrCat(dropped_, " more diagnostics not shown");
  out_.push_back(std::move(d));
}

bool PolicyReader::Visit() {
  if (++visited_ <= kMaxPolicyNodes) return true;
  if (!exhausted_) {
    exhausted_ = true;
    FileError(absl::StrCat("more than ", kMaxPolicyNodes,
                           " YAML nodes to read (each use of an alias counts again): the rest "
                           "is not read"));
  }
  return false;
}

void PolicyReader::Warn(const YAML::Node& at, absl::string_view message) {
  Add(Diagnostic::Severity::kWarning, OneBased(at.Mark().line), 0, message);
}

void PolicyReader::Error(const YAML::Node& at, absl::string_view message) {
  ErrorAt(at.Mark(), message);
}

void PolicyReader::ErrorAt(const YAML::Mark& mark, absl::string_view message) {
  Add(Diagnostic::Severity::kError, OneBased(mark.line), OneBased(mark.column), message);
}

void PolicyReader::FileError(absl::string_view message) {
  Add(Diagnostic::Severity::kError, 0, 0, message);
}

void PolicyReader::FileWarning(absl::string_view message) {
  Add(Diagnostic::Severity::kWarning, 0, 0, message);
}

void PolicyReader::UnknownKey(const YAML::Node& key, absl::string_view where) {
  Warn(key, absl::StrCat("unknown key \"", InertLine(key.Scalar(), 60), "\" in ", where));
}

SourceLine PolicyReader::LineOf(const YAML::Node& node) const {
  return SourceLine{file_, OneBased(node.Mark().line)};
}

std::vector<Pair> PolicyReader::Pairs(const YAML::Node& map) {
  std::vector<Pair> pairs;
  absl::flat_hash_set<std::string> seen;
  std::vector<YAML::Node> merges;
  for (auto it = map.begin(); it != map.end() && Visit(); ++it) {
    // A copy: yaml-cpp's iterator hands out a temporary that dies with the statement.
    const YAML::Node key = it->first;
    if (!key.IsScalar()) {
      Error(key, absl::StrCat("a key must be a string, not ", Describe(key)));
    } else if (key.Scalar() == "<<" && !IsQuoted(key)) {
      merges.push_back(it->second);
    } else if (!seen.insert(key.Scalar()).second) {
      Error(key, absl::StrCat("duplicate key \"", InertLine(key.Scalar(), 60), "\""));
    } else {
      pairs.emplace_back(key, it->second);
    }
  }
  // YAML's merge key, one level deep: `<<: *defaults` or `<<: [*a, *b]`, the first wins.
  for (const YAML::Node& merge : merges) {
    std::vector<YAML::Node> sources =
        merge.IsSequence() ? Elements(merge) : std::vector<YAML::Node>{merge};
    for (const YAML::Node& source : sources) {
      if (!source.IsMap()) {
        Error(source, absl::StrCat("`<<` merges a map, not ", Describe(source)));
        continue;
      }
      for (auto it = source.begin(); it != source.end() && Visit(); ++it) {
        if (it->first.IsScalar() && seen.insert(it->first.Scalar()).second) {
          pairs.emplace_back(it->first, it->second);
        }
      }
    }
  }
  return pairs;
}

std::vector<YAML::Node> PolicyReader::Elements(const YAML::Node& list) {
  std::vector<YAML::Node> elements;
  for (auto it = list.begin(); it != list.end() && Visit(); ++it) elements.push_back(*it);
  return elements;
}

bool PolicyReader::IsMap(const YAML::Node& node, absl::string_view path) {
  if (node.IsMap()) return true;
  Error(node, absl::StrCat(path, ": expected a map, found ", Describe(node)));
  return false;
}

bool PolicyReader::IsList(const YAML::Node& node, absl::string_view path) {
  if (node.IsSequence()) return true;
  Error(node, absl::StrCat(path, ": expected a list, found ", Describe(node)));
  return false;
}

std::optional<std::string> PolicyReader::String(const YAML::Node& node, absl::string_view path,
                                                size_t max_bytes) {
  if (!node.IsScalar()) {
    Error(node, absl::StrCat(path, ": expected a string, found ", Describe(node)));
    return std::nullopt;
  }
  if (node.Scalar().size() > max_bytes) {
    Error(node, absl::StrCat(path, ": longer than ", max_bytes, " bytes"));
    return std::nullopt;
  }
  return node.Scalar();
}

std::optional<int> PolicyReader::Int(const YAML::Node& node, absl::string_view path, int min,
                                     int max) {
  int64_t value = 0;
  if (!node.IsScalar() || IsQuoted(node) || !absl::SimpleAtoi(node.Scalar(), &value)) {
    Error(node, absl::StrCat(path, ": expected a whole number, found ", Describe(node)));
    return std::nullopt;
  }
  if (value < min || value > max) {
    Error(node, absl::StrCat(path, ": ", value, " is not between ", min, " and ", max));
    return std::nullopt;
  }
  return static_cast<int>(value);
}

std::optional<bool> PolicyReader::Bool(const YAML::Node& node, absl::string_view path) {
  if (node.IsScalar() && !IsQuoted(node)) {
    if (node.Scalar() == "true") return true;
    if (node.Scalar() == "false") return false;
  }
  Error(node, absl::StrCat(path, ": expected true or false, found ", Describe(node)));
  return std::nullopt;
}

std::optional<std::vector<std::string>> PolicyReader::Strings(const YAML::Node& node,
                                                              absl::string_view path,
                                                              bool allow_empty_list) {
  if (!IsList(node, path)) return std::nullopt;
  std::vector<std::string> values;
  bool ok = true;
  for (const YAML::Node& element : Elements(node)) {
    std::optional<std::string> value = String(element, path);
    if (value && value->empty()) {
      Error(element, absl::StrCat(path, ": an empty string"));
      value.reset();
    }
    if (value) {
      values.push_back(*std::move(value));
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  if (values.empty() && !allow_empty_list) {
    Error(node, absl::StrCat(path, ": the list is empty"));
    return std::nullopt;
  }
  return values;
}

void PolicyReader::BadValue(const YAML::Node& node, absl::string_view path,
                            const std::vector<absl::string_view>& names, absl::string_view found) {
  Error(node, absl::StrCat(path, ": \"", InertLine(found, 60), "\" is not one of ",
                           absl::StrJoin(names, ", ")));
}

}  // namespace ovvoc::agent::npm::internal
