#include "agent/npm/spec.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/npm/semver.h"

namespace ovvoc::agent::npm {
namespace {

constexpr size_t kMaxQuoted = 120;  // how much of a spec a reason repeats

std::string Lower(absl::string_view s) { return absl::AsciiStrToLower(s); }

// The spec as a reason quotes it: bounded, so a 1 MiB spec does not make a 1 MiB plan line.
std::string Quote(absl::string_view raw) {
  if (raw.size() <= kMaxQuoted) return std::string(raw);
  return absl::StrCat(raw.substr(0, kMaxQuoted), "...");
}

// encodeURIComponent(s) === s: only A-Z a-z 0-9 - _ . ! ~ * ' ( ).
bool UriComponentSafe(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isalnum(c) && !absl::StrContains("-_.!~*'()", c)) return false;
  }
  return true;
}

// The length of the JavaScript whitespace code point at s[i], 0 if there is none.
size_t WhitespaceAt(absl::string_view s, size_t i) {
  const unsigned char c = s[i];
  if (c == ' ' || (c >= '\t' && c <= '\r')) return 1;
  auto at = [&](absl::string_view seq) { return s.substr(i, seq.size()) == seq; };
  if (at("\xC2\xA0") || at("\xE1\x9A\x80")) return at("\xC2\xA0") ? 2 : 3;
  for (absl::string_view seq : {"\xE2\x80\xA8", "\xE2\x80\xA9", "\xE2\x80\xAF", "\xE2\x81\x9F",
                                "\xE3\x80\x80", "\xEF\xBB\xBF"}) {
    if (at(seq)) return 3;
  }
  if (at("\xE2\x80") && i + 2 < s.size() && static_cast<unsigned char>(s[i + 2]) >= 0x80 &&
      static_cast<unsigned char>(s[i + 2]) <= 0x8A) {
    return 3;  // U+2000..U+200A
  }
  return 0;
}

// String.prototype.trim().
absl::string_view JsTrim(absl::string_view s) {
  while (!s.empty()) {
    const size_t n = WhitespaceAt(s, 0);
    if (n == 0) break;
    s.remove_prefix(n);
  }
  while (!s.empty()) {
    size_t cut = 0;
    for (size_t back = 1; back <= 3 && back <= s.size(); ++back) {
      if (WhitespaceAt(s, s.size() - back) == back) cut = back;
    }
    if (cut == 0) break;
    s.remove_suffix(cut);
  }
  return s;
}

bool HasWhitespace(absl::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (WhitespaceAt(s, i) != 0) return true;
  }
  return false;
}

// decodeURIComponent; nullopt where it throws a URIError (a malformed %-escape).
std::optional<std::string> DecodeUriComponent(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size() || !absl::ascii_isxdigit(s[i + 1]) || !absl::ascii_isxdigit(s[i + 2])) {
      return std::nullopt;
    }
    out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
    i += 2;
  }
  return out;
}

// /^(?:git[+])?[a-z]+:/i
bool LooksLikeUrl(absl::string_view s) {
  if (absl::StartsWithIgnoreCase(s, "git+")) s.remove_prefix(4);
  size_t letters = 0;
  while (letters < s.size() && absl::ascii_isalpha(s[letters])) ++letters;
  return letters > 0 && letters < s.size() && s[letters] == ':';
}

// /[.](?:tgz|tar\.gz|tar)$/i
bool IsTarballName(absl::string_view s) {
  return absl::EndsWithIgnoreCase(s, ".tgz") || absl::EndsWithIgnoreCase(s, ".tar.gz") ||
         absl::EndsWithIgnoreCase(s, ".tar");
}

// isFileSpec on POSIX: file:, or /^(?:[.]|~[/]|[/]|[a-zA-Z]:)/.
bool IsFileSpec(absl::string_view s) {
  if (s.empty()) return false;
  if (absl::StartsWithIgnoreCase(s, "file:")) return true;
  return s[0] == '.' || s[0] == '/' || absl::StartsWith(s, "~/") ||
         (s.size() >= 2 && absl::ascii_isalpha(s[0]) && s[1] == ':');
}

