// The project's .npmrc for the project model (agent/npm/project.h): the `ini` module's decode
// (npm 11), then the keys the plan needs. Credentials are recognised by name and dropped.
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/npm/project.h"

namespace ovvoc::agent::npm {
namespace {

constexpr absl::string_view kFile = ".npmrc";

// An ini value: text, or what "true", "false", "null" and a bare key decode to.
struct IniValue {
  enum class Type { kString, kTrue, kFalse, kNull } type = Type::kString;
  std::string text;
};

// ini's unsafe(): trims; a quoted value is JSON-decoded (single quotes dropped first), an
// unquoted one ends at the first unescaped ';' or '#'.
std::string Unsafe(absl::string_view raw) {
  absl::string_view val = absl::StripAsciiWhitespace(raw);
  const bool quoted = !val.empty() && ((val.front() == '"' && val.back() == '"') ||
                                       (val.front() == '\'' && val.back() == '\''));
  if (quoted) {
    if (val.front() == '\'') val = val.size() >= 2 ? val.substr(1, val.size() - 2) : "";
    // JSON.parse of a JSON string: the common escapes; anything else stays as written.
    if (val.size() >= 2 && val.front() == '"' && val.back() == '"' &&
        !absl::StrContains(val.substr(1, val.size() - 2), '"')) {
      std::string out;
      absl::string_view inner = val.substr(1, val.size() - 2);
      for (size_t i = 0; i < inner.size(); ++i) {
        if (inner[i] == '\\' && i + 1 < inner.size() && absl::StrContains("\"\\/", inner[i + 1])) {
          ++i;
        }
        out += inner[i];
      }
      return out;
    }
    return std::string(val);
  }
  std::string out;
  bool escaped = false;
  for (char c : val) {
    if (escaped) {
      if (c != '\\' && c != ';' && c != '#') out += '\\';
      out += c;
      escaped = false;
    } else if (c == ';' || c == '#') {
      break;
    } else if (c == '\\') {
      escaped = true;
    } else {
      out += c;
    }
  }
  if (escaped) out += '\\';
  return std::string(absl::StripAsciiWhitespace(out));
}

IniValue Decode(std::optional<absl::string_view> raw) {
  if (!raw) return IniValue{IniValue::Type::kTrue, "true"};
  std::string text = Unsafe(*raw);
  if (text == "true") return IniValue{IniValue::Type::kTrue, text};
  if (text == "false") return IniValue{IniValue::Type::kFalse, text};
  if (text == "null") return IniValue{IniValue::Type::kNull, text};
  return IniValue{IniValue::Type::kString, std::move(text)};
}

// A key whose value is a credential or a client key: kept by name only. The name is the part
// after the last ':' (a registry's `//host/:_authToken`) or '.' (a key inside an [ini section]).
bool IsCredentialKey(absl::string_view key) {
  if (absl::StartsWith(key, "//")) return true;
  const size_t cut = key.find_last_of(":.");
  absl::string_view last = key.substr(cut == absl::string_view::npos ? 0 : cut + 1);
  for (absl::string_view secret : {"_authToken", "_auth", "_password", "username", "password",
                                   "email", "cert", "key", "certfile", "keyfile", "otp"}) {
    if (absl::EqualsIgnoreCase(last, secret)) return true;
  }
  return false;
}

// A line without '=' is a key set to true; one that names a credential is most likely a
// credential written wrongly ("_authToken: SECRET"), and its text is the secret.
bool LooksLikeCredential(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  for (absl::string_view word : {"_auth", "token", "password", "//"}) {
    if (absl::StrContains(lower, word)) return true;
  }
  return false;
}

// What a credential key is kept as: up to its first whitespace, bounded.
std::string CredentialName(absl::string_view key) {
  const size_t space = key.find_first_of(" \t");
  return std::string(key.substr(0, std::min<size_t>(space, 200)));
}

// A URL's user and password (https://user:pw@host/) are a credential too.
std::string WithoutUserinfo(const std::string& value) {
  const size_t scheme = value.find("://");
  if (scheme == std::string::npos) return value;
  const size_t authority_end = value.find_first_of("/?#", scheme + 3);
  const size_t at = value.rfind('@', authority_end == std::string::npos ? std::string::npos
                                                                         : authority_end);
  if (at == std::string::npos || at < scheme + 3) return value;
  return absl::StrCat(value.substr(0, scheme + 3), "***@", value.substr(at + 1));
}

class NpmrcReader {
 public:
  NpmrcReader(Npmrc& out, std::vector<ProjectDiagnostic>& diagnostics)
      : out_(out), diagnostics_(diagnostics) {}

