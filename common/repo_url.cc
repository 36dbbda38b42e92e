#include "common/repo_url.h"

#include <arpa/inet.h>

#include <algorithm>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/inert.h"

namespace ovvoc {
namespace {

constexpr absl::string_view kSchemeEnd = "://";

absl::Status Refuse(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid repository URL \"", InertLine(text, 200), "\": ", why));
}

// What is wrong with a byte anywhere in the URL, or nullptr.
const char* ByteProblem(absl::string_view text) {
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '%') return "percent-encoded characters are not accepted; write the path literally";
    if (c == '\\') return "backslashes are not accepted";
    if (u <= 0x20 || u >= 0x7f) {
      return "control characters, whitespace and non-ASCII characters are not accepted";
    }
    if (c == '?') return "query strings are not accepted";
    if (c == '#') return "fragments are not accepted";
  }
  return nullptr;
}

bool IsSegmentChar(char c) {
  return absl::ascii_isalnum(c) ||
         absl::string_view("-._~+@=,:").find(c) != absl::string_view::npos;
}

uint16_t DefaultPort(absl::string_view scheme) {
  if (scheme == "https") return 443;
  if (scheme == "http") return 80;
  return 0;
}

// A DNS name or IPv4 address: dot-separated, non-empty labels of [a-z0-9-]. Lowercases `host`.
bool NormaliseName(std::string& host) {
  absl::AsciiStrToLower(&host);
  if (host.empty() || host.size() > 253) return false;
  for (absl::string_view label : absl::StrSplit(host, '.')) {
    if (label.empty() || label.size() > 63) return false;
    for (char c : label) {
      if (!absl::ascii_isalnum(c) && c != '-') return false;
    }
  }
  return true;
}

// "[v6]" in its canonical text form (inet_ntop), or nullopt.
std::optional<std::string> NormaliseIpv6(absl::string_view inside) {
  in6_addr addr;
  char text[INET6_ADDRSTRLEN];
  if (::inet_pton(AF_INET6, std::string(inside).c_str(), &addr) != 1 ||
      ::inet_ntop(AF_INET6, &addr, text, sizeof text) == nullptr) {
    return std::nullopt;
  }
  return absl::StrCat("[", text, "]");
}

// Fills url.host and url.port from "host[:port]" (http and https).
absl::Status ParseAuthority(absl::string_view text, absl::string_view authority, RepoUrl& url) {
  if (authority.empty()) return Refuse(text, "no host");
  absl::string_view host = authority;
  absl::string_view port;  // empty: the default ("host:" too)
  if (absl::ConsumePrefix(&host, "[")) {
    const size_t close = host.find(']');
    if (close == absl::string_view::npos) return Refuse(text, "unterminated IPv6 address");
    absl::string_view rest = host.substr(close + 1);
    host = host.substr(0, close);
    std::optional<std::string> v6 = NormaliseIpv6(host);
    if (!v6) return Refuse(text, "invalid IPv6 address");
    url.host = *std::move(v6);
    if (!rest.empty() && !absl::ConsumePrefix(&rest, ":")) {
      return Refuse(text, "unexpected text after the IPv6 address");
    }
    port = rest;
  } else {
    const size_t colon = host.find(':');
    if (colon != absl::string_view::npos) {
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
    }
    url.host = std::string(host);
    if (!NormaliseName(url.host)) {
      return Refuse(text, "invalid host: use a DNS name, an IPv4 address or [IPv6]");
    }
  }
  if (port.empty()) return absl::OkStatus();
  uint32_t number = 0;
  if (port.size() > 5 || !std::all_of(port.begin(), port.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(port, &number) || number == 0 || number > 65535) {
    return Refuse(text, "invalid port: use 1-65535");
  }
  url.port = number == DefaultPort(url.scheme) ? 0 : static_cast<uint16_t>(number);
  return absl::OkStatus();
}

// Fills url.segments from "" or "/seg/seg[/]".
absl::Status ParsePath(absl::string_view text, absl::string_view path, RepoUrl& url) {
  if (path.empty() || path == "/") return absl::OkStatus();
  absl::ConsumeSuffix(&path, "/");
  path.remove_prefix(1);  // the leading '/'
  for (absl::string_view segment : absl::StrSplit(path, '/')) {
    if (segment.empty()) return Refuse(text, "empty path segments (\"//\") are not accepted");
    if (segment == "." || segment == "..") {
      return Refuse(text, "\".\" and \"..\" path segments are not accepted");
    }
    for (char c : segment) {
      if (!IsSegmentChar(c)) {
        return Refuse(text, absl::StrCat("'", absl::string_view(&c, 1),
                                         "' is not accepted in a path: use A-Z a-z 0-9 -._~+@=,:"));
      }
    }
    url.segments.emplace_back(segment);
  }
  return absl::OkStatus();
}

}  // namespace

std::string RepoUrl::ToString() const {
  std::string out = absl::StrCat(scheme, kSchemeEnd, host);
  if (port != 0) absl::StrAppend(&out, ":", port);
  for (const std::string& segment : segments) absl::StrAppend(&out, "/", segment);
  return out;
}

bool RepoUrl::HasPrefix(const RepoUrl& prefix) const {
  return scheme == prefix.scheme && host == prefix.host && port == prefix.port &&
         prefix.segments.size() <= segments.size() &&
         std::equal(prefix.segments.begin(), prefix.segments.end(), segments.begin());
}

absl::StatusOr<RepoUrl> ParseRepoUrl(absl::string_view text) {
  if (text.size() > kMaxRepoUrlBytes) {
    return Refuse(text, absl::StrCat("longer than ", kMaxRepoUrlBytes, " bytes"));
  }
  const size_t scheme_end = text.find(kSchemeEnd);
  if (scheme_end == absl::string_view::npos) {
    return Refuse(text, "expected https://, http:// or file://");
  }
  const absl::string_view after = text.substr(scheme_end + kSchemeEnd.size());
  const absl::string_view authority = after.substr(0, after.find('/'));
  if (authority.find('@') != absl::string_view::npos) {
    // Not quoted: what precedes the '@' is likely a password.
    return absl::InvalidArgumentError(
        "invalid repository URL: credentials in the URL (user@host) are not accepted; the "
        "control plane supplies tokens");
  }
  if (const char* problem = ByteProblem(text)) return Refuse(text, problem);

  RepoUrl url;
  url.scheme = absl::AsciiStrToLower(text.substr(0, scheme_end));
  if (url.scheme == "file") {
    if (!authority.empty() && absl::AsciiStrToLower(authority) != "localhost") {
      return Refuse(text, "a file URL names no host: file:///path");
    }
  } else if (url.scheme == "https" || url.scheme == "http") {
    if (absl::Status s = ParseAuthority(text, authority, url); !s.ok()) return s;
  } else {
    return Refuse(text, "unsupported scheme: use https://, http:// or file://");
  }
  if (absl::Status s = ParsePath(text, after.substr(authority.size()), url); !s.ok()) return s;
  if (url.scheme == "file" && url.segments.empty()) return Refuse(text, "a file URL needs a path");
  return url;
}

}  // namespace ovvoc
