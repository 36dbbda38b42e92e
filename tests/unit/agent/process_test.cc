#include "agent/process/process.h"

#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>

#include "agent/process/bounded_output.h"
#include "common/files.h"
#include "tests/support/temp_dir.h"

namespace ovvoc::agent {
namespace {

const std::vector<std::string> kEnv = {"PATH=/usr/bin:/bin"};

TEST_CASE("bounded output keeps the head and the tail") {
  BoundedOutput small(4);
  small.Append("abc");
  CHECK(small.Text() == "abc");
  BoundedOutput exact(4);
  exact.Append("abcdefgh");
  CHECK(exact.Text() == "abcdefgh");
  BoundedOutput big(4);
  for (char c = 'a'; c <= 'z'; ++c) big.Append(std::string(1, c));
  CHECK(big.Text() == "abcd\n[... 18 bytes omitted ...]\nwxyz");
  CHECK(big.total_bytes() == 26);
}

TEST_CASE("a process's exit code and merged output") {
  RunOptions run;
  run.argv = {"/bin/sh", "-c", "echo out; echo err >&2; exit 3"};
  run.env = kEnv;
  auto r = RunProcess(run);
  REQUIRE(r.ok());
  CHECK(r->exit_code == 3);
  CHECK(r->output == "out\nerr\n");
  CHECK(!r->timed_out);
}

TEST_CASE("a timeout stops the process and calls on_stop first") {
  RunOptions run;
  run.argv = {"/bin/sleep", "30"};
  run.env = kEnv;
  run.timeout = absl::Milliseconds(200);
  bool stopped = false;
  run.on_stop = [&] { stopped = true; };
  const absl::Time start = absl::Now();
  auto r = RunProcess(run);
  REQUIRE(r.ok());
  CHECK(r->timed_out);
  CHECK(stopped);
  CHECK(absl::Now() - start < absl::Seconds(10));  // the 5 s grace, then SIGKILL
}

// Regression: RunProcess stopped enforcing its timeout and cancel once the child closed its
// output, and then waited for it forever.
TEST_CASE("a process that closes its output is still stopped at its timeout and on cancel") {
  for (const bool use_cancel : {false, true}) {
    INFO((use_cancel ? "cancel" : "timeout"));
    RunOptions run;
    run.argv = {"/bin/sh", "-c", "exec >&- 2>&-; exec sleep 30"};
    run.env = kEnv;
    int polls = 0;
    if (use_cancel) {
      run.cancelled = [&polls] { return ++polls > 3; };
    } else {
      run.timeout = absl::Milliseconds(300);
    }
    const absl::Time start = absl::Now();
    auto r = RunProcess(run);
    REQUIRE(r.ok());
    CHECK((use_cancel ? r->cancelled : r->timed_out));
    CHECK(r->exit_code == 128 + SIGKILL);
    CHECK(absl::Now() - start < absl::Seconds(20));  // not the 30 s sleep
  }
}

TEST_CASE("a daemon holding the output does not keep RunProcess waiting") {
  RunOptions run;
  run.argv = {"/bin/sh", "-c", "sleep 30 & echo started"};
  run.env = kEnv;
  const absl::Time start = absl::Now();
  auto r = RunProcess(run);
  REQUIRE(r.ok());
  CHECK(r->exit_code == 0);
  CHECK(r->output == "started\n");
  CHECK(absl::Now() - start < absl::Seconds(3));
}

TEST_CASE("output can go to a file that a long-lived child inherits") {
  RunOptions run;
  run.argv = {"/bin/sh", "-c", "echo to-file; sleep 30 &"};
  run.env = kEnv;
  run.output_file = "/tmp/ovvoc-process-test-" + std::to_string(::getpid());
  const absl::Time start = absl::Now();
  auto r = RunProcess(run);
  REQUIRE(r.ok());
  CHECK(r->output == "to-file\n");
  CHECK(absl::Now() - start < absl::Seconds(2));
  ::unlink(run.output_file.c_str());
}

TEST_CASE("a program that cannot start is an exit code, a relative path an error") {
  RunOptions run;
  run.argv = {"/nonexistent/program"};
  auto r = RunProcess(run);
  REQUIRE(r.ok());
  CHECK(r->exit_code == 127);
  run.argv = {"sh"};
  CHECK(!RunProcess(run).ok());
}

TEST_CASE("a child process runs on its own until waited for") {
  testing::TempDir dir;
  RunOptions run;
  run.argv = {"/bin/sh", "-c", "read line; echo \"stdin=$line\"; echo err >&2; exit 3"};
  run.env = kEnv;
  run.output_file = dir.Sub("out");
  absl::StatusOr<ChildProcess> child = ChildProcess::Start(run);
  REQUIRE(child.ok());
  absl::StatusOr<int> code = child->Wait(absl::Seconds(10));
  REQUIRE(code.ok());
  CHECK(*code == 3);
  CHECK(*child->Wait(absl::ZeroDuration()) == 3);               // once reaped, the same answer
  CHECK(*files::ReadFile(run.output_file) == "stdin=\nerr\n");  // stdin is /dev/null
}

TEST_CASE("a child process still running is reported, killed on request or when dropped") {
  testing::TempDir dir;
  RunOptions run;
  run.argv = {"/bin/sleep", "30"};
  run.env = kEnv;
  run.output_file = dir.Sub("out");
  absl::StatusOr<ChildProcess> child = ChildProcess::Start(run);
  REQUIRE(child.ok());
  CHECK(absl::IsDeadlineExceeded(child->Wait(absl::Milliseconds(50)).status()));
  child->Kill();
  CHECK(*child->Wait(absl::ZeroDuration()) == 128 + SIGKILL);

  pid_t pid = 0;
  {
    absl::StatusOr<ChildProcess> dropped = ChildProcess::Start(run);
    REQUIRE(dropped.ok());
    pid = dropped->pid();
    ChildProcess moved = *std::move(dropped);  // the moved-from one owns nothing
  }
  CHECK(::kill(pid, 0) == -1);  // killed and reaped: no such process, not even a zombie
  CHECK(errno == ESRCH);
}

TEST_CASE("a child process needs an output file") {
  RunOptions run;
  run.argv = {"/bin/true"};
  CHECK(absl::IsInvalidArgument(ChildProcess::Start(run).status()));
}

}  // namespace
}  // namespace ovvoc::agent
