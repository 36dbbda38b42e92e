// The sandbox flags' defaults that depend on the host.
#include "agent/cli/sandbox_flags.h"

#include <sched.h>

#include <algorithm>
#include <catch2/catch.hpp>

namespace ovvoc::agent::cli {
namespace {

TEST_CASE("a cpuset's size: its ranges and single CPUs") {
  CHECK(CpusetSize("0") == 1);
  CHECK(CpusetSize("0-1") == 2);
  CHECK(CpusetSize("0,2-3") == 3);
  CHECK(CpusetSize("0-3,6") == 5);
  CHECK(CpusetSize("x,1") == 1);  // what does not parse counts for none
  CHECK(CpusetSize("3-1") == 0);
  CHECK(CpusetSize("") == 0);
}

TEST_CASE("a job proves as many proposals at once as its CPUs hold containers, 1 to 4") {
  SandboxFlags flags;  // --cpus 1, --memory-mib 512: this host's memory holds more than 4
  auto with = [&](double cpus, const std::string& cpuset, int slots = 1) {
    flags.cpus = cpus;
    flags.cpuset = cpuset;
    flags.slots = slots;
    return DefaultParallelTrials(flags);
  };
  CHECK(with(1.0, "0") == 1);
  CHECK(with(1.0, "0-1") == 2);
  CHECK(with(1.0, "0,2-3") == 3);
  CHECK(with(2.0, "0-3") == 2);
  CHECK(with(1.5, "0-3") == 2);  // whole containers only
  CHECK(with(0.5, "0-1") == 4);
  CHECK(with(1.0, "0-63") == 4);  // at most 4
  CHECK(with(4.0, "0-1") == 1);   // at least 1
  // The agent's jobs share the CPUs: 8 CPUs, 4 jobs at once, 2 containers each.
  CHECK(with(1.0, "0-7", 4) == 2);
  CHECK(with(1.0, "0-7", 16) == 1);

  // Memory: containers the host's memory cannot hold are not started side by side.
  flags.memory_mib = uint64_t{1} << 40;  // a TiB each
  CHECK(with(1.0, "0-3") == 1);
  flags.memory_mib = 512;

  // Without a cpuset: the CPUs the agent itself may run on.
  cpu_set_t set;
  CPU_ZERO(&set);
  REQUIRE(::sched_getaffinity(0, sizeof(set), &set) == 0);
  CHECK(with(1.0, "") == std::clamp(CPU_COUNT(&set), 1, 4));
}

}  // namespace
}  // namespace ovvoc::agent::cli
