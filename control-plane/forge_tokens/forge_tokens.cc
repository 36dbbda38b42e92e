#include "control-plane/forge_tokens/forge_tokens.h"

#include <sys/stat.h>

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace ovvoc::cp {
namespace {

class NoTokens final : public ForgeTokenSource {
 public:
  absl::StatusOr<std::optional<ovvoc::v1::ForgeToken>> TokenFor(const RepoRecord&) override {
    return std::nullopt;
  }
};

class StaticTokens final : public ForgeTokenSource {
 public:
  explicit StaticTokens(std::vector<std::pair<std::string, std::string>> entries)
      : entries_(std::move(entries)) {}

  absl::StatusOr<std::optional<ovvoc::v1::ForgeToken>> TokenFor(const RepoRecord& repo) override {
    const std::pair<std::string, std::string>* best = nullptr;
    for (const auto& entry : entries_) {
      if (absl::StartsWith(repo.url, entry.first) &&
          (best == nullptr || entry.first.size() > best->first.size())) {
        best = &entry;
      }
    }
    if (best == nullptr) return std::nullopt;
    ovvoc::v1::ForgeToken token;
    token.set_token(best->second);
    token.set_username("x-access-token");
    return token;
  }

 private:
  const std::vector<std::pair<std::string, std::string>> entries_;
};

}  // namespace

std::unique_ptr<ForgeTokenSource> NoForgeTokens() { return std::make_unique<NoTokens>(); }

absl::StatusOr<std::unique_ptr<ForgeTokenSource>> StaticForgeTokens(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat(path, " holds tokens and must not be readable by others: chmod 600 ", path));
  }
  OVVOC_ASSIGN_OR_RETURN(std::string text, files::ReadFile(path));
  std::vector<std::pair<std::string, std::string>> entries;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_number, ": expected \"URL-PREFIX TOKEN\""));
    }
    entries.emplace_back(std::string(fields[0]), std::string(fields[1]));
  }
  return std::make_unique<StaticTokens>(std::move(entries));
}

}  // namespace ovvoc::cp
