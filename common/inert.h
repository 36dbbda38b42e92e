// Making untrusted text inert: whatever comes out of a job's container (its output, what its
// init or its network requests said) is attacker-controlled. Before such text reaches a
// terminal, a log line or the store it goes through one of these, so that it can neither steer
// a terminal (escape sequences, a carriage return that erases a line, bidi overrides that
// reorder it) nor grow without bound.
//
// Control characters, DEL, C1 controls, Unicode characters that act without showing (bidi
// controls, zero-width and other format characters, line separators, blank fillers, variation
// selectors, tags) and bytes that are not UTF-8 are written as visible escapes ("\x1b",
// "\u202e", "\ue0041"); everything else stays as it was. Escaping is
// idempotent: inert text passes through unchanged. Pure functions; thread-safe.
#ifndef OVVOC_COMMON_INERT_H_
#define OVVOC_COMMON_INERT_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace ovvoc {

// One line: newlines and tabs are escaped too. At most `max_bytes` (after escaping); longer text
// keeps its start and ends in "[... N bytes omitted]".
std::string InertLine(absl::string_view text, size_t max_bytes = 1024);

// A block of text, such as a phase's log excerpt: newlines and tabs stay. At most `max_bytes`;
// longer text keeps its start and its end around "[... N bytes omitted ...]".
std::string InertText(absl::string_view text, size_t max_bytes);

}  // namespace ovvoc

#endif  // OVVOC_COMMON_INERT_H_