// The parts of a URL the hosted-git-info and npa checks read.
struct Url {
  std::string protocol;  // lower case, with the ':'
  std::string username;
  std::string password;
  std::string hostname;  // lower case
  std::string pathname;
  std::string hash;  // with the '#', or ""
};

bool SpecialScheme(absl::string_view protocol) {
  for (absl::string_view s : {"http:", "https:", "ftp:", "ws:", "wss:", "file:"}) {
    if (protocol == s) return true;
  }
  return false;
}

// `new URL(text)`, for the shapes specs take; nullopt where it would throw.
std::optional<Url> ParseUrl(absl::string_view text) {
  Url url;
  size_t colon = text.find(':');
  if (colon == absl::string_view::npos || colon == 0 || !absl::ascii_isalpha(text[0])) {
    return std::nullopt;
  }
  for (char c : text.substr(0, colon)) {
    if (!absl::ascii_isalnum(c) && c != '+' && c != '-' && c != '.') return std::nullopt;
  }
  url.protocol = Lower(text.substr(0, colon + 1));
  absl::string_view rest = text.substr(colon + 1);
  if (size_t hash = rest.find('#'); hash != absl::string_view::npos) {
    url.hash = std::string(rest.substr(hash));
    rest = rest.substr(0, hash);
  }
  rest = rest.substr(0, rest.find('?'));
  const bool special = SpecialScheme(url.protocol);
  if (special) {
    while (!rest.empty() && (rest[0] == '/' || rest[0] == '\\')) rest.remove_prefix(1);
  } else if (absl::StartsWith(rest, "//")) {
    rest.remove_prefix(2);
  } else {
    url.pathname = std::string(rest);  // an opaque path: "github:user/repo"
    return url;
  }
  const size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  url.pathname =
      std::string(slash == absl::string_view::npos ? (special ? "/" : "") : rest.substr(slash));
  if (size_t at = authority.rfind('@'); at != absl::string_view::npos) {
    absl::string_view userinfo = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    const size_t sep = userinfo.find(':');
    url.username = std::string(userinfo.substr(0, sep));
    if (sep != absl::string_view::npos) url.password = std::string(userinfo.substr(sep + 1));
  }
  absl::string_view host = authority;
  if (size_t port = authority.rfind(':'); port != absl::string_view::npos) {
    host = authority.substr(0, port);
    absl::string_view digits = authority.substr(port + 1);
    for (char c : digits) {
      if (!absl::ascii_isdigit(c)) return std::nullopt;
    }
    if (digits.size() > 5 || (!digits.empty() && std::stoi(std::string(digits)) > 65535)) {
      return std::nullopt;
    }
  }
  if (special && host.empty()) return std::nullopt;
  for (char c : host) {
    if (static_cast<unsigned char>(c) <= ' ' || absl::StrContains("#/:<>?@[\\]^|", c)) {
      return std::nullopt;
    }
  }
  url.hostname = Lower(host);
  return url;
}

// hosted-git-info's parse-url.js correctProtocol().
std::string CorrectProtocol(absl::string_view arg) {
  static constexpr absl::string_view kProtocols[] = {
      "git+ssh:",  "ssh:",    "git+https:", "git:",    "http:", "https:",
      "git+http:", "github:", "bitbucket:", "gitlab:", "gist:", "sourcehut:"};
  const size_t colon = arg.find(':');
  const absl::string_view proto = colon == absl::string_view::npos ? "" : arg.substr(0, colon + 1);
  for (absl::string_view p : kProtocols) {
    if (proto == p) return std::string(arg);
  }
  if (colon != absl::string_view::npos && arg.substr(colon, 3) == "://") return std::string(arg);
  if (size_t at = arg.find('@'); at != absl::string_view::npos) {
    if (colon == absl::string_view::npos || at > colon) return absl::StrCat("git+ssh://", arg);
    return std::string(arg);
  }
  if (colon == absl::string_view::npos) return absl::StrCat("//", arg);
  return absl::StrCat(arg.substr(0, colon + 1), "//", arg.substr(colon + 1));
}

