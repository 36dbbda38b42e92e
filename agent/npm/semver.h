// npm's semver, exactly: the `semver` module bundled with the npm of the job image (7.8.6, see
// tests/integration/semver_differential_test.cc, which holds this file to it on every function
// below). Where npm's answer is odd, this answers the same; the odd cases are listed at the
// function. Pure functions and value types, thread-safe.
//
// Input is untrusted text (package.json ranges, registry version keys): every function
// returns a value or an error and never crashes (tests/fuzz/semver_fuzz.cc). Time is about
// linear in the input's length, except where npm's own algorithm is quadratic: Intersects() in
// the number of comparators, and Coerce() from the right.
//
// Text is UTF-8. npm measures strings in UTF-16 code units (the 256-character limit) and
// takes Unicode whitespace where it takes whitespace; so does this. A byte that is not part of
// well-formed UTF-8 counts as one character that is not whitespace.
//
// Numbers follow JavaScript's: a version's major, minor and patch are at most
// kMaxSafeInteger; a numeric prerelease identifier is held as a number only below it (a longer
// one stays text, and two such are compared as rounded doubles, so 1.0.0-9007199254740993 and
// 1.0.0-9007199254740992 compare equal); ranges compute bounds such as `^1.2.3`'s 2.0.0 as
// doubles printed the JavaScript way, so the bound of `^99999999999999999999999` is
// "1e+23.0.0-0", which is no version: the range is invalid (in loose mode, that comparator is
// dropped).
//
// ---- The options npm itself passes (npm 11.x in the job image; the version picker relies on
// ---- these; paths are under /usr/local/lib/node_modules/npm/node_modules/)
//
// Reading a dependency from package.json: npm-package-arg/lib/npa.js fromRegistry() trims the
//   spec, then `semver.valid(spec, true)` (loose) makes it a "version", else
//   `semver.validRange(spec, true)` (loose, no includePrerelease) a "range", else a dist-tag.
//   The spec string itself (not the normalised range) is what later calls receive.
// Is the installed version still good for the dependency: @npmcli/arborist/lib/dep-valid.js,
//   `semver.satisfies(child.version, requested.fetchSpec, true)` (loose), except that a range
//   of exactly "*" is accepted without asking semver (so "*" accepts a prerelease there);
//   git deps with #semver:<range>: `satisfies(version, gitRange, { loose: true })`.
// Picking a version: npm-pick-manifest/lib/index.js. A "version" spec:
//   `semver.clean(wanted, { loose: true })` and an exact lookup. A "range": first the
//   `latest` dist-tag if `range === '*' || satisfies(latest, range, { loose: true })` (and it is
//   not deprecated, is engine-compatible, not restricted, not after --before); otherwise every
//   version with `satisfies(v, range, { loose: true })`, sorted by avoid/restricted/staged/
//   deprecated/engine heuristics, then `semver.rcompare(a, b, { loose: true })`. So
//   prereleases are only picked by a range that names one in the same major.minor.patch, or
//   through the `latest` tag. `avoid` ranges use { includePrerelease: true, loose: true }.
// Engines: npm-install-checks/lib/index.js checkEngine(),
//   `satisfies(nodeVersion, engines.node, { includePrerelease: true })` (strict).
// The package's own "version": @npmcli/package-json/lib/normalize.js,
//   `valid(version, !strict)` and `clean(version, !strict)`.
// Audit: @npmcli/metavuln-calculator/lib/advisory.js, { includePrerelease: true, loose: true }.
// Saving: @npmcli/arborist/lib/arborist/reify.js writes savePrefix ("^" by default) + version.
#ifndef OVVOC_AGENT_NPM_SEMVER_H_
#define OVVOC_AGENT_NPM_SEMVER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ovvoc::agent::npm {

inline constexpr uint64_t kMaxSafeInteger = 9007199254740991;  // Number.MAX_SAFE_INTEGER
inline constexpr size_t kMaxVersionLength = 256;  // in UTF-16 code units, before trimming

