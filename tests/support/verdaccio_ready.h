// For Catch tests that need tests/support/verdaccio.h: whether Verdaccio can run here. When it
// cannot, the test is skipped with a warning, except under CI=true, where that fails it: CI
// installs Verdaccio, so its absence there is a broken setup, not a reason to skip.
#ifndef OVVOC_TESTS_SUPPORT_VERDACCIO_READY_H_
#define OVVOC_TESTS_SUPPORT_VERDACCIO_READY_H_

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "tests/support/verdaccio.h"

namespace ovvoc::testing {

inline bool VerdaccioReady() {
  const std::string reason = Verdaccio::UnavailableReason();
  if (reason.empty()) return true;
  const char* ci = std::getenv("CI");
  if (ci != nullptr && std::string(ci) == "true") {
    FAIL("verdaccio cannot run under CI=true: " << reason);
  }
  WARN("skipping: " << reason);
  return false;
}

}  // namespace ovvoc::testing

#endif  // OVVOC_TESTS_SUPPORT_VERDACCIO_READY_H_
