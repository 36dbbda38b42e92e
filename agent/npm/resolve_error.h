// npm's ERESOLVE report, read back from its output: which dependency edge it could not satisfy
// and which one holds the version in the way. npm 7-11 print it as
//
//   npm error code ERESOLVE
//   npm error ERESOLVE unable to resolve dependency tree
//   npm error While resolving: app@1.0.0
//   npm error Found: react@17.0.2
//   npm error node_modules/react
//   npm error   react@"^17.0.2" from the root project
//   npm error Could not resolve dependency:
//   npm error peer react@"^18.0.0" from react-dom@18.2.0
//
// (older npms say "npm ERR!"; "ERESOLVE could not resolve" adds "Conflicting peer dependency:
// react@18.2.0"). A proposal whose lockfile npm cannot resolve fails with reason class "resolve"
// and this as its reason, naming the edges, instead of npm's whole report.
//
// The output is npm's, run with --ignore-scripts, but it quotes names and ranges from manifests
// a registry served: every field is bounded and made inert. Pure; thread-safe.
#ifndef OVVOC_AGENT_NPM_RESOLVE_ERROR_H_
#define OVVOC_AGENT_NPM_RESOLVE_ERROR_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace ovvoc::agent::npm {

struct ResolveConflict {
  std::string while_resolving;   // "app@1.0.0"
  std::string found;             // "react@17.0.2": what the tree holds
  std::string found_by;          // "react@\"^17.0.2\" from the root project": the edge holding it
  std::string unresolved;        // "peer react@\"^18.0.0\" from react-dom@18.2.0"
  std::string conflicting_peer;  // "react@18.2.0", when npm names one
  // The package whose edge could not be satisfied ("react-dom@18.2.0"), when npm names one.
  std::string culprit;
};

// nullopt when `output` holds no ERESOLVE report.
std::optional<ResolveConflict> ParseResolveConflict(absl::string_view output);

// One line: `npm could not resolve the tree (ERESOLVE): peer react@"^18.0.0" from
// react-dom@18.2.0, but react@17.0.2 is there (react@"^17.0.2" from the root project)`.
std::string DescribeResolveConflict(const ResolveConflict& conflict);

}  // namespace ovvoc::agent::npm

#endif  // OVVOC_AGENT_NPM_RESOLVE_ERROR_H_
