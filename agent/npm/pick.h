// npm's version picker: npm-pick-manifest 11.x (in the job image's npm), which decides what
// `npm install`, `npm update` and `npm outdated` take for a spec. Held to npm by
// tests/integration/plan_outdated_test.cc.
//
// For a range (and for `*`, which `npm outdated` asks for its "latest"): the `latest` dist-tag
// when it satisfies the range, is not deprecated, suits the engines and was published before
// `before`; otherwise every satisfying version, preferring the not-deprecated engine-compatible
// ones, then the engine-compatible ones, then the not-deprecated ones, the highest first. A
// version's engines are checked as npm-install-checks does (node and npm, prereleases included).
// A version whose publish time cannot be read is never picked (npm's `Date.parse` gives NaN).
//
// Not modelled: the npm registry's `stagedVersions` and `policyRestrictions` (npm Enterprise),
// and `avoid` (npm audit fix).
#ifndef OVVOC_AGENT_NPM_PICK_H_
#define OVVOC_AGENT_NPM_PICK_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/npm/packument.h"
#include "agent/npm/range_cache.h"

namespace ovvoc::agent::npm {

struct PickOptions {
  std::string default_tag = "latest";
  // npm's `before` (`--before`, or now minus `min-release-age` days): later versions are out.
  std::optional<absl::Time> before;
  std::string node_version;  // process.version, "v24.11.1"; empty: engines.node not checked
  std::string npm_version;   // "11.6.2"; empty: engines.npm not checked
  // Borrowed; parses each engines range once, and tests each version's engines once, across
  // calls (so node_version and npm_version must not change while it is set). Null: each time.
  RangeCache* ranges = nullptr;
};

// `pickManifest(packument, wanted, opts)`: the version npm picks for the spec `wanted` (a
// version, a range or a dist-tag, as written in package.json; "" is the default tag).
// NotFound (npm's ETARGET, "No matching version found for name@wanted") when nothing fits;
// FailedPrecondition (ENOVERSIONS) when no version was published before `before`;
// InvalidArgument when `wanted` is not a registry spec.
absl::StatusOr<const PackumentVersion*> PickManifest(const Packument& packument,
                                                     absl::string_view wanted,
                                                     const PickOptions& options);

// npm-install-checks' checkEngine() without throwing: whether `version` suits the engines.
bool EngineOk(const PackumentVersion& version, const PickOptions& options);

// npm-pick-manifest's isBefore(): whether `version` counts as published before `before`.
bool PublishedBefore(const Packument& packument, const PackumentVersion& version,
                     std::optional<absl::Time> before);

}  // namespace ovvoc::agent::npm

#endif  // OVVOC_AGENT_NPM_PICK_H_
