#include "agent/git/internal/libgit2_util.h"

#include <filesystem>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace ovvoc::agent::git::internal {

// Shutting down while another thread still clones would free its global state under it, so
// libgit2 is never shut down.
void InitLibgit2() {
  static std::once_flag once;
  std::call_once(once, [] {
    git_libgit2_init();
    // Clones and pushes must not depend on the host's git configuration: a user's
    // url.*.insteadOf or credential settings would otherwise redirect the agent's transfers or
    // leak its tokens.
    for (int level : {GIT_CONFIG_LEVEL_PROGRAMDATA, GIT_CONFIG_LEVEL_SYSTEM, GIT_CONFIG_LEVEL_XDG,
                      GIT_CONFIG_LEVEL_GLOBAL}) {
      git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, level, "");
    }
  });
}

std::string LastGitError() {
  const git_error* error = git_error_last();
  if (error == nullptr || error->message == nullptr) return "unknown libgit2 error";
  return error->message;
}

std::string OidHex(const git_oid& id) {
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof hex, &id);
  return std::string(hex);
}

// ---- URLs ----------------------------------------------------------------------------------

std::string SchemeOf(absl::string_view url) {
  size_t separator = url.find("://");
  if (separator == absl::string_view::npos || separator == 0) return "";
  absl::string_view scheme = url.substr(0, separator);
  for (char c : scheme) {
    if (!absl::ascii_isalnum(c) && c != '+' && c != '-' && c != '.') return "";
  }
  return absl::AsciiStrToLower(scheme);
}

absl::string_view AuthorityOf(absl::string_view url) {
  size_t start = url.find("://");
  if (start == absl::string_view::npos) return "";
  absl::string_view rest = url.substr(start + 3);
  return rest.substr(0, rest.find_first_of("/?#"));
}

std::string WithoutUserinfo(absl::string_view url) {
  absl::string_view authority = AuthorityOf(url);
  size_t at = authority.rfind('@');
  if (at == absl::string_view::npos) return std::string(url);
  size_t authority_start = url.find("://") + 3;
  return absl::StrCat(url.substr(0, authority_start), authority.substr(at + 1),
                      url.substr(authority_start + authority.size()));
}

std::string LocalPathOf(absl::string_view url, absl::string_view scheme) {
  if (scheme.empty()) return std::string(url);
  absl::string_view path = url.substr(absl::string_view("file://").size());
  if (absl::StartsWithIgnoreCase(path, "localhost/")) path.remove_prefix(9);
  return std::string(path);
}

namespace {

absl::Status ValidateLocalUrl(absl::string_view url, absl::string_view scheme) {
  if (scheme.empty()) {
    size_t colon = url.find(':');
    if (colon != absl::string_view::npos &&
        url.substr(0, colon).find('/') == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("unsupported git URL ", WithoutUserinfo(url),
                       ": use file://, http://, https:// or a local path"));
    }
  }
  std::string path = LocalPathOf(url, scheme);
  if (!scheme.empty() && absl::StrContains(path, '%')) return absl::OkStatus();  // libgit2 decodes
  std::error_code error;
  if (!std::filesystem::is_directory(path, error)) {
    return absl::NotFoundError(absl::StrCat("no repository at ", url));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateRemoteUrl(absl::string_view url, absl::string_view credentials_field) {
  std::string scheme = SchemeOf(url);
  if (!scheme.empty() && scheme != "file" && scheme != "http" && scheme != "https") {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported URL scheme \"", scheme, "\" in ", WithoutUserinfo(url),
                     ": use file://, http://, https:// or a local path"));
  }
  if (AuthorityOf(url).find('@') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("the URL ", WithoutUserinfo(url),
                                                   " carries credentials: pass them separately in ",
                                                   credentials_field));
  }
  if (scheme == "http" || scheme == "https") return absl::OkStatus();
  return ValidateLocalUrl(url, scheme);
}

// ---- Callbacks -----------------------------------------------------------------------------

int CredentialGate::Acquire(git_credential** out, unsigned int allowed_types) {
  if (!credentials_.has_value()) {
    missing_ = true;
    return GIT_PASSTHROUGH;
  }
  if (++requests_ > 1) {
    rejected_ = true;
    git_error_set_str(GIT_ERROR_CALLBACK, "the server rejected the credentials");
    return GIT_EUSER;
  }
  if ((allowed_types & GIT_CREDENTIAL_USERPASS_PLAINTEXT) == 0) {
    type_unsupported_ = true;
    git_error_set_str(GIT_ERROR_CALLBACK, "the server wants credentials other than basic auth");
    return GIT_EUSER;
  }
  // libgit2 takes ownership of *out.
  return git_credential_userpass_plaintext_new(out, credentials_->username.c_str(),
                                               credentials_->password.c_str());
}

int Interrupter::Poll() {
  if (cancelled_fn_ && cancelled_fn_()) {
    cancelled_ = true;
    git_error_set_str(GIT_ERROR_CALLBACK, (operation_ + " cancelled").c_str());
    return GIT_EUSER;
  }
  if (absl::Now() >= deadline_) {
    timed_out_ = true;
    git_error_set_str(GIT_ERROR_CALLBACK, (operation_ + " timed out").c_str());
    return GIT_EUSER;
  }
  return 0;
}

// ---- Errors --------------------------------------------------------------------------------

namespace {

// libgit2 reports HTTP failures as text: "unexpected http status code: 404".
absl::Status HttpError(absl::string_view detail, const std::string& message) {
  constexpr absl::string_view kStatusPrefix = "unexpected http status code: ";
  int code = 0;
  size_t at = detail.find(kStatusPrefix);
  if (at != absl::string_view::npos &&
      absl::SimpleAtoi(detail.substr(at + kStatusPrefix.size()), &code)) {
    if (code == 404) return absl::NotFoundError(message);
    if (code == 401 || code == 403) return absl::PermissionDeniedError(message);
  }
  return absl::UnavailableError(message);
}

// libgit2 files socket failures ("failed to connect to HOST: Connection refused") under
// GIT_ERROR_OS, next to disk errors; only the text tells them apart.
bool IsSocketError(absl::string_view detail) {
  return absl::StrContains(detail, "connect") || absl::StrContains(detail, "socket") ||
         absl::StrContains(detail, "timed out");
}

}  // namespace

absl::Status StatusFromGitError(int code, const std::string& message) {
  if (code == GIT_EAUTH) return absl::PermissionDeniedError(message);
  if (code == GIT_ENOTFOUND) return absl::NotFoundError(message);
  if (code == GIT_EEXISTS) return absl::AlreadyExistsError(message);
  const git_error* error = git_error_last();
  const std::string detail = LastGitError();
  switch (error == nullptr ? GIT_ERROR_NONE : error->klass) {
    case GIT_ERROR_HTTP:
      return HttpError(detail, message);
    case GIT_ERROR_NET:
    case GIT_ERROR_SSL:
    case GIT_ERROR_SSH:
      return absl::UnavailableError(message);
    case GIT_ERROR_OS:
      return IsSocketError(detail) ? absl::UnavailableError(message) : absl::UnknownError(message);
    default:
      return absl::UnknownError(message);
  }
}

}  // namespace ovvoc::agent::git::internal
