// Repository URLs: one strict parser and one normal form, so that "is this repository under that
// prefix?" is decided on whole path segments, never on the bytes of two strings.
//
// Matching strings let `https://git.example.com/acme/../evil/x.git` and
// `https://git.example.com/acmecorp-evil/x.git` pass for repositories under
// `https://git.example.com/acme` and receive acme's credentials. ParseRepoUrl refuses everything
// that could make two spellings name one resource, or one spelling name two:
//
//   - schemes other than https, http and file (the scheme is case-insensitive);
//   - credentials in the URL (`user:pass@host`): the control plane supplies tokens;
//   - percent-encoding of anything (`%2e`, `%2f`, `%00`, ...): write the path literally;
//   - `.` and `..` segments, empty segments (`a//b`), backslashes;
//   - control characters, whitespace and non-ASCII bytes; query strings and fragments;
//   - in a path segment, anything outside A-Z a-z 0-9 and "-._~+@=,:" (so no `;`: some servers
//     read `..;` as `..`);
//   - URLs longer than kMaxRepoUrlBytes.
//
// and normalises what it accepts: the scheme and host are lowercased, an IPv6 literal is
// written in its canonical form, a port equal to the scheme's default is dropped, `file://` may
// name `localhost` (dropped), and one trailing slash is dropped. Path segments keep their case:
// a case-insensitive forge then matches less, never more.
//
// Every error is InvalidArgument and says what is wrong, quoting the URL made inert. Pure
// functions; thread-safe.
#ifndef OVVOC_COMMON_REPO_URL_H_
#define OVVOC_COMMON_REPO_URL_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ovvoc {

inline constexpr size_t kMaxRepoUrlBytes = 2048;

struct RepoUrl {
  std::string scheme;  // "https", "http" or "file"
  std::string host;    // lowercase; "[v6]" for IPv6; empty for file://
  uint16_t port = 0;   // 0: the scheme's default
  std::vector<std::string> segments;

  // The normal form: "https://host[:port]/seg/seg", "file:///seg/seg". Parses back to itself.
  std::string ToString() const;

  // True when `prefix` has the same scheme, host and port and its segments are the first
  // segments of this URL, each equal as a whole: `.../acme` is a prefix of `.../acme/x.git` and
  // of `.../acme`, but not of `.../acmecorp-evil/x.git`. A trailing `.git` is part of the
  // segment: `.../acme/x` is not a prefix of `.../acme/x.git` (a plain git server serves both as
  // two repositories).
  bool HasPrefix(const RepoUrl& prefix) const;

  friend bool operator==(const RepoUrl&, const RepoUrl&) = default;
};

// InvalidArgument for anything the banner refuses. A URL with no path ("https://host") parses,
// with no segments (a prefix may name a whole host); file:// URLs need a path.
absl::StatusOr<RepoUrl> ParseRepoUrl(absl::string_view text);

}  // namespace ovvoc

#endif  // OVVOC_COMMON_REPO_URL_H_
