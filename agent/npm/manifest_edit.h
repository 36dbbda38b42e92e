// Writing a dependency's new spec into package.json with the smallest byte diff: the one JSON
// string token that holds the spec is replaced, quotes included, and nothing else moves. Key
// order, indentation, CRLF line ends, a UTF-8 byte order mark, the trailing newline (or its
// absence), the escapes other strings are written with: every other byte stays, so the pull
// request shows one changed value per dependency, as a person would have written it.
//
// The spec is found by a small tokenizer that tracks byte offsets (nlohmann's parser gives
// none): the top-level object's section key ("dependencies", "devDependencies",
// "optionalDependencies", "peerDependencies"), and inside that object the entry whose key,
// decoded, is the dependency's name. Keys and values are compared decoded, so `"\u0061bc"` is
// "abc". The new token is `to_spec` as JSON.stringify writes it: `"`, `\` and control
// characters escaped (\b \f \n \r \t, else \u00XX), everything else, non-ASCII included, as
// its UTF-8 bytes. An edit whose `to_spec` equals what the entry holds leaves the text as it is.
//
// Every edit is then checked: the original and the edited text are parsed with nlohmann
// (bounded, internal/bounded_json.h) into ordered objects, the intended values are set in the
// original's, and the edit is kept only when the two are equal, key order included.
//
// Input is untrusted (a repository's package.json): never a crash, time linear in the text's
// length for each edit, depth and values bounded as ParseManifest() bounds them. Messages quote
// the file's keys and values made inert (common/inert.h) and cut short. Pure functions;
// thread-safe.
//
// Errors:
//   InvalidArgument: the text is not JSON (RFC 8259, as JSON.parse reads it: nlohmann's parser
//     takes a NUL byte after the value for the end of the text, this refuses it), nests deeper
//     than kMaxManifestDepth or holds too many values or keys (internal/bounded_json.h); `kind`
//     names no section; `to_spec` is not UTF-8.
//   ResourceExhausted: the text is longer than kMaxManifestBytes (project.h).
//   NotFound: the section, or the entry in it, is absent.
//   FailedPrecondition: the edit would be ambiguous or the file is not as the caller believed:
//     the top level is not an object; the section is not an object (null included); the
//     section, or the entry in it, is written more than once (JSON.parse would take the last
//     one, another reader the first); the entry's value is not a string; it does not equal
//     `from_spec` (the message says what it holds). Each message says what to do.
//   Internal: the edited text does not parse to the intended document (a bug here: nothing is
//     written).
#ifndef OVVOC_AGENT_NPM_MANIFEST_EDIT_H_
#define OVVOC_AGENT_NPM_MANIFEST_EDIT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc::agent::npm {

struct DependencyEdit {
  ovvoc::v1::DependencyKind kind = ovvoc::v1::DEPENDENCY_KIND_UNSPECIFIED;  // the section
  std::string name;       // the key as npm reads it (decoded)
  std::string from_spec;  // what the entry must hold now (decoded)
  std::string to_spec;    // what it gets
};

// `manifest` with the one string value `edit` names replaced by `to_spec`.
absl::StatusOr<std::string> EditDependency(absl::string_view manifest, const DependencyEdit& edit);

// The edits applied one after another (a group: a later edit sees the earlier ones, so the same
// entry may move twice); all or nothing: the first edit that fails fails the whole group, and
// its error names it.
absl::StatusOr<std::string> EditDependencies(absl::string_view manifest,
                                             const std::vector<DependencyEdit>& edits);

}  // namespace ovvoc::agent::npm

#endif  // OVVOC_AGENT_NPM_MANIFEST_EDIT_H_