// str.lastIndexOf(c, str.indexOf(before)), or over the whole string without `before`.
size_t LastBefore(absl::string_view s, char c, char before) {
  const size_t stop = s.find(before);
  return s.rfind(c, stop);
}

// hosted-git-info's parse-url.js correctUrl(): scp-like "user@host:path" into a URL.
std::string CorrectUrl(std::string url) {
  const size_t at = LastBefore(url, '@', '#');
  const size_t colon = LastBefore(url, ':', '#');
  if (colon != std::string::npos && (at == std::string::npos || colon > at)) url[colon] = '/';
  if (LastBefore(url, ':', '#') == std::string::npos && url.find("//") == std::string::npos) {
    url = absl::StrCat("git+ssh://", url);
  }
  return url;
}

// hosted-git-info's from-url.js isGitHubShorthand(): "user/repo", "user/repo#ref".
bool IsGitHubShorthand(absl::string_view arg) {
  const size_t hash = arg.find('#');
  const absl::string_view head = arg.substr(0, hash);
  const size_t slash = arg.find('/');
  const size_t second_slash = slash == absl::string_view::npos ? slash : arg.find('/', slash + 1);
  auto only_after_hash = [&](size_t pos) {
    return pos == absl::string_view::npos || (hash != absl::string_view::npos && pos > hash);
  };
  const bool ends_with_slash = hash != absl::string_view::npos ? (hash > 0 && arg[hash - 1] == '/')
                                                               : absl::EndsWith(arg, "/");
  return !HasWhitespace(head) && slash != absl::string_view::npos && slash > 0 &&
         !ends_with_slash && !absl::StartsWith(arg, ".") && only_after_hash(arg.find('@')) &&
         only_after_hash(arg.find(':')) && only_after_hash(second_slash);
}

struct Hosted {
  std::string committish;
};

std::string StripDotGit(std::string s) {
  if (absl::EndsWith(s, ".git")) s.resize(s.size() - 4);
  return s;
}

// A known host's extract(): whether the URL's path names a repository (not a tarball).
bool ExtractRepository(absl::string_view host, const Url& url, std::string& committish) {
  std::vector<std::string> parts = absl::StrSplit(url.pathname, '/');
  auto part = [&](size_t i) { return i < parts.size() ? parts[i] : std::string(); };
  committish = url.hash.empty() ? "" : url.hash.substr(1);
  if (host == "github") {
    if (!part(3).empty() && part(3) != "tree") return false;
    if (!part(3).empty()) committish = part(4);
    return !part(1).empty() && !StripDotGit(part(2)).empty();
  }
  if (host == "gitlab") {
    if (absl::StrContains(url.pathname, "/-/") ||
        absl::StrContains(url.pathname, "/archive.tar.gz")) {
      return false;
    }
    const size_t last = url.pathname.rfind('/');
    return last != std::string::npos && last > 1 &&
           !StripDotGit(url.pathname.substr(last + 1)).empty();
  }
  if (host == "gist") return part(3) != "raw" && !(part(1).empty() && part(2).empty());
  const absl::string_view tarball = host == "bitbucket" ? "get" : "archive";
  return part(3) != tarball && !part(1).empty() && !StripDotGit(part(2)).empty();
}