// npm's options object. `loose` accepts "v1.2.3", "=1.2.3", "01.2.3", "1.2.3beta";
// `include_prerelease` lets any prerelease satisfy a range (and makes ranges' lower bounds -0).
struct Options {
  bool loose = false;
  bool include_prerelease = false;
};

// One dot-separated prerelease identifier.
struct PrereleaseIdentifier {
  std::string text;  // as npm prints it: "beta", "7" (from a loose "007")
  // Set when npm holds the identifier as a number: all digits and below kMaxSafeInteger.
  std::optional<uint64_t> number;
  bool operator==(const PrereleaseIdentifier&) const = default;
};

// A parsed version. Build metadata is kept but takes no part in Compare() or ToString().
struct Version {
  uint64_t major = 0;
  uint64_t minor = 0;
  uint64_t patch = 0;
  std::vector<PrereleaseIdentifier> prerelease;
  std::vector<std::string> build;

  // npm's `version`: "1.2.3" or "1.2.3-beta.1", never the build.
  std::string ToString() const;
  // Field by field, build included; npm's eq() is Compare() == 0.
  bool operator==(const Version&) const = default;
};

// `new SemVer(text, options)`. InvalidArgument says what is wrong: longer than 256
// characters, not a version, or a component above kMaxSafeInteger.
absl::StatusOr<Version> ParseVersion(absl::string_view text, const Options& options = {});
// `valid()`: the normalised version, or nullopt.
std::optional<std::string> Valid(absl::string_view text, const Options& options = {});
// `clean()`: like Valid() after trimming and dropping leading '=' and 'v' characters, so
// "  =v1.2.3  " is clean even in strict mode.
std::optional<std::string> Clean(absl::string_view text, const Options& options = {});

// -1, 0 or 1, by precedence: build metadata ignored, a prerelease below its release, numeric
// identifiers below alphanumeric ones.
int Compare(const Version& a, const Version& b);
int RCompare(const Version& a, const Version& b);
// Compare(), then build metadata as a tie-break.
int CompareBuild(const Version& a, const Version& b);
inline bool Gt(const Version& a, const Version& b) { return Compare(a, b) > 0; }
inline bool Gte(const Version& a, const Version& b) { return Compare(a, b) >= 0; }
inline bool Lt(const Version& a, const Version& b) { return Compare(a, b) < 0; }
inline bool Lte(const Version& a, const Version& b) { return Compare(a, b) <= 0; }
inline bool Eq(const Version& a, const Version& b) { return Compare(a, b) == 0; }
inline bool Neq(const Version& a, const Version& b) { return Compare(a, b) != 0; }
// `cmp(a, op, b)` for op in "", "=", "==", "!=", ">", ">=", "<", "<=", "===", "!==" (the last
// two compare ToString()); InvalidArgument for any other op.
absl::StatusOr<bool> Cmp(const Version& a, absl::string_view op, const Version& b);

enum class ReleaseType {
  kMajor,
  kPremajor,
  kMinor,
  kPreminor,
  kPatch,
  kPrepatch,
  kPrerelease,
  kRelease,  // drops the prerelease: 1.2.3-beta -> 1.2.3
  kPre,      // npm's undocumented 'pre': bumps only the prerelease
};
absl::string_view ReleaseTypeName(ReleaseType type);
std::optional<ReleaseType> ParseReleaseType(absl::string_view name);

// inc()'s identifierBase: undefined or "0" start new numeric identifiers at 0, "1" at 1, and
// `false` adds none ("1.2.3" prerelease "beta" gives 1.2.4-beta).
enum class IdentifierBase { kZero, kOne, kNone };

// `inc(version, release, options, identifier, identifierBase)`: the next version as npm
// prints it, or InvalidArgument where npm returns null (an invalid version or identifier, or
// 'release' of a version that is not a prerelease). Components are not re-checked, as in npm:
// the major version after 9007199254740991 is 9007199254740992, which ParseVersion() rejects.
absl::StatusOr<std::string> Inc(absl::string_view version, ReleaseType release,
                                const Options& options = {}, absl::string_view identifier = "",
                                IdentifierBase base = IdentifierBase::kZero);

