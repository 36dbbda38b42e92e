// A registry packument as npm's version picker reads it: the dist-tags, every version's
// `deprecated`, `engines` and install scripts, and the `time` each version was published; and
// for the confidence score, each version's publisher and whether it has provenance. Only
// what the update plan needs is kept; the rest of each version (readme, dependencies) is
// skipped without being built, so a 10 MiB packument (typescript's) costs milliseconds.
//
// Values keep JavaScript's meaning where npm tests them for truth: `deprecated` counts when it
// is a non-empty string, `true`, a non-zero number, or any object; `deprecated: false` and ""
// do not. A duplicate key counts as JSON.parse counts it: the last value wins, in the place of
// the first.
//
// Input is untrusted (what a registry sent): ParsePackument returns a value or an error, never
// crashes, and holds memory proportional to the versions kept, not to the document (parsing
// itself takes about 4 bytes per JSON token, briefly). The values it reads are checked; the
// parts it skips (readmes, dist, dependencies) only for balance, since agent/registry/client.h
// accepts only well-formed JSON from a registry in the first place.
#ifndef OVVOC_AGENT_NPM_PACKUMENT_H_
#define OVVOC_AGENT_NPM_PACKUMENT_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ovvoc::agent::npm {

// One `engines` entry (node or npm) as npm-install-checks tests it.
struct EngineRequirement {
  enum class Kind {
    kNone,     // absent, or a falsy value: no requirement
    kRange,    // a non-empty string: a semver range
    kInvalid,  // a truthy value that is not a string: npm's satisfies() throws, so it fails
  };
  Kind kind = Kind::kNone;
  std::string range;  // kRange only
};

// When a version was published, as `packument.time[version]`.
struct PublishTime {
  enum class Kind {
    kAbsent,   // missing or falsy: npm treats the version as old enough
    kValid,    // an ISO 8601 date Date.parse() reads
    kInvalid,  // Date.parse() gives NaN: the version is never "before" any date
  };
  Kind kind = Kind::kAbsent;
  absl::Time time;  // kValid only
};

struct PackumentVersion {
  std::string version;       // the key in "versions", as written
  bool deprecated = false;   // JavaScript-truthy `deprecated`
  std::string deprecation;   // its message, when it is a string (bounded)
  EngineRequirement node;    // engines.node
  EngineRequirement npm;     // engines.npm
  // `hasInstallScript: true`, or a preinstall, install or postinstall script.
  bool has_install_script = false;
  PublishTime published;
  std::string publisher;    // `_npmUser.name` (bounded); empty when the registry does not say
  bool provenance = false;  // `dist.attestations.provenance` is there (and truthy)
  // Which bytes the version is: `dist.integrity` ("sha512-..."), else `dist.shasum` as
  // "sha1-hex:<hex>"; empty when the registry says neither. Bounded by kMaxIntegrity.
  std::string integrity;
};

struct Packument {
  std::string name;
  std::map<std::string, std::string> dist_tags;  // string values only
  std::vector<PackumentVersion> versions;        // in document order
  bool has_time = false;                         // `time` is an object
  std::optional<absl::Time> created;
  std::optional<absl::Time> modified;

  // The version whose key is exactly `version`; nullptr when there is none.
  const PackumentVersion* Find(absl::string_view version) const;
  // The version `tag` points at; nullptr when the tag is missing or names no version.
  const PackumentVersion* Tagged(absl::string_view tag) const;

  // Built by ParsePackument: versions by key.
  absl::flat_hash_map<std::string, size_t> index;

  // About how much memory this holds, for callers that keep many.
  size_t ApproximateBytes() const;
};

// Bounds on what one packument may hold, to keep a hostile one from choosing our memory.
inline constexpr size_t kMaxPackumentVersions = 100000;
inline constexpr size_t kMaxDeprecationMessage = 500;
inline constexpr size_t kMaxPublisherName = 214;
inline constexpr size_t kMaxIntegrity = 256;
// A version key (or a dist-tag's value, or a time's key) longer than semver's 256 characters
// can never be a version npm picks: such entries are dropped.
inline constexpr size_t kMaxPackumentVersionKey = 256;
inline constexpr size_t kMaxDistTags = 1000;
// An engines range longer than this is taken as unsatisfiable (npm would test it; no real
// package's is more than a few dozen characters).
inline constexpr size_t kMaxEngineRange = 1024;
// All of a packument's engines ranges together: typescript's 3,000 versions hold 30 KB. Past
// this the packument is refused (ResourceExhausted): testing them would cost seconds a version.
inline constexpr size_t kMaxEngineBytes = 1 << 20;

// Parses a full (or abbreviated) packument. InvalidArgument when it is not a JSON object or its
// `versions` is not an object; ResourceExhausted past kMaxPackumentVersions or kMaxEngineBytes.
absl::StatusOr<Packument> ParsePackument(absl::string_view json);

// Date.parse() for the ISO 8601 forms registries write ("2020-01-02T03:04:05.678Z", with or
// without milliseconds, seconds or an offset; a date alone is UTC). Other texts are kInvalid,
// where V8 would still read some legacy forms ("Tue, 01 Jan 2020 ...", "2020-01-01 00:00Z",
// lowercase "t" and "z", "2020-02-30" rolled over to March 1st): such a version is never
// picked, where npm might pick it. The safe side: no form makes a release look older than V8
// says it is.
PublishTime ParsePublishTime(absl::string_view text);

}  // namespace ovvoc::agent::npm

#endif  // OVVOC_AGENT_NPM_PACKUMENT_H_
