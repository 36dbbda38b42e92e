#include "control-plane/forge_tokens/forge_tokens.h"

#include <sys/stat.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "common/repo_url.h"
#include "common/status_macros.h"

namespace ovvoc::cp {
namespace {

constexpr char kLineForm[] = "expected \"ORG URL-PREFIX TOKEN\"";

class NoTokens final : public ForgeTokenSource {
 public:
  absl::StatusOr<std::optional<ovvoc::v1::ForgeToken>> TokenFor(const OrgRecord&,
                                                                const RepoRecord&) override {
    return std::nullopt;
  }
};

struct Entry {
  std::string org;
  RepoUrl prefix;
  std::string token;
  int line = 0;
};

class StaticTokens final : public ForgeTokenSource {
 public:
  explicit StaticTokens(std::vector<Entry> entries) : entries_(std::move(entries)) {}

  absl::StatusOr<std::optional<ovvoc::v1::ForgeToken>> TokenFor(const OrgRecord& org,
                                                                const RepoRecord& repo) override {
    if (repo.org_id != org.id) {
      return absl::InternalError(
          absl::StrCat("repo ", repo.id, " belongs to ", repo.org_id, ", not to ", org.id));
    }
    const bool org_has_entries = std::any_of(entries_.begin(), entries_.end(),
                                             [&](const Entry& e) { return e.org == org.name; });
    if (!org_has_entries) return std::nullopt;
    absl::StatusOr<RepoUrl> url = ParseRepoUrl(repo.url);
    if (!url.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("repo ", repo.id, " was stored with a URL that no longer passes the checks ",
                       "(", url.status().message(), "); add it again with a valid URL"));
    }
    const Entry* best = nullptr;
    for (const Entry& entry : entries_) {
      if (entry.org == org.name && url->HasPrefix(entry.prefix) &&
          (best == nullptr || entry.prefix.segments.size() > best->prefix.segments.size())) {
        best = &entry;
      }
    }
    if (best == nullptr) return std::nullopt;
    ovvoc::v1::ForgeToken token;
    token.set_token(best->token);
    token.set_username("x-access-token");
    return token;
  }

 private:
  const std::vector<Entry> entries_;
};

// The org name rule of `org create`: 1-63 of [a-z0-9-_], starting with a letter or digit.
bool IsOrgName(absl::string_view name) {
  bool ok = !name.empty() && name.size() <= 63 && absl::ascii_isalnum(name[0]);
  for (char c : name) {
    ok = ok && (absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' || c == '_');
  }
  return ok;
}

// One non-comment line, fields separated by spaces or tabs. `where` is "PATH:LINE".
absl::StatusOr<Entry> ParseLine(absl::string_view line, const std::string& where) {
  std::vector<absl::string_view> fields =
      absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  // The old form, "URL-PREFIX TOKEN", from before credentials belonged to an org.
  if (fields.size() == 2 && absl::StrContains(fields[0], "://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": ", kLineForm, "; credentials now belong to an org: write the org's name ",
        "before the URL prefix"));
  }
  if (fields.size() != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": ", kLineForm, ", found ", fields.size(), " fields"));
  }
  // Fields in the wrong order would put a token in the message: these two quote nothing.
  if (!IsOrgName(fields[0])) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": ", kLineForm, "; the first field is not an org name (1-63 of a-z 0-9 - _)"));
  }
  if (!absl::StrContains(fields[1], "://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": ", kLineForm, "; the second field is not a URL (https://, http://, file://)"));
  }
  absl::StatusOr<RepoUrl> prefix = ParseRepoUrl(fields[1]);
  if (!prefix.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", prefix.status().message()));
  }
  return Entry{std::string(fields[0]), *std::move(prefix), std::string(fields[2]), 0};
}

}  // namespace

std::unique_ptr<ForgeTokenSource> NoForgeTokens() { return std::make_unique<NoTokens>(); }

absl::StatusOr<std::unique_ptr<ForgeTokenSource>> StaticForgeTokens(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat(path, " holds tokens and must not be readable by others: chmod 600 ", path));
  }
  OVVOC_ASSIGN_OR_RETURN(std::string text, files::ReadFile(path));
  std::vector<Entry> entries;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    const std::string where = absl::StrCat(path, ":", line_number);
    OVVOC_ASSIGN_OR_RETURN(Entry entry, ParseLine(line, where));
    entry.line = line_number;
    for (const Entry& other : entries) {
      if (other.org == entry.org && other.prefix == entry.prefix) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": org ", entry.org, " already has a token for ",
                         entry.prefix.ToString(), " (line ", other.line, ")"));
      }
    }
    entries.push_back(std::move(entry));
  }
  return std::make_unique<StaticTokens>(std::move(entries));
}

}  // namespace ovvoc::cp
