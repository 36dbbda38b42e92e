#include "agent/npm/resolve_error.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/inert.h"

namespace ovvoc::agent::npm {
namespace {

constexpr size_t kMaxField = 200;

// The line without npm's log prefix ("npm error ", "npm ERR! "); trailing space and "\r" gone.
absl::string_view Unprefixed(absl::string_view line) {
  line = absl::StripTrailingAsciiWhitespace(line);
  if (!absl::ConsumePrefix(&line, "npm error")) absl::ConsumePrefix(&line, "npm ERR!");
  absl::ConsumePrefix(&line, " ");
  return line;
}

}  // namespace

std::optional<ResolveConflict> ParseResolveConflict(absl::string_view output) {
  if (!absl::StrContains(output, "ERESOLVE")) return std::nullopt;
  ResolveConflict c;
  enum class Expect { kNothing, kFoundBy, kUnresolved } expect = Expect::kNothing;
  bool seen = false;
  for (absl::string_view raw : absl::StrSplit(output, '\n')) {
    const absl::string_view line = Unprefixed(raw);
    const absl::string_view text = absl::StripLeadingAsciiWhitespace(line);
    if (text.empty()) continue;
    if (absl::StrContains(text, "ERESOLVE")) seen = true;
    if (expect == Expect::kFoundBy) {
      if (absl::StartsWith(text, "node_modules/")) continue;
      if (absl::StartsWith(line, " ") && absl::StrContains(text, " from ")) {
        c.found_by = InertLine(text, kMaxField);
      }
      expect = Expect::kNothing;
    } else if (expect == Expect::kUnresolved) {
      c.unresolved = InertLine(text, kMaxField);
      const size_t from = text.rfind(" from ");
      if (from != absl::string_view::npos && !absl::EndsWith(text, "the root project")) {
        c.culprit = InertLine(text.substr(from + 6), kMaxField);
      }
      expect = Expect::kNothing;
      continue;
    }
    absl::string_view value = text;
    if (c.while_resolving.empty() && absl::ConsumePrefix(&value, "While resolving: ")) {
      c.while_resolving = InertLine(value, kMaxField);
    } else if (c.found.empty() && absl::ConsumePrefix(&value, "Found: ")) {
      c.found = InertLine(value, kMaxField);
      expect = Expect::kFoundBy;
    } else if (c.unresolved.empty() && absl::StartsWith(text, "Could not resolve dependency:")) {
      expect = Expect::kUnresolved;
    } else if (c.conflicting_peer.empty() &&
               absl::ConsumePrefix(&value, "Conflicting peer dependency: ")) {
      c.conflicting_peer = InertLine(value, kMaxField);
    }
  }
  if (!seen || (c.unresolved.empty() && c.found.empty())) return std::nullopt;
  return c;
}

std::string DescribeResolveConflict(const ResolveConflict& c) {
  std::string out = "npm could not resolve the tree (ERESOLVE)";
  if (!c.unresolved.empty()) absl::StrAppend(&out, ": ", c.unresolved);
  if (!c.found.empty()) {
    absl::StrAppend(&out, c.unresolved.empty() ? ": " : ", but ", c.found, " is there");
    if (!c.found_by.empty()) absl::StrAppend(&out, " (", c.found_by, ")");
  }
  if (!c.conflicting_peer.empty()) {
    absl::StrAppend(&out, "; conflicting peer dependency: ", c.conflicting_peer);
  }
  return out;
}

}  // namespace ovvoc::agent::npm
