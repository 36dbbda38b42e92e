// Versions: classes/semver.js, internal/identifiers.js and functions/*.js. Ranges are in
// semver_range.cc, the text matching under both in internal/semver_syntax.cc.
#include "agent/npm/semver.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/npm/internal/semver_syntax.h"

namespace ovvoc::agent::npm {
namespace {

using internal::IsAllDigits;
using internal::Quote;

// `a === b` on two identifiers: a number never equals a string.
bool StrictEquals(const PrereleaseIdentifier& a, const PrereleaseIdentifier& b) {
  if (a.number.has_value() != b.number.has_value()) return false;
  return a.number ? *a.number == *b.number : a.text == b.text;
}

double AsNumber(const PrereleaseIdentifier& id) {
  return id.number ? static_cast<double>(*id.number) : internal::DigitsToNumber(id.text);
}

// identifiers.js compareIdentifiers(). Digit strings too long to be numbers are compared as
// the doubles `+a` and `+b`, so they can compare equal without being equal.
int CompareIdentifiers(const PrereleaseIdentifier& a, const PrereleaseIdentifier& b) {
  if (a.number && b.number) return *a.number == *b.number ? 0 : *a.number < *b.number ? -1 : 1;
  const bool a_numeric = a.number || IsAllDigits(a.text);
  const bool b_numeric = b.number || IsAllDigits(b.text);
  if (a_numeric && b_numeric) {
    const double x = AsNumber(a);
    const double y = AsNumber(b);
    return x == y ? 0 : x < y ? -1 : 1;
  }
  if (StrictEquals(a, b)) return 0;
  if (a_numeric) return -1;
  if (b_numeric) return 1;
  return a.text < b.text ? -1 : 1;
}

int CompareMain(const Version& a, const Version& b) {
  for (auto [x, y] :
       {std::pair(a.major, b.major), std::pair(a.minor, b.minor), std::pair(a.patch, b.patch)}) {
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

// SemVer.comparePre() and compareBuild(): the first pair that is not `===` decides, even when
// CompareIdentifiers() then calls it a tie.
int CompareIdentifierLists(const std::vector<PrereleaseIdentifier>& a,
                           const std::vector<PrereleaseIdentifier>& b) {
  for (size_t i = 0;; ++i) {
    if (i >= a.size() && i >= b.size()) return 0;
    if (i >= b.size()) return 1;
    if (i >= a.size()) return -1;
    if (!StrictEquals(a[i], b[i])) return CompareIdentifiers(a[i], b[i]);
  }
}

int ComparePre(const Version& a, const Version& b) {
  // Not having a prerelease is greater than having one.
  if (!a.prerelease.empty() && b.prerelease.empty()) return -1;
  if (a.prerelease.empty() && !b.prerelease.empty()) return 1;
  return CompareIdentifierLists(a.prerelease, b.prerelease);
}

std::vector<PrereleaseIdentifier> AsIdentifiers(const std::vector<std::string>& build) {
  std::vector<PrereleaseIdentifier> ids;
  for (const std::string& text : build) ids.push_back({text, std::nullopt});
  return ids;
}

// What the constructor makes of one prerelease identifier: digits below MAX_SAFE_INTEGER
// become a number (leading zeros dropped), anything else stays text.
PrereleaseIdentifier MakeIdentifier(absl::string_view text) {
  if (IsAllDigits(text)) {
    std::optional<uint64_t> n = internal::SafeInteger(text);
    if (n && *n < kMaxSafeInteger) return {absl::StrCat(*n), n};
  }
  return {std::string(text), std::nullopt};
}

PrereleaseIdentifier MakeNumber(uint64_t n) { return {absl::StrCat(n), n}; }

std::string JoinIdentifiers(const std::vector<PrereleaseIdentifier>& ids) {
  return absl::StrJoin(
      ids, ".", [](std::string* out, const PrereleaseIdentifier& id) { out->append(id.text); });
}

// ---- inc ----

constexpr std::pair<ReleaseType, absl::string_view> kReleaseTypeNames[] = {
    {ReleaseType::kMajor, "major"},
    {ReleaseType::kPremajor, "premajor"},
    {ReleaseType::kMinor, "minor"},
    {ReleaseType::kPreminor, "preminor"},
    {ReleaseType::kPatch, "patch"},
    {ReleaseType::kPrepatch, "prepatch"},
    {ReleaseType::kPrerelease, "prerelease"},
    {ReleaseType::kRelease, "release"},
    {ReleaseType::kPre, "pre"}};

bool IsPreType(ReleaseType release) {
  switch (release) {
    case ReleaseType::kPremajor:
    case ReleaseType::kPreminor:
    case ReleaseType::kPrepatch:
    case ReleaseType::kPrerelease:
    case ReleaseType::kPre:
      return true;
    default:
      return false;
  }
}

// semver.js isPrereleaseIdentifier(): does `prerelease` start with the identifiers of
// `identifier` ("beta.1")?
bool StartsWithIdentifier(const std::vector<PrereleaseIdentifier>& prerelease,
                          absl::string_view identifier) {
  const std::vector<absl::string_view> ids = internal::SplitOn(identifier, ".");
  if (ids.size() > prerelease.size()) return false;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (CompareIdentifiers(prerelease[i], {std::string(ids[i]), std::nullopt}) != 0) return false;
  }
  return true;
}

// `isNaN(x)` for an element of a prerelease, or for undefined past its end.
bool IsNaNElement(const std::vector<PrereleaseIdentifier>& prerelease, size_t i) {
  if (i >= prerelease.size()) return true;
  return !prerelease[i].number && internal::IsNaNString(prerelease[i].text);
}

class Incrementer {
 public:
  Incrementer(Version version, absl::string_view raw, const Options& options,
              absl::string_view identifier, IdentifierBase base)
      : v_(std::move(version)),
        raw_(raw),
        options_(options),
        identifier_(identifier),
        base_(base) {}

  // SemVer.prototype.inc(), recursion and all.
  absl::Status Inc(ReleaseType release) {
    if (IsPreType(release)) {
      if (identifier_.empty() && base_ == IdentifierBase::kNone) {
        return absl::InvalidArgumentError("invalid increment argument: identifier is empty");
      }
      // `-${identifier}`.match(PRERELEASE) must capture the whole identifier.
      if (!identifier_.empty() && !internal::IsPrereleaseList(identifier_, options_.loose)) {
        return absl::InvalidArgumentError(absl::StrCat("invalid identifier: ", Quote(identifier_)));
      }
    }
    switch (release) {
      case ReleaseType::kPremajor:
        v_.prerelease.clear();
        v_.patch = 0;
        v_.minor = 0;
        ++v_.major;
        return Inc(ReleaseType::kPre);
      case ReleaseType::kPreminor:
        v_.prerelease.clear();
        v_.patch = 0;
        ++v_.minor;
        return Inc(ReleaseType::kPre);
      case ReleaseType::kPrepatch:
        v_.prerelease.clear();
        if (absl::Status s = Inc(ReleaseType::kPatch); !s.ok()) return s;
        return Inc(ReleaseType::kPre);
      case ReleaseType::kPrerelease:
        if (v_.prerelease.empty()) {
          if (absl::Status s = Inc(ReleaseType::kPatch); !s.ok()) return s;
        }
        return Inc(ReleaseType::kPre);
      case ReleaseType::kRelease:
        if (v_.prerelease.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat("version ", Quote(raw_), " is not a prerelease"));
        }
        v_.prerelease.clear();
        return absl::OkStatus();
      case ReleaseType::kMajor:
        // 1.0.0-5 bumps to 1.0.0; 1.1.0 to 2.0.0.
        if (v_.minor != 0 || v_.patch != 0 || v_.prerelease.empty()) ++v_.major;
        v_.minor = 0;
        v_.patch = 0;
        v_.prerelease.clear();
        return absl::OkStatus();
      case ReleaseType::kMinor:
        if (v_.patch != 0 || v_.prerelease.empty()) ++v_.minor;
        v_.patch = 0;
        v_.prerelease.clear();
        return absl::OkStatus();
      case ReleaseType::kPatch:
        if (v_.prerelease.empty()) ++v_.patch;
        v_.prerelease.clear();
        return absl::OkStatus();
      case ReleaseType::kPre:
        return IncPre();
    }
    return absl::InvalidArgumentError("invalid increment argument");
  }

  const Version& version() const { return v_; }

 private:
  absl::Status IncPre() {
    const uint64_t base = base_ == IdentifierBase::kOne ? 1 : 0;
    std::vector<PrereleaseIdentifier>& pre = v_.prerelease;
    if (pre.empty()) {
      pre = {MakeNumber(base)};
    } else {
      // Bump the last numeric identifier; with none, append one.
      auto last_number = std::find_if(pre.rbegin(), pre.rend(),
                                      [](const PrereleaseIdentifier& id) { return id.number; });
      if (last_number != pre.rend()) {
        *last_number = MakeNumber(*last_number->number + 1);
      } else {
        if (identifier_ == JoinIdentifiers(pre) && base_ == IdentifierBase::kNone) {
          return absl::InvalidArgumentError(
              "invalid increment argument: identifier already exists");
        }
        pre.push_back(MakeNumber(base));
      }
    }
    if (!identifier_.empty()) {
      // 1.2.0-beta.1 bumps to 1.2.0-beta.2; 1.2.0-beta.fooblz or 1.2.0-beta to 1.2.0-beta.0.
      // The identifier goes in as one element even when it holds dots.
      std::vector<PrereleaseIdentifier> fresh = {{std::string(identifier_), std::nullopt}};
      if (base_ != IdentifierBase::kNone) fresh.push_back(MakeNumber(base));
      const size_t after = internal::SplitOn(identifier_, ".").size();
      if (!StartsWithIdentifier(pre, identifier_) || IsNaNElement(pre, after)) {
        pre = std::move(fresh);
      }
    }
    return absl::OkStatus();
  }

  Version v_;
  const absl::string_view raw_;
  const Options options_;
  const absl::string_view identifier_;
  const IdentifierBase base_;
};

// diff()'s answer when the lower version is a prerelease and the higher one is not.
std::optional<ReleaseType> DiffFromPrerelease(const Version& low, const Version& high) {
  // 1.0.0-1 -> 1.0.0, 1.1.1 or 2.0.0: always major.
  if (low.patch == 0 && low.minor == 0) return ReleaseType::kMajor;
  if (CompareMain(low, high) == 0) {
    return low.minor != 0 && low.patch == 0 ? ReleaseType::kMinor : ReleaseType::kPatch;
  }
  return std::nullopt;
}

}  // namespace

std::string Version::ToString() const {
  std::string out = absl::StrCat(major, ".", minor, ".", patch);
  if (!prerelease.empty()) absl::StrAppend(&out, "-", JoinIdentifiers(prerelease));
  return out;
}

namespace {

enum class VersionError { kNone, kTooLong, kSyntax, kMajor, kMinor, kPatch };

absl::Status AboveMaxSafeInteger(absl::string_view component, absl::string_view text) {
  return absl::InvalidArgumentError(absl::StrCat("Invalid ", component, " version: above ",
                                                 kMaxSafeInteger, " in ", Quote(text)));
}

// new SemVer(text, options), reporting only what went wrong.
VersionError ReadVersion(absl::string_view text, const Options& options, Version& v) {
  if (internal::Utf16Length(text) > kMaxVersionLength) return VersionError::kTooLong;
  const absl::string_view trimmed = internal::JsTrim(text);
  // FULL: `^v?...$`; LOOSE: `^[v=\s]*...$`.
  const size_t body = options.loose ? internal::SkipVersionPrefix(trimmed, 0)
                                    : (!trimmed.empty() && trimmed[0] == 'v' ? 1 : 0);
  const std::optional<internal::VersionCaptures> m =
      internal::MatchFullVersion(trimmed.substr(body), options.loose);
  if (!m) return VersionError::kSyntax;
  const std::optional<uint64_t> major = internal::SafeInteger(*m->major);
  if (!major) return VersionError::kMajor;
  const std::optional<uint64_t> minor = internal::SafeInteger(*m->minor);
  if (!minor) return VersionError::kMinor;
  const std::optional<uint64_t> patch = internal::SafeInteger(*m->patch);
  if (!patch) return VersionError::kPatch;
  v.major = *major;
  v.minor = *minor;
  v.patch = *patch;
  if (m->prerelease) {
    for (absl::string_view id : internal::SplitOn(*m->prerelease, ".")) {
      v.prerelease.push_back(MakeIdentifier(id));
    }
  }
  if (m->build) {
    for (absl::string_view id : internal::SplitOn(*m->build, ".")) v.build.emplace_back(id);
  }
  return VersionError::kNone;
}

}  // namespace

std::optional<Version> internal::TryParseVersion(absl::string_view text, const Options& options) {
  Version v;
  if (ReadVersion(text, options, v) != VersionError::kNone) return std::nullopt;
  return v;
}

absl::StatusOr<Version> ParseVersion(absl::string_view text, const Options& options) {
  Version v;
  switch (ReadVersion(text, options, v)) {
    case VersionError::kNone:
      return v;
    case VersionError::kTooLong:
      return absl::InvalidArgumentError(
          absl::StrCat("version is longer than ", kMaxVersionLength, " characters"));
    case VersionError::kSyntax:
      return absl::InvalidArgumentError(absl::StrCat("Invalid Version: ", Quote(text)));
    case VersionError::kMajor:
      return AboveMaxSafeInteger("major", text);
    case VersionError::kMinor:
      return AboveMaxSafeInteger("minor", text);
    case VersionError::kPatch:
      return AboveMaxSafeInteger("patch", text);
  }
  return absl::InternalError("unreachable");
}

std::optional<std::string> Valid(absl::string_view text, const Options& options) {
  std::optional<Version> v = internal::TryParseVersion(text, options);
  if (!v) return std::nullopt;
  return v->ToString();
}

std::optional<std::string> Clean(absl::string_view text, const Options& options) {
  absl::string_view s = internal::JsTrim(text);
  while (!s.empty() && (s[0] == '=' || s[0] == 'v')) s.remove_prefix(1);  // ^[=v]+
  return Valid(s, options);
}

int Compare(const Version& a, const Version& b) {
  if (int main = CompareMain(a, b); main != 0) return main;
  return ComparePre(a, b);
}

int RCompare(const Version& a, const Version& b) { return Compare(b, a); }

int CompareBuild(const Version& a, const Version& b) {
  if (int c = Compare(a, b); c != 0) return c;
  return CompareIdentifierLists(AsIdentifiers(a.build), AsIdentifiers(b.build));
}

absl::StatusOr<bool> Cmp(const Version& a, absl::string_view op, const Version& b) {
  if (op == "===") return a.ToString() == b.ToString();
  if (op == "!==") return a.ToString() != b.ToString();
  if (op == "" || op == "=" || op == "==") return Eq(a, b);
  if (op == "!=") return Neq(a, b);
  if (op == ">") return Gt(a, b);
  if (op == ">=") return Gte(a, b);
  if (op == "<") return Lt(a, b);
  if (op == "<=") return Lte(a, b);
  return absl::InvalidArgumentError(absl::StrCat("Invalid operator: ", Quote(op)));
}

absl::string_view ReleaseTypeName(ReleaseType type) {
  for (const auto& [t, name] : kReleaseTypeNames) {
    if (t == type) return name;
  }
  return "";
}

std::optional<ReleaseType> ParseReleaseType(absl::string_view name) {
  for (const auto& [type, n] : kReleaseTypeNames) {
    if (n == name) return type;
  }
  return std::nullopt;
}

absl::StatusOr<std::string> Inc(absl::string_view version, ReleaseType release,
                                const Options& options, absl::string_view identifier,
                                IdentifierBase base) {
  absl::StatusOr<Version> parsed = ParseVersion(version, options);
  if (!parsed.ok()) return parsed.status();
  Incrementer incrementer(*std::move(parsed), version, options, identifier, base);
  if (absl::Status s = incrementer.Inc(release); !s.ok()) return s;
  return incrementer.version().ToString();
}

absl::StatusOr<std::optional<ReleaseType>> Diff(absl::string_view a, absl::string_view b) {
  absl::StatusOr<Version> v1 = ParseVersion(a);
  if (!v1.ok()) return v1.status();
  absl::StatusOr<Version> v2 = ParseVersion(b);
  if (!v2.ok()) return v2.status();
  const int comparison = Compare(*v1, *v2);
  if (comparison == 0) return std::nullopt;
  const Version& high = comparison > 0 ? *v1 : *v2;
  const Version& low = comparison > 0 ? *v2 : *v1;
  const bool high_has_pre = !high.prerelease.empty();
  if (!low.prerelease.empty() && !high_has_pre) {
    if (std::optional<ReleaseType> kind = DiffFromPrerelease(low, high)) return kind;
  }
  // A step to a prerelease gets the "pre" form.
  if (v1->major != v2->major) return high_has_pre ? ReleaseType::kPremajor : ReleaseType::kMajor;
  if (v1->minor != v2->minor) return high_has_pre ? ReleaseType::kPreminor : ReleaseType::kMinor;
  if (v1->patch != v2->patch) return high_has_pre ? ReleaseType::kPrepatch : ReleaseType::kPatch;
  return ReleaseType::kPrerelease;
}

std::optional<Version> Coerce(absl::string_view text, const CoerceOptions& options) {
  const bool full = options.include_prerelease;
  std::optional<internal::CoerceCaptures> match;
  if (!options.rtl) {
    match = internal::ExecCoerce(text, 0, full);
  } else {
    // The right-most match that does not end where a match further left ends ("1.2.3.4"
    // gives 2.3.4, not 3.4 or 4): exec() again from just after each match's major number,
    // until a match reaches the end of the text.
    size_t last_index = 0;
    while (std::optional<internal::CoerceCaptures> next =
               internal::ExecCoerce(text, last_index, full)) {
      if (match && match->end == text.size()) break;
      if (!match || next->end != match->end) match = next;
      last_index = next->major_end;
    }
  }
  if (!match) return std::nullopt;
  std::string version =
      absl::StrCat(match->major, ".", match->minor.value_or("0"), ".", match->patch.value_or("0"));
  if (full && match->prerelease) absl::StrAppend(&version, "-", *match->prerelease);
  if (full && match->build) absl::StrAppend(&version, "+", *match->build);
  return internal::TryParseVersion(version, {options.loose, options.include_prerelease});
}

}  // namespace ovvoc::agent::npm
