// How job results read to a human, the same in `ovvoc-agent update` and in the control plane's
// `job show`.
#ifndef OVVOC_COMMON_JOB_TEXT_H_
#define OVVOC_COMMON_JOB_TEXT_H_

#include <cstdint>
#include <string>

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

// "2.4 MiB", "812 KiB", "96 B".
std::string HumanBytes(uint64_t bytes);

// "registry.npmjs.org:443: 14 connections, 3.1 MiB down, 22 KiB up" (", 1 failed").
std::string DescribeEgress(const ovvoc::v1::EgressUsage& usage);

}  // namespace ovvoc

#endif  // OVVOC_COMMON_JOB_TEXT_H_
