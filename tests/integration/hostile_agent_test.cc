// What an agent, or a repository through it, may say that the real ovvoc-agent never would:
// escape sequences in its hostname and results, results far larger than any job's. And the data
// dir `init` is pointed at, which holds the CA key.
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "common/files.h"
#include "google/protobuf/util/json_util.h"
#include "ovvoc/v1/admin.pb.h"
#include "ovvoc/v1/agent.grpc.pb.h"
#include "tests/support/cluster.h"
#include "tests/support/raw_agent.h"

namespace ovvoc::testing {
namespace {

// What a terminal obeys: clear the screen, set the window title, write the clipboard (OSC 52), a
// C1 CSI, a right-to-left override, and a first-strong isolate (which protobuf's JSON printer
// passes through as it is).
const std::string kHostile =
    "\x1b[2J"
    "\x1b]0;pwned\x07"
    "\x1b]52;c;cm0gLXJmIH4=\x07"
    "\xc2\x9b"
    "31m"
    "\xe2\x80\xae"
    "\xe2\x81\xa8"
    "evil";

// Where `text` holds a byte sequence that would act on a terminal instead of showing: C0
// controls but newline, DEL, C1 controls, bidi controls and isolates. npos when none.
size_t FirstLiveControl(const std::string& text) {
  const auto at = [&text](size_t i) {
    return i < text.size() ? static_cast<unsigned char>(text[i]) : 0u;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = at(i);
    if ((c < 0x20 && c != '\n') || c == 0x7f) return i;
    if (c == 0xc2 && at(i + 1) >= 0x80 && at(i + 1) <= 0x9f) return i;
    if (c == 0xe2 && at(i + 1) == 0x80 && at(i + 2) >= 0xaa && at(i + 2) <= 0xae) return i;
    if (c == 0xe2 && at(i + 1) == 0x81 && at(i + 2) >= 0xa6 && at(i + 2) <= 0xa9) return i;
  }
  return std::string::npos;
}

void CheckShownInert(const CliResult& shown) {
  INFO(shown.err << shown.out);
  REQUIRE(shown.exit_code == 0);
  CHECK(FirstLiveControl(shown.out) == std::string::npos);
}

// A control plane and agents made of the protocol alone.
struct Hostile {
  TempDir dir;
  std::unique_ptr<ControlPlaneUnderTest> cp;
  std::string ca_pem;

  Hostile() {
    auto started = ControlPlaneUnderTest::Start(dir.Sub("cp"));
    INFO(started.status().ToString());
    REQUIRE(started.ok());
    cp = *std::move(started);
    auto ca = files::ReadFile(dir.Sub("cp/ca.pem"));
    REQUIRE(ca.ok());
    ca_pem = *ca;
  }

  RawAgent Enroll(const std::string& hostname) const {
    auto token = cp->Token("acme");
    REQUIRE(token.ok());
    auto agent = RawAgent::Enroll(cp->address(), ca_pem, *token, hostname);
    INFO(agent.status().ToString());
    REQUIRE(agent.ok());
    return *std::move(agent);
  }

  // Queues a job for a repository of acme's and leases it as `agent`.
  ovvoc::v1::JobSpec QueueAndLease(const RawAgent& agent) const {
    auto repo = cp->Create(
        {"repo", "add", "--org", "acme", "--url", "https://git.example.com/acme/web.git"});
    REQUIRE(repo.ok());
    REQUIRE(cp->Create({"job", "create", "--repo", *repo}).ok());
    ovvoc::v1::PollJobRequest request;
    request.set_slots_free(1);
    ovvoc::v1::PollJobResponse response;
    grpc::Status polled =
        agent.NewStub()->PollJob(ContextWithDeadline(10).get(), request, &response);
    INFO(polled.error_message());
    REQUIRE(polled.ok());
    REQUIRE(response.has_job());
    return response.job();
  }