// hosted-git-info's fromUrl(): a repository on a host it knows.
std::optional<Hosted> FromHostedUrl(absl::string_view spec) {
  struct Host {
    absl::string_view name, domain;
    std::vector<absl::string_view> protocols;
  };
  static const Host kHosts[] = {
      {"github", "github.com", {"git:", "http:", "git+ssh:", "git+https:", "ssh:", "https:"}},
      {"bitbucket", "bitbucket.org", {"git+ssh:", "git+https:", "ssh:", "https:"}},
      {"gitlab", "gitlab.com", {"git+ssh:", "git+https:", "ssh:", "https:"}},
      {"gist", "gist.github.com", {"git:", "git+ssh:", "git+https:", "ssh:", "https:"}},
      {"sourcehut", "git.sr.ht", {"git+ssh:", "https:"}},
  };
  if (spec.empty()) return std::nullopt;
  const std::string corrected =
      CorrectProtocol(IsGitHubShorthand(spec) ? absl::StrCat("github:", spec) : std::string(spec));
  std::optional<Url> url = ParseUrl(corrected);
  if (!url) url = ParseUrl(CorrectUrl(corrected));
  if (!url) return std::nullopt;
  absl::string_view domain = url->hostname;
  if (absl::StartsWith(domain, "www.")) domain.remove_prefix(4);
  for (const Host& host : kHosts) {
    if (url->protocol == absl::StrCat(host.name, ":")) {
      std::optional<std::string> committish =
          DecodeUriComponent(url->hash.empty() ? "" : url->hash.substr(1));
      if (!committish || !DecodeUriComponent(url->pathname)) return std::nullopt;
      return Hosted{*committish};
    }
  }
  for (const Host& host : kHosts) {
    if (domain != host.domain) continue;
    bool allowed = false;
    for (absl::string_view p : host.protocols) allowed = allowed || url->protocol == p;
    std::string committish;
    if (!allowed || !ExtractRepository(host.name, *url, committish)) return std::nullopt;
    std::optional<std::string> decoded = DecodeUriComponent(committish);
    if (!decoded || !DecodeUriComponent(url->pathname)) return std::nullopt;
    return Hosted{*decoded};
  }
  return std::nullopt;
}

Spec Invalid(absl::string_view raw, absl::string_view why) {
  Spec spec;
  spec.kind = SpecKind::kInvalid;
  spec.reason = absl::StrCat("an invalid spec (", Quote(raw), "): ", why);
  return spec;
}

Spec NotRegistry(SpecKind kind, absl::string_view raw) {
  Spec spec;
  spec.kind = kind;
  absl::string_view what = kind == SpecKind::kGit         ? "a git dependency"
                           : kind == SpecKind::kDirectory ? "a local directory"
                           : kind == SpecKind::kFile      ? "a local tarball"
                                                          : "a remote tarball";
  spec.reason = absl::StrCat(what, " (", Quote(raw), "): not from a registry");
  return spec;
}

// npa's setGitAttrs(): "ref", "semver:^1", "path:sub", joined by "::".
Spec GitSpec(absl::string_view raw, absl::string_view committish) {
  Spec spec = NotRegistry(SpecKind::kGit, raw);
  if (committish.empty()) return spec;
  for (absl::string_view part : absl::StrSplit(committish, "::")) {
    if (!absl::StrContains(part, ':')) {
      if (!spec.git_range.empty() || !spec.git_committish.empty()) {
        return Invalid(raw, "more than one committish or semver range");
      }
      spec.git_committish = std::string(part);
      continue;
    }
    std::vector<absl::string_view> fields = absl::StrSplit(part, ':');
    if (fields[0] != "semver") continue;  // "path:" and unknown keys change no version
    if (!spec.git_range.empty() || !spec.git_committish.empty()) {
      return Invalid(raw, "more than one committish or semver range");
    }
    std::optional<std::string> range = DecodeUriComponent(fields[1]);
    if (!range) return Invalid(raw, "a malformed %-escape in its semver range");
    spec.git_range = *range;
  }
  return spec;
}

