// What the agent takes from a container's init: an exit status, and nothing else.
#include "agent/sandbox/init_channel.h"

#include <catch2/catch.hpp>
#include <optional>

#include "agent/sandbox/job_uid.h"
#include "tests/support/temp_dir.h"

namespace ovvoc::agent::sandbox {
namespace {

TEST_CASE("the init's messages: an exit status is all that steers the agent") {
  std::optional<int> code;
  CHECK(ParseInitMessage("pid 12", false, code) == InitMessage::kStarted);
  CHECK(!code.has_value());
  CHECK(ParseInitMessage("exit 3", false, code) == InitMessage::kExited);
  CHECK(code == 3);
  // A second exit, or one after another, is not the init's protocol.
  CHECK(ParseInitMessage("exit 0", false, code) == InitMessage::kMalformed);
  CHECK(code == 3);

  std::optional<int> none;
  CHECK(ParseInitMessage("error cannot fork", false, none) == InitMessage::kCannotStart);
  CHECK(ParseInitMessage("", true, none) == InitMessage::kGone);
  // Regression: a hijacked init's free text became the job's failure reason.
  for (const char* hostile : {"exit -1", "exit 256", "exit 1x", "exit ", "pid -4", "pid 0",
                              "\x1b[2K\x1b[32msucceeded", "ready", "exit 0\nexit 1"}) {
    INFO(hostile);
    CHECK(ParseInitMessage(hostile, false, none) == InitMessage::kMalformed);
    CHECK(!none.has_value());
  }
}

TEST_CASE("live jobs never share a uid, a freed uid is reused") {
  testing::TempDir dir;
  absl::StatusOr<JobUid> first = JobUid::Acquire(dir.path());
  absl::StatusOr<JobUid> second = JobUid::Acquire(dir.path());
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK(first->uid() == kFirstJobUid);
  CHECK(second->uid() == kFirstJobUid + 1);
  const uint32_t freed = first->uid();
  first = absl::UnknownError("released");  // closes its lock
  absl::StatusOr<JobUid> third = JobUid::Acquire(dir.path());
  REQUIRE(third.ok());
  CHECK(third->uid() == freed);

  std::vector<JobUid> all;
  for (;;) {
    absl::StatusOr<JobUid> next = JobUid::Acquire(dir.path());
    if (!next.ok()) {
      CHECK(absl::IsResourceExhausted(next.status()));
      break;
    }
    all.push_back(*std::move(next));
  }
  CHECK(all.size() == kJobUids - 2);
}

}  // namespace
}  // namespace ovvoc::agent::sandbox
