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
  CHECK(DescribeEgress(usage) == "registry.npmjs.org:443: 14 connections, 3.1 MiB down, 22 KiB up");
  usage.set_connections(1);
  usage.set_failed(1);
  CHECK(DescribeEgress(usage) ==
        "registry.npmjs.org:443: 1 connection, 3.1 MiB down, 22 KiB up, 1 failed");
}

TEST_CASE("a result is made inert everywhere: nested, repeated, log excerpts as text") {
  ovvoc::v1::JobResult result;
  result.mutable_failure()->set_reason("\x1b[2K\rsucceeded");
  result.mutable_test()->set_log_excerpt("ok 1\n\x1b[31mnot ok 2\n");
  result.add_findings()->set_detail("CONNECT \x1b]0;x\x07");
  result.add_dependencies()->set_name("evil\x1b[8m");
  result.mutable_failure()->set_log_excerpt(std::string(200 * 1024, 'x'));
  MakeInert(result);
  CHECK(result.failure().reason() == "\\x1b[2K\\x0dsucceeded");
  CHECK(result.test().log_excerpt() == "ok 1\n\\x1b[31mnot ok 2\n");
  CHECK(result.findings(0).detail() == "CONNECT \\x1b]0;x\\x07");
  CHECK(result.dependencies(0).name() == "evil\\x1b[8m");
  CHECK(result.failure().log_excerpt().size() <= kMaxLogExcerpt);
  ovvoc::v1::JobResult again = result;
  MakeInert(again);
  CHECK(again.SerializeAsString() == result.SerializeAsString());
}

}  // namespace
}  // namespace ovvoc