// npa's fromURL() for URLs hosted-git-info does not know.
Spec FromUrl(absl::string_view raw) {
  if (absl::StartsWith(raw, "git+ssh:") && absl::StartsWithIgnoreCase(raw, "git+ssh://")) {
    // scp-like "git+ssh://git@host:path#ref"; a ":1234/" there is a port, not a path.
    absl::string_view rest = raw.substr(10);
    const size_t hash = rest.find('#');
    absl::string_view target = rest.substr(0, hash);
    const size_t colon = target.find(':');
    if (colon != absl::string_view::npos && colon > 0 && colon + 1 < target.size()) {
      bool port = false;
      for (size_t c = target.find(':'); c != absl::string_view::npos; c = target.find(':', c + 1)) {
        size_t d = c + 1;
        while (d < target.size() && absl::ascii_isdigit(target[d])) ++d;
        port = port || (d > c + 1 && (d == target.size() || target[d] == '/'));
      }
      if (!port) {
        return GitSpec(raw, hash == absl::string_view::npos ? "" : rest.substr(hash + 1));
      }
    }
  }
  std::optional<Url> url = ParseUrl(raw);
  if (!url) return Invalid(raw, "not a valid URL");
  for (absl::string_view git :
       {"git:", "git+http:", "git+https:", "git+rsync:", "git+ftp:", "git+file:", "git+ssh:"}) {
    if (url->protocol == git) return GitSpec(raw, url->hash.empty() ? "" : url->hash.substr(1));
  }
  if (url->protocol == "http:" || url->protocol == "https:") {
    return NotRegistry(SpecKind::kRemote, raw);
  }
  Spec spec;
  spec.kind = SpecKind::kUnsupported;
  if (url->protocol == "workspace:") {
    spec.reason = absl::StrCat("a workspace: spec (", Quote(raw),
                               "): a yarn/pnpm protocol npm rejects (EUNSUPPORTEDPROTOCOL)");
  } else {
    spec.reason = absl::StrCat("an unsupported URL type \"", Quote(url->protocol), "\" (",
                               Quote(raw), "): npm rejects it (EUNSUPPORTEDPROTOCOL)");
  }
  return spec;
}

Spec FromRegistry(absl::string_view name, absl::string_view raw) {
  Spec spec;
  spec.name = std::string(name);
  const absl::string_view trimmed = JsTrim(raw);
  spec.fetch_spec = std::string(trimmed);
  if (Valid(trimmed, Options{.loose = true})) {
    spec.kind = SpecKind::kVersion;
  } else if (ValidRange(trimmed, Options{.loose = true})) {
    spec.kind = SpecKind::kRange;
  } else if (UriComponentSafe(trimmed)) {
    spec.kind = SpecKind::kTag;
    spec.reason = absl::StrCat("a dist-tag (", Quote(trimmed), "): not a version range");
  } else {
    return Invalid(raw, "not a version, a range or a valid dist-tag (EINVALIDTAGNAME)");
  }
  return spec;
}

Spec Resolve(absl::string_view name, absl::string_view raw);

// npa(arg)'s split of a command-line argument: "name@spec", "name", or a spec without a name.
struct Arg {
  std::string name;
  std::string spec;
};

// /^[^@]+@[^:.]+\.[^:]+:.+$/: scp-like "user@host.tld:path".
bool ScpLike(absl::string_view s) {
  const size_t a = s.find('@');
  if (a == absl::string_view::npos || a == 0) return false;
  const absl::string_view host = s.substr(a + 1);
  const size_t dot = host.find_first_of(":.");
  if (dot == absl::string_view::npos || host[dot] != '.' || dot == 0) return false;
  const size_t colon = host.find(':', dot + 1);
  return colon != absl::string_view::npos && colon > dot + 1 && colon + 1 < host.size();
}

Arg SplitArg(absl::string_view arg) {
  const size_t at = arg.size() > 1 ? arg.find('@', 1) : absl::string_view::npos;
  const absl::string_view name_part = at == absl::string_view::npos ? arg : arg.substr(0, at);
  if (LooksLikeUrl(arg)) return Arg{"", std::string(arg)};
  if (ScpLike(arg)) return Arg{"", absl::StrCat("git+ssh://", arg)};
  if (!absl::StartsWith(name_part, "@") &&
      (absl::StrContains(name_part, '/') || IsTarballName(name_part))) {
    return Arg{"", std::string(arg)};
  }
  if (at != absl::string_view::npos) {
    const absl::string_view spec = arg.substr(at + 1);
    return Arg{std::string(name_part), spec.empty() ? "*" : std::string(spec)};
  }
  if (ValidPackageName(arg)) return Arg{std::string(arg), "*"};
  return Arg{"", std::string(arg)};
}