  static grpc::Status Report(const RawAgent& agent, const ovvoc::v1::JobSpec& job,
                             const ovvoc::v1::JobResult& result) {
    ovvoc::v1::ReportResultRequest request;
    request.set_job_id(job.job_id());
    request.set_attempt(job.lease().attempt());
    *request.mutable_result() = result;
    ovvoc::v1::ReportResultResponse response;
    return agent.NewStub()->ReportResult(ContextWithDeadline(20).get(), request, &response);
  }
};

TEST_CASE("init refuses a data dir another user owns, a symlink, and one others may write in") {
  if (::geteuid() != 0) {
    WARN("skipped: handing a directory to another user needs root");
    return;
  }
  TempDir dir;
  auto init = [&dir](const std::string& data_dir) {
    return RunCli(ControlPlaneBinary(), {"init", "--data-dir", data_dir}, dir.path());
  };
  auto stat_of = [](const std::string& path) {
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    return st;
  };

  // Positive control: a directory of our own that others may only read is taken, and narrowed.
  const std::string own = dir.Sub("own");
  REQUIRE(::mkdir(own.c_str(), 0755) == 0);
  REQUIRE(::chmod(own.c_str(), 0755) == 0);
  CHECK(init(own).exit_code == 0);
  CHECK((stat_of(own).st_mode & 07777) == 0700);

  const std::string theirs = dir.Sub("theirs");
  REQUIRE(::mkdir(theirs.c_str(), 0700) == 0);
  REQUIRE(::chown(theirs.c_str(), 65534, 65534) == 0);
  CliResult refused = init(theirs);
  CHECK(refused.exit_code != 0);
  CHECK_THAT(refused.err, Catch::Contains("is owned by") && Catch::Contains("uid 65534") &&
                              Catch::Contains("not by") && Catch::Contains("new path"));
  CHECK(stat_of(theirs).st_uid == 65534);
  CHECK_FALSE(std::filesystem::exists(theirs + "/ca.key"));

  const std::string target = dir.Sub("target");
  REQUIRE(::mkdir(target.c_str(), 0700) == 0);
  REQUIRE(::symlink(target.c_str(), dir.Sub("link").c_str()) == 0);
  CliResult link = init(dir.Sub("link"));
  CHECK(link.exit_code != 0);
  CHECK_THAT(link.err, Catch::Contains("symbolic link"));
  CHECK_FALSE(std::filesystem::exists(target + "/ca.key"));

  const std::string shared = dir.Sub("shared");
  REQUIRE(::mkdir(shared.c_str(), 0700) == 0);
  REQUIRE(::chmod(shared.c_str(), 01777) == 0);
  CliResult writable = init(shared);
  CHECK(writable.exit_code != 0);
  CHECK_THAT(writable.err, Catch::Contains("writable by its group or by others"));
  CHECK((stat_of(shared).st_mode & 07777) == 01777);
  CHECK_FALSE(std::filesystem::exists(shared + "/ca.key"));
}

TEST_CASE("agent list shows a hostname full of escape sequences inert, in text and JSON") {
  Hostile h;
  h.Enroll("build-01" + kHostile + std::string(10'000, 'h'));
  // Positive control: protobuf's JSON printer escapes C0 and C1 controls but not all of them.
  ovvoc::v1::Agent raw;
  raw.set_hostname(kHostile);
  std::string printed;
  REQUIRE(google::protobuf::util::MessageToJsonString(raw, &printed).ok());
  CHECK(FirstLiveControl(printed) != std::string::npos);

  CliResult human = h.cp->Cli({"agent", "list"});
  CheckShownInert(human);
  CHECK_THAT(human.out, Catch::Contains("build-01\\x1b[2J\\x1b]0;pwned\\x07"));
  CHECK(human.out.size() < 1024);  // the hostname is stored bounded
  CliResult json = h.cp->Cli({"agent", "list", "--json"});
  CheckShownInert(json);
  CHECK_THAT(json.out, Catch::Contains("build-01\\\\x1b[2J"));
}

TEST_CASE("job show and job list print what a hostile agent and repository reported inert") {
  Hostile h;
  RawAgent agent = h.Enroll("raw");
  ovvoc::v1::JobSpec job = h.QueueAndLease(agent);

  ovvoc::v1::HeartbeatRequest heartbeat;
  heartbeat.set_job_id(job.job_id());
  heartbeat.set_attempt(job.lease().attempt());
  heartbeat.mutable_progress()->set_phase("install" + kHostile);
  heartbeat.mutable_progress()->set_message(kHostile);
  ovvoc::v1::HeartbeatResponse beat;
  REQUIRE(agent.NewStub()->Heartbeat(ContextWithDeadline(10).get(), heartbeat, &beat).ok());

  // What a repository's package.json and its install scripts can put in a result.
  ovvoc::v1::JobResult result;
  result.set_outcome(ovvoc::v1::JOB_OUTCOME_FAILED);
  result.set_head_commit(kHostile);
  result.set_agent_version(kHostile);
  ovvoc::v1::Dependency* dependency = result.add_dependencies();
  dependency->set_name("left-pad" + kHostile);
  dependency->set_spec("^1.0.0" + kHostile);
  ovvoc::v1::SecurityFinding* finding = result.add_findings();
  finding->set_kind(kHostile);
  finding->set_detail(kHostile);
  result.mutable_failure()->set_phase("test" + kHostile);
  result.mutable_failure()->set_reason(kHostile);
  result.add_timings()->set_phase(kHostile);
  ovvoc::v1::EgressUsage* egress = result.add_egress();
  egress->set_host(kHostile);
  egress->set_port(443);
  result.mutable_baseline()->mutable_install()->set_command("npm ci" + kHostile);
  REQUIRE(Hostile::Report(agent, job, result).ok());

  CliResult shown = h.cp->Cli({"job", "show", job.job_id()});
  CheckShownInert(shown);
  CHECK_THAT(shown.out, Catch::Contains("left-pad\\x1b[2J"));
  for (std::vector<std::string> args :
       {std::vector<std::string>{"job", "show", job.job_id()}, {"job", "list"}}) {
    INFO(args[1]);
    args.push_back("--json");
    CheckShownInert(h.cp->Cli(args));
    args.pop_back();
    CheckShownInert(h.cp->Cli(args));
  }
}

TEST_CASE("results far past any real job's leave job list and job show answering") {
  Hostile h;
  RawAgent agent = h.Enroll("raw");
  size_t reported = 0;
  std::vector<std::string> jobs;
  for (int i = 0; i < 3; ++i) {
    ovvoc::v1::JobSpec job = h.QueueAndLease(agent);
    ovvoc::v1::JobResult result;
    result.set_outcome(ovvoc::v1::JOB_OUTCOME_SUCCEEDED);
    while (result.ByteSizeLong() < 1'800'000) {
      for (int j = 0; j < 1000; ++j) {
        ovvoc::v1::SecurityFinding* finding = result.add_findings();
        finding->set_kind("blocked-egress");
        finding->set_detail("CONNECT 203.0.113.7:443");
      }
    }
    // Opaque bytes in a field number the schema does not have.
    result.GetReflection()->MutableUnknownFields(&result)->AddLengthDelimited(
        999, std::string(100'000, 'u'));
    reported += result.ByteSizeLong();
    grpc::Status sent = Hostile::Report(agent, job, result);
    INFO(sent.error_message());
    REQUIRE(sent.ok());
    jobs.push_back(job.job_id());
  }
  // Positive control: whole, the three results are past gRPC's default 4 MiB receive limit,
  // which a `job list` of whole results ran into.
  CHECK(reported > 4u * 1024 * 1024);

  auto listed = h.cp->Json({"job", "list"});
  INFO(listed.status().ToString());
  REQUIRE(listed.ok());
  REQUIRE((*listed)["jobs"].size() == 3);
  for (const auto& entry : (*listed)["jobs"]) CHECK_FALSE(entry["result"].contains("findings"));
  for (const std::string& id : jobs) {
    auto shown = h.cp->Json({"job", "show", id});
    INFO(shown.status().ToString());
    REQUIRE(shown.ok());
    const auto& kept = (*shown)["result"]["findings"];
    CHECK(kept.size() == 200);
    CHECK(kept.back()["kind"] == "truncated");
    CHECK((*shown)["state"] == "JOB_STATE_SUCCEEDED");
  }
}

// The baseline memo, through the real control plane: what a job's agent reports beside its
// result reaches its repository's next job (and no other repository's); a memo that claims
// another job is not kept.
TEST_CASE("a baseline memo reported with a job's result is sent with its repository's next job") {
  Hostile h;
  const RawAgent agent = h.Enroll("memo-agent");
  auto repo = h.cp->Create(
      {"repo", "add", "--org", "acme", "--url", "https://git.example.com/acme/memo.git"});
  REQUIRE(repo.ok());
  auto lease = [&](const std::string& repo_id) {
    REQUIRE(h.cp->Create({"job", "create", "--repo", repo_id}).ok());
    ovvoc::v1::PollJobRequest request;
    request.set_slots_free(1);
    ovvoc::v1::PollJobResponse response;
    REQUIRE(agent.NewStub()->PollJob(ContextWithDeadline(10).get(), request, &response).ok());
    REQUIRE(response.has_job());
    return response.job();
  };
  auto report = [&](const ovvoc::v1::JobSpec& job, const ovvoc::v1::BaselineMemo& memo) {
    ovvoc::v1::ReportResultRequest request;
    request.set_job_id(job.job_id());
    request.set_attempt(job.lease().attempt());
    request.mutable_result()->set_outcome(ovvoc::v1::JOB_OUTCOME_SUCCEEDED);
    *request.mutable_baseline_memo() = memo;
    ovvoc::v1::ReportResultResponse response;
    grpc::Status status =
        agent.NewStub()->ReportResult(ContextWithDeadline(20).get(), request, &response);
    INFO(status.error_message());
    REQUIRE(status.ok());
  };
  auto memo_of = [](const ovvoc::v1::JobSpec& job, char key) {
    ovvoc::v1::BaselineMemo memo;
    memo.set_key(std::string(64, key));
    memo.set_job_id(job.job_id());
    memo.mutable_trial()->mutable_build()->set_skipped(true);
    (*memo.mutable_installed()->mutable_packages())["node_modules/a"] = std::string(64, '1');
    return memo;
  };

  const ovvoc::v1::JobSpec first = lease(*repo);
  CHECK(!first.has_baseline_memo());
  report(first, memo_of(first, 'a'));
  const ovvoc::v1::JobSpec second = lease(*repo);
  REQUIRE(second.has_baseline_memo());
  CHECK(second.baseline_memo().key() == std::string(64, 'a'));
  CHECK(second.baseline_memo().job_id() == first.job_id());
  CHECK(second.baseline_memo().installed().packages().at("node_modules/a") == std::string(64, '1'));
  // A memo naming another job than the one it is reported with is not kept.
  report(second, memo_of(first, 'b'));
  const ovvoc::v1::JobSpec third = lease(*repo);
  CHECK(third.baseline_memo().key() == std::string(64, 'a'));
  report(third, memo_of(third, 'c'));
  // Another repository's job gets none.
  auto other = h.cp->Create(
      {"repo", "add", "--org", "acme", "--url", "https://git.example.com/acme/other.git"});
  REQUIRE(other.ok());
  CHECK(!lease(*other).has_baseline_memo());
  CHECK(lease(*repo).baseline_memo().key() == std::string(64, 'c'));
}

}  // namespace
}  // namespace ovvoc::testing
