#include "common/job_text.h"

#include <catch2/catch.hpp>

namespace ovvoc {
namespace {

TEST_CASE("byte counts read as a human would write them") {
  CHECK(HumanBytes(0) == "0 B");
  CHECK(HumanBytes(1023) == "1023 B");
  CHECK(HumanBytes(1024) == "1 KiB");
  CHECK(HumanBytes(812 * 1024 + 5) == "812 KiB");
  CHECK(HumanBytes(5 * 1024 * 1024 / 2) == "2.5 MiB");
}

TEST_CASE("where the install's network went, in one line") {
  ovvoc::v1::EgressUsage usage;
  usage.set_host("registry.npmjs.org");
  usage.set_port(443);
  usage.set_connections(14);
  usage.set_bytes_down(3 * 1024 * 1024 + 100 * 1024);
  usage.set_bytes_up(22 * 1024);
  CHECK(DescribeEgress(usage) ==
        "registry.npmjs.org:443: 14 connections, 3.1 MiB down, 22 KiB up");
  usage.set_connections(1);
  usage.set_failed(1);
  CHECK(DescribeEgress(usage) ==
        "registry.npmjs.org:443: 1 connection, 3.1 MiB down, 22 KiB up, 1 failed");
}

}  // namespace
}  // namespace ovvoc
