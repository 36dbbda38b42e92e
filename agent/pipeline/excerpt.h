// What a command's log shows a person in the job's result: a failing command's first lines
// that say what went wrong (npm's `ERR!`, a thrown `Error`, tsc's `error TS`, a test runner's
// `FAIL` or `not ok`), with a line before and a few after, and then the end of the output,
// where runners print their summary. A config dump or a page of progress at the start is left
// out. Output with no such line keeps its end. The text is what the container printed: still
// untrusted, scrubbed and made inert by the caller.
#ifndef OVVOC_AGENT_PIPELINE_EXCERPT_H_
#define OVVOC_AGENT_PIPELINE_EXCERPT_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace ovvoc::agent {

// Fits the 12 KiB a stored log excerpt keeps (common/job_text.h), with room for the markers.
inline constexpr size_t kMaxExcerpt = 10 * 1024;

// At most `max_bytes` of `output` (plus a line per part left out): the first error's lines,
// then as much of the end as fits.
std::string CommandExcerpt(absl::string_view output, size_t max_bytes = kMaxExcerpt);

// Whether one line of output reads as an error (exposed for tests).
bool LooksLikeError(absl::string_view line);

}  // namespace ovvoc::agent

#endif  // OVVOC_AGENT_PIPELINE_EXCERPT_H_
