// Store records -> admin answers (control-plane/server/convert.h): whatever the store holds, an
// answer stays bounded and inert.
#include "control-plane/server/convert.h"

#include <catch2/catch.hpp>
#include <string>

#include "common/job_text.h"

namespace ovvoc::cp {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

// A finished job as an agent could once have it stored: every field it controls at megabytes.
JobRecord HugeJob() {
  JobRecord job;
  job.id = "job_0123456789abcdef";
  job.repo_id = "repo_0123456789abcdef";
  job.org_id = "org_0123456789abcdef";
  job.pool = "default";
  job.state = ovvoc::v1::JOB_STATE_FAILED;
  job.agent_id = "agt_0123456789abcdef";
  job.created_at = kNow;
  job.updated_at = kNow;
  const std::string huge(1 << 20, 'x');
  job.status_reason = "\x1b]0;owned\x07" + huge;
  job.progress.set_phase(huge);
  job.progress.set_message(huge);
  ovvoc::v1::JobResult& result = job.result.emplace();
  result.set_outcome(ovvoc::v1::JOB_OUTCOME_FAILED);
  result.set_head_commit(huge);
  result.set_agent_version(huge);
  result.mutable_failure()->set_phase(huge);
  result.mutable_failure()->set_reason(huge);
  result.mutable_failure()->set_log_excerpt(huge);
  for (int i = 0; i < 100'000; ++i) result.add_findings()->set_detail("CONNECT 203.0.113.7:443");
  return job;
}

TEST_CASE("a job list entry is a bounded summary whatever the stored result holds") {
  const JobRecord job = HugeJob();
  // Positive control: the whole job as stored is past gRPC's default 4 MiB receive limit.
  REQUIRE(job.result->ByteSizeLong() + job.progress.ByteSizeLong() > 4 * 1024 * 1024);

  ovvoc::v1::Job summary = ToSummaryProto(job, std::string(2048, 'u'), std::string(64, 'o'));
  CHECK(summary.ByteSizeLong() <= kMaxJobSummaryBytes);
  CHECK(summary.id() == job.id);
  CHECK(summary.state() == ovvoc::v1::JOB_STATE_FAILED);
  CHECK(summary.result().outcome() == ovvoc::v1::JOB_OUTCOME_FAILED);
  CHECK(summary.result().findings_size() == 0);
  CHECK(summary.result().failure().log_excerpt().empty());
  CHECK(summary.status_reason().find('\x1b') == std::string::npos);
  CHECK_THAT(summary.status_reason(), Catch::StartsWith("\\x1b]0;owned\\x07"));
}

TEST_CASE("a whole job is answered bounded, even one stored before results were bounded") {
  ovvoc::v1::Job whole = ToProto(HugeJob(), "file:///srv/repo.git", "acme");
  CHECK(whole.result().ByteSizeLong() <= kMaxStoredResult);
  CHECK(whole.result().findings_size() == 200);
  CHECK(whole.result().findings(199).kind() == kTruncatedFindingKind);
  CHECK(whole.progress().ByteSizeLong() <= 2 * 1024);
  CHECK(whole.status_reason().size() <= kMaxField);
  CHECK(whole.ByteSizeLong() <= kMaxStoredResult + 8 * 1024);
}

TEST_CASE("an agent's hostname and version are answered inert, whatever the store holds") {
  AgentRecord agent;
  agent.id = "agt_x";
  agent.hostname = "host\x1b[2J\x1b]52;c;QUFB\x07\xc2\x9b\xe2\x80\xae" + std::string(1000, 'h');
  agent.version = "1.0\x1b[8m" + std::string(1000, 'v');
  ovvoc::v1::Agent answer = ToProto(agent, "acme");
  CHECK(answer.hostname().size() <= 255);
  CHECK(answer.version().size() <= 64);
  CHECK_THAT(answer.hostname(),
             Catch::StartsWith("host\\x1b[2J\\x1b]52;c;QUFB\\x07\\u009b\\u202e"));
  CHECK_THAT(answer.version(), Catch::StartsWith("1.0\\x1b[8m"));
}

}  // namespace
}  // namespace ovvoc::cp
