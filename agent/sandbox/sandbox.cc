#include "agent/sandbox/sandbox.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/inert.h"
#include "common/time_util.h"

namespace ovvoc::agent::sandbox {
namespace {

template <typename T>
T Tighter(T agent, T job) {
  return job == T{} ? agent : std::min(agent, job);
}

}  // namespace

absl::Status CheckContainerName(absl::string_view name) {
  const bool ok = !name.empty() && name.size() <= 128 && name.front() != '.' &&
                  name.front() != '-' && std::all_of(name.begin(), name.end(), [](char c) {
                    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                           c == '.' || c == '-';
                  });
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "\"", InertLine(name, 160), "\" cannot name a container: 1-128 of A-Z a-z 0-9 _ . -"));
}

Limits Tighten(const Limits& agent, const ovvoc::v1::SandboxLimits& job) {
  Limits out = agent;
  out.memory_bytes = Tighter<uint64_t>(agent.memory_bytes, job.memory_bytes());
  out.cpu_millis = Tighter<uint32_t>(agent.cpu_millis, job.cpu_millis());
  out.pids = Tighter<uint32_t>(agent.pids, job.pids());
  out.disk_bytes = Tighter<uint64_t>(agent.disk_bytes, job.disk_bytes());
  out.tmp_bytes = Tighter<uint64_t>(agent.tmp_bytes, job.tmp_bytes());
  if (job.has_phase_timeout()) {
    out.phase_timeout = Tighter(agent.phase_timeout, FromProto(job.phase_timeout()));
  }
  if (job.has_job_timeout()) {
    out.job_timeout = Tighter(agent.job_timeout, FromProto(job.job_timeout()));
  }
  return out;
}

}  // namespace ovvoc::agent::sandbox