// npm:<arg>: npa(<arg>) must name a registry package.
Spec FromAlias(absl::string_view raw) {
  const Arg arg = SplitArg(raw.substr(4));
  const std::string& name = arg.name;
  const std::string& sub = arg.spec;
  // Decided before resolving the target, which would be one more level of recursion per
  // `npm:` (npm resolves it, then refuses it the same way).
  if (absl::StartsWithIgnoreCase(sub, "npm:")) {
    return Invalid(raw, "an alias of an alias (npm: nested aliases not supported)");
  }
  Spec target = Resolve(name, sub);
  if (target.kind == SpecKind::kInvalid) return Invalid(raw, target.reason);
  if (target.alias) return Invalid(raw, "an alias of an alias (npm: nested aliases not supported)");
  if (!target.registry()) return Invalid(raw, "aliases only work for registry deps");
  if (name.empty()) return Invalid(raw, "aliases must have a name");
  target.alias = true;
  if (target.kind == SpecKind::kTag) {
    target.reason = absl::StrCat("an alias of a dist-tag (", Quote(raw), "): not a version range");
  }
  return target;
}

// npa.resolve(name, spec).
Spec Resolve(absl::string_view name, absl::string_view raw) {
  if (!name.empty() && !ValidPackageName(name)) {
    return Invalid(raw, absl::StrCat("\"", Quote(name), "\" is not a valid package name"));
  }
  if (IsFileSpec(raw))
    return NotRegistry(IsTarballName(raw) ? SpecKind::kFile : SpecKind::kDirectory, raw);
  if (absl::StartsWithIgnoreCase(raw, "npm:")) return FromAlias(raw);
  if (std::optional<Hosted> hosted = FromHostedUrl(raw)) return GitSpec(raw, hosted->committish);
  if (LooksLikeUrl(raw)) return FromUrl(raw);
  if (absl::StrContains(raw, '/') || IsTarballName(raw)) {
    return NotRegistry(IsTarballName(raw) ? SpecKind::kFile : SpecKind::kDirectory, raw);
  }
  return FromRegistry(name, raw);
}

}  // namespace

absl::string_view SpecKindName(SpecKind kind) {
  switch (kind) {
    case SpecKind::kVersion:
      return "version";
    case SpecKind::kRange:
      return "range";
    case SpecKind::kTag:
      return "tag";
    case SpecKind::kGit:
      return "git";
    case SpecKind::kDirectory:
      return "directory";
    case SpecKind::kFile:
      return "file";
    case SpecKind::kRemote:
      return "remote";
    case SpecKind::kUnsupported:
      return "unsupported";
    case SpecKind::kInvalid:
      return "invalid";
  }
  return "invalid";
}

bool ValidPackageName(absl::string_view name) {
  if (name.empty() || name[0] == '.' || name[0] == '-' || name[0] == '_') return false;
  if (JsTrim(name) != name) return false;
  const std::string lower = Lower(name);
  if (lower == "node_modules" || lower == "favicon.ico") return false;
  if (UriComponentSafe(name)) return true;
  // "@scope/name": /^(?:@([^/]+?)[/])?([^/]+?)$/ with both parts URI-safe.
  if (name[0] != '@') return false;
  const size_t slash = name.find('/');
  if (slash == absl::string_view::npos || slash == 1) return false;
  const absl::string_view scope = name.substr(1, slash - 1);
  const absl::string_view package = name.substr(slash + 1);
  return !package.empty() && package[0] != '.' && UriComponentSafe(scope) &&
         UriComponentSafe(package);
}

Spec ClassifySpec(absl::string_view name, absl::string_view spec) {
  Spec out = Resolve(name, spec);
  if (out.name.empty() && out.registry()) out.name = std::string(name);
  return out;
}

}  // namespace ovvoc::agent::npm
