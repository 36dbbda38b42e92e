// Sandbox backends for tests, used through the agent under test (agent_under_test_main.cc).
//
// FakeBackend stands in for containers where tests need jobs to run the whole pipeline without
// Docker or runc: each "container" is a fresh network namespace (so that the job's registry gateway
// and monitor have one to work in), and each command "succeeds" (exit 0) without running.
//
// HoldingBackend wraps any backend, fake or real, so that each command first holds for a while
// (a cancel ends the hold): tests cancel a job, or kill its agent, while it holds a container
// and a job disk. It logs "holding <phase command> for <duration>" when a hold starts.
//
// Test support only. Creating a namespace needs root, as the job disk does.
#ifndef OVVOC_TESTS_SUPPORT_FAKE_SANDBOX_H_
#define OVVOC_TESTS_SUPPORT_FAKE_SANDBOX_H_

#include <memory>

#include "absl/time/time.h"
#include "agent/sandbox/sandbox.h"

namespace ovvoc::testing {

std::unique_ptr<agent::sandbox::Backend> NewFakeBackend();

std::unique_ptr<agent::sandbox::Backend> NewHoldingBackend(
    std::unique_ptr<agent::sandbox::Backend> inner, absl::Duration hold);

}  // namespace ovvoc::testing

#endif  // OVVOC_TESTS_SUPPORT_FAKE_SANDBOX_H_
