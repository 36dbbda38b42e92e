// How job results read to a human, the same in `ovvoc-agent update` and in the control plane's
// `job show`.
#ifndef OVVOC_COMMON_JOB_TEXT_H_
#define OVVOC_COMMON_JOB_TEXT_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "ovvoc/v1/job.pb.h"

namespace ovvoc {

// Makes every string in `message` (recursively) inert (common/inert.h): log excerpts as text of
// at most kMaxLogExcerpt bytes, everything else as one line of at most kMaxField bytes. A job's
// result is made of what the repository, the registry and the container said: both binaries
// apply this before a result is printed, logged or stored.
inline constexpr size_t kMaxLogExcerpt = 96 * 1024;
inline constexpr size_t kMaxField = 4 * 1024;
void MakeInert(google::protobuf::Message& message);

// What the control plane stores of what an agent reports, and so what every admin answer is
// built from. An agent may send anything up to the gRPC message limit; the stored result is
// bounded whatever arrived:
//   - unknown fields are discarded, at every depth;
//   - each repeated field keeps its first elements within a count and a byte budget
//     (dependencies 2,000 / 48 KiB, findings 200 / 24 KiB, egress 200 / 8 KiB, timings
//     32 / 2 KiB, pull requests 16 / 8 KiB; proposals 100 / 72 KiB, each one's updates
//     100 / 8 KiB and findings 20 / 4 KiB; the plan's dependencies
//     2,000 / 96 KiB, each one's passed-over versions 12 / 2 KiB, proposals 500 / 16 KiB, their
//     dependency indexes 2,000 / 8 KiB, problems 100 / 16 KiB; any other 64 / 4 KiB);
//     findings that do not all fit are first put in rounds, each kind's first finding before
//     any kind's second and so on, the most severe first within a round: no one kind, however
//     many times it was found, takes every place (in order as made when they all fit);
//   - each string is made inert (as MakeInert) within a per-field limit: log excerpts 12 KiB
//     (head and tail), failure reasons 4 KiB, details, commands, URLs and progress messages
//     1 KiB, everything else (names, specs, paths, phases, versions) 256 bytes; within a
//     proposal, log excerpts 2 KiB and reasons 1 KiB.
// When anything was dropped, the last finding is one of kind "truncated" (severity medium)
// whose detail says how many of what were kept ("kept 2000 of 120000 dependencies"); it takes
// the place of the last finding kept when findings were full. A bounded result serialises to
// at most kMaxStoredResult bytes. Idempotent only when nothing was dropped.
inline constexpr size_t kMaxStoredResult = 352 * 1024;
inline constexpr char kTruncatedFindingKind[] = "truncated";
// The largest message the control plane accepts from an agent (a result's report, with its
// memo): a result with thousands of dependencies and findings fits many times over.
inline constexpr size_t kMaxAgentMessageBytes = 2 << 20;
// The most a BaselineMemo (job.proto) may weigh, serialised: what an agent makes and reports
// beside a result (both within kMaxAgentMessageBytes: past it the memo is left out) and the
// control plane keeps and sends in a JobSpec. It fingerprints about 100 bytes per installed
// package: a project too big for it is not remembered.
inline constexpr size_t kMaxBaselineMemoBytes = 1 << 20;
// OK when `memo` is one an agent may make (agent/pipeline/baseline_memo.h): a sha256 key, a job,
// within kMaxBaselineMemoBytes, no high-severity finding, what its install (and its build, when
// one ran) left in node_modules read whole, and the paths they made listed whole. Otherwise
// InvalidArgument saying what is wrong: such a memo is neither kept nor used (red team: a memo
// without its fingerprints switched off what proposals are held to).
absl::Status CheckBaselineMemo(const ovvoc::v1::BaselineMemo& memo);
void BoundForStorage(ovvoc::v1::JobResult& result);
// A heartbeat's progress: unknown fields discarded, phase 256 bytes, message 1 KiB, inert.
void BoundForStorage(ovvoc::v1::Progress& progress);

// "2.4 MiB", "812 KiB", "96 B".
std::string HumanBytes(uint64_t bytes);

// "182.0 MiB working set, 301.5 MiB page cache (cgroup peak 483.5 MiB), 12.3s CPU": what the
// job's processes held at most, the cache beside it, and the cgroup's own peak, which counts
// both; results from before the working set was sampled show the peak alone.
std::string DescribeMemory(const ovvoc::v1::ResourceUsage& usage);

// "wants node 20 (lts/iron in .nvmrc); ran 24.11.1": empty when the result has no choice.
std::string DescribeNode(const ovvoc::v1::NodeChoice& node);

// "12 passed, 1 failed, 2 skipped of 15 (mocha)"; "" when no tests were counted.
std::string DescribeTests(const ovvoc::v1::TestCounts& tests);

// The proposals of a result, a line each and a few beneath for a failure or findings, as
// `update` and `job show` print them ("" when there are none):
//   passed  lodash 4.17.20 -> 4.17.21 (patch)  lockfile 1 changed  tests 12 passed
//           branch ovvoc/npm/lodash-4.17.21
//           confidence 92/100  (a passed proposal's score: DescribeConfidence)
//   failed  react 17.0.2 -> 18.2.0 (major)  test: `npm test` exited with status 1
//           proven by job_abc: nothing new since (...), not run again  (an earlier job's outcome)
std::string DescribeProposals(const ovvoc::v1::JobResult& result);

// A confidence score and a line per factor, each line indented by `indent` spaces:
//   confidence 92/100
//     tests             35/35    12 tests ran (mocha); used: lodash by src/index.js
//     flaky tests       unknown  unknown: no test ran
std::string DescribeConfidence(const ovvoc::v1::ConfidenceScore& score, int indent);

// "job_abc proved it at 2026-12-04T10:00:00Z (the same commit, lockfile, image and commands):
// not run again"; "" when the baseline ran.
std::string DescribeBaselineReuse(const ovvoc::v1::JobResult& result);

// "6.14.18 (package-lock.json is lockfileVersion 1, ...)"; "" when no choice was recorded.
std::string DescribeNpm(const ovvoc::v1::NpmChoice& npm);

// "registry.npmjs.org:443: 14 connections, 3.1 MiB down, 22 KiB up" (", 1 failed").
std::string DescribeEgress(const ovvoc::v1::EgressUsage& usage);

}  // namespace ovvoc

#endif  // OVVOC_COMMON_JOB_TEXT_H_
