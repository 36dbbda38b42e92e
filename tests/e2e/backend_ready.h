// Whether a test may use a sandbox backend here: a backend that cannot run (not root, no
// dockerd, no runc, no job image) is a warning and a skip, except under CI=true, where it
// fails the test.
#ifndef OVVOC_TESTS_E2E_BACKEND_READY_H_
#define OVVOC_TESTS_E2E_BACKEND_READY_H_

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "tests/e2e/attack_harness.h"

namespace ovvoc::testing::e2e {

inline bool BackendReady(const std::string& backend) {
  const std::string reason = BackendUnavailableReason(backend);
  if (reason.empty()) return true;
  const char* ci = std::getenv("CI");
  if (ci != nullptr && std::string(ci) == "true") {
    FAIL("backend " << backend << " cannot run under CI=true: " << reason);
  }
  WARN("skipping backend " << backend << ": " << reason);
  return false;
}

}  // namespace ovvoc::testing::e2e

#endif  // OVVOC_TESTS_E2E_BACKEND_READY_H_
