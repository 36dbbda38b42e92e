// How job results read to a human, the same in `ovvoc-agent update` and in the control plane's
// `job show`.
#ifndef OVVOC_COMMON_JOB_TEXT_H_
#define OVVOC_COMMON_JOB_TEXT_H_

#include <cstdint>
#include <string>

#include "ovvoc/v1/job.pb.h"

namespace ovvoc {

// "2.4 MiB", "812 KiB", "96 B".
std::string HumanBytes(uint64_t bytes);

// "registry.npmjs.org:443: 14 connections, 3.1 MiB down, 22 KiB up" (", 1 failed").
std::string DescribeEgress(const ovvoc::v1::EgressUsage& usage);

}  // namespace ovvoc

#endif  // OVVOC_COMMON_JOB_TEXT_H_