// `diff(a, b)`: the kind of the step between two strict versions, nullopt when they are
// equal; InvalidArgument when either is not a strict version (npm throws). Never returns
// kRelease or kPre.
absl::StatusOr<std::optional<ReleaseType>> Diff(absl::string_view a, absl::string_view b);

struct CoerceOptions {
  bool loose = false;
  bool include_prerelease = false;  // keep "-rc.1+build" after the numbers
  bool rtl = false;                 // the right-most version: "1.2.3.4" gives 2.3.4
};
// `coerce()`: the first (or last) version-like run of digits in free text, padded with zeros:
// "v2" -> 2.0.0, "1.2.3.4" -> 1.2.3. Components longer than 16 digits are skipped; nullopt
// when nothing fits, or the result is not valid (a strict "007" is not).
std::optional<Version> Coerce(absl::string_view text, const CoerceOptions& options = {});

// One comparator of a range: an operator and a version, or "any version".
struct Comparator {
  std::string op;                  // "", "<", "<=", ">", ">="; "" is equality
  std::optional<Version> version;  // nullopt: any version (npm's ANY, value "")
  // npm's `value`: op + version, or "" for any.
  std::string ToString() const;
};

// A range: sets of comparators joined by "||"; a version satisfies the range when it satisfies
// every comparator of one set (and npm's prerelease rule, see Test()).
class Range {
 public:
  // `new Range(text, options)`: desugars ^ ~ ~> x X * partial versions, hyphen ranges and
  // `>= 1.2.3` spacing into comparators. InvalidArgument names the first bad comparator; in
  // loose mode bad comparators are dropped instead, and only a range with none left fails.
  static absl::StatusOr<Range> Parse(absl::string_view text, const Options& options = {});

  // npm's `range.range`: ">=1.2.3 <2.0.0-0||1.0.0"; "" for any version.
  std::string ToString() const;

  // `range.test(version)` for a version parsed with this range's options. A prerelease
  // satisfies a set only if a comparator of the set has a prerelease on the same
  // major.minor.patch, unless include_prerelease. FailedPrecondition where npm throws: with
  // loose and include_prerelease, a comparator whose version prints longer than 256 characters
  // (loose "1.2.3beta..." gains a '-') cannot be re-read once a test reaches it.
  absl::StatusOr<bool> Test(const Version& version) const;
  // The same for text; text that is empty or not a version (with these options) is false.
  absl::StatusOr<bool> Test(absl::string_view version) const;

  const std::vector<std::vector<Comparator>>& sets() const { return sets_; }
  const Options& options() const { return options_; }

 private:
  Range(std::vector<std::vector<Comparator>> sets, const Options& options)
      : sets_(std::move(sets)), options_(options) {}

  std::vector<std::vector<Comparator>> sets_;
  Options options_;
};

// `validRange()`: Range::ToString(), "*" for any version, nullopt when invalid.
std::optional<std::string> ValidRange(absl::string_view range, const Options& options = {});
// `satisfies()`: false when the range or the version is invalid; errors as Range::Test().
absl::StatusOr<bool> Satisfies(absl::string_view version, absl::string_view range,
                               const Options& options = {});
// `maxSatisfying()` / `minSatisfying()`: the highest (lowest) of `versions` that satisfies
// `range`, as given (not normalised; the first of equals wins); nullopt when none does or the
// range is invalid. Errors as Range::Test().
absl::StatusOr<std::optional<std::string>> MaxSatisfying(const std::vector<std::string>& versions,
                                                         absl::string_view range,
                                                         const Options& options = {});
absl::StatusOr<std::optional<std::string>> MinSatisfying(const std::vector<std::string>& versions,
                                                         absl::string_view range,
                                                         const Options& options = {});
// `intersects(a, b, options)`: whether some version could satisfy both ranges (npm's
// approximation, comparator by comparator). InvalidArgument when either range is invalid.
absl::StatusOr<bool> Intersects(absl::string_view a, absl::string_view b,
                                const Options& options = {});

}  // namespace ovvoc::agent::npm

#endif  // OVVOC_AGENT_NPM_SEMVER_H_