  void Line(absl::string_view line) {
    absl::string_view trimmed = absl::StripLeadingAsciiWhitespace(line);
    if (trimmed.empty() || trimmed[0] == ';' || trimmed[0] == '#') return;
    if (line[0] == '[') {
      const size_t close = line.find(']');
      if (close != absl::string_view::npos &&
          absl::StripTrailingAsciiWhitespace(line.substr(close + 1)).empty()) {
        section_ = Unsafe(line.substr(1, close - 1));
        return;
      }
    }
    const size_t eq = line.find('=');
    if (eq == 0) return;  // ini's /^([^=]+).../ needs a key
    std::string key = Unsafe(line.substr(0, eq));
    const std::optional<absl::string_view> raw =
        eq == absl::string_view::npos ? std::nullopt : std::optional(line.substr(eq + 1));
    bool list = key.size() > 2 && absl::EndsWith(key, "[]");
    if (list) key.resize(key.size() - 2);
    if (key == "__proto__") return;
    if (!section_.empty()) key = absl::StrCat(section_, ".", key);
    if (!raw && LooksLikeCredential(key)) {
      out_.credential_keys.push_back("(a credential-like line without '=')");
      return;
    }
    if (IsCredentialKey(key)) {  // the value is never decoded into anything we keep
      out_.credential_keys.push_back(CredentialName(key));
      return;
    }
    IniValue value = Decode(raw);
    value.text = WithoutUserinfo(value.text);
    if (list || out_.lists.count(key) > 0) {
      out_.lists[key].push_back(value.text);
      return;
    }
    if (section_.empty()) {
      Known(key, value);
    } else {
      out_.other[key] = value.text;  // npm reads no setting from a section
    }
  }

 private:
  void Problem(absl::string_view key, absl::string_view what) {
    diagnostics_.push_back(ProjectDiagnostic{std::string(kFile), absl::StrCat(key, ": ", what)});
  }

  std::optional<bool> Bool(absl::string_view key, const IniValue& value) {
    if (value.type == IniValue::Type::kTrue) return true;
    if (value.type == IniValue::Type::kFalse) return false;
    if (value.type != IniValue::Type::kNull) Problem(key, "not true or false: ignored");
    return std::nullopt;
  }

  void Known(const std::string& key, const IniValue& value) {
    if (key == "registry") {
      out_.registry = value.text;
    } else if (absl::StartsWith(key, "@") && absl::EndsWith(key, ":registry")) {
      out_.scoped_registries[key.substr(0, key.size() - 9)] = value.text;
    } else if (key == "package-lock") {
      out_.package_lock = Bool(key, value);
    } else if (key == "ignore-scripts") {
      out_.ignore_scripts = Bool(key, value);
    } else if (key == "save-exact") {
      out_.save_exact = Bool(key, value);
    } else if (key == "engine-strict") {
      out_.engine_strict = Bool(key, value);
    } else if (key == "legacy-peer-deps") {
      out_.legacy_peer_deps = Bool(key, value);
    } else if (key == "save-prefix") {
      out_.save_prefix = value.text;
    } else if (key == "min-release-age") {
      double days = 0;
      if (value.type == IniValue::Type::kNull) {
        out_.min_release_age_days.reset();
      } else if (absl::SimpleAtod(value.text, &days) && std::isfinite(days) && days >= 0) {
        out_.min_release_age_days = days;
      } else {
        Problem(key, "not a number of days: ignored");
      }
    } else {
      out_.other[key] = value.text;
    }
  }

  Npmrc& out_;
  std::vector<ProjectDiagnostic>& diagnostics_;
  std::string section_;
};

}  // namespace

Npmrc ParseNpmrc(absl::string_view text, std::vector<ProjectDiagnostic>& diagnostics) {
  Npmrc out;
  NpmrcReader reader(out, diagnostics);
  for (absl::string_view line : absl::StrSplit(text, absl::ByAnyChar("\r\n"), absl::SkipEmpty())) {
    reader.Line(line);
  }
  return out;
}

}  // namespace ovvoc::agent::npm
