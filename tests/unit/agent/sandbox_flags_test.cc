// The sandbox flags' defaults that depend on the host.
#include "agent/cli/sandbox_flags.h"

#include <sched.h>

#include <algorithm>
#include <catch2/catch.hpp>

namespace ovvoc::agent::cli {
namespace {

TEST_CASE("a job proves as many proposals at once as its CPUs hold containers, 1 to 4") {
  CHECK(DefaultParallelTrials(1.0, "0") == 1);
  CHECK(DefaultParallelTrials(1.0, "0-1") == 2);
  CHECK(DefaultParallelTrials(1.0, "0,2-3") == 3);
  CHECK(DefaultParallelTrials(2.0, "0-3") == 2);
  CHECK(DefaultParallelTrials(1.5, "0-3") == 2);  // whole containers only
  CHECK(DefaultParallelTrials(0.5, "0-1") == 4);
  CHECK(DefaultParallelTrials(1.0, "0-63") == 4);  // at most 4
  CHECK(DefaultParallelTrials(4.0, "0-1") == 1);   // at least 1
  CHECK(DefaultParallelTrials(1.0, "x,1") == 1);   // what does not parse counts for nothing

  // Without a cpuset: the CPUs the agent itself may run on.
  cpu_set_t set;
  CPU_ZERO(&set);
  REQUIRE(::sched_getaffinity(0, sizeof(set), &set) == 0);
  CHECK(DefaultParallelTrials(1.0, "") == std::clamp(CPU_COUNT(&set), 1, 4));
}

}  // namespace
}  // namespace ovvoc::agent::cli
