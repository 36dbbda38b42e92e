// The phases that run inside the sandbox: prepare it, install (registry-only network), build
// and test (no network at all). Each records its CommandOutcome in the job's result.
#ifndef OVVOC_AGENT_PIPELINE_SANDBOX_PHASES_H_
#define OVVOC_AGENT_PIPELINE_SANDBOX_PHASES_H_

#include <memory>
#include <vector>

#include "agent/pipeline/pipeline.h"
#include "agent/pipeline/sandbox_session.h"

namespace ovvoc::agent {

// Appends the sandbox phase and the baseline's lockfile, install, build and test, sharing one
// session, then the proposals phase (proposals.h).
void AddSandboxPhases(const SandboxSettings& settings, std::vector<std::unique_ptr<Phase>>& phases);

}  // namespace ovvoc::agent

#endif  // OVVOC_AGENT_PIPELINE_SANDBOX_PHASES_H_
