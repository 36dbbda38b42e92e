#include "tests/support/cluster.h"

#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/support/git_http_server.h"
#include "tests/support/subprocess.h"

namespace ovvoc::testing {
namespace {

// How long a daemon may take to say it is ready: a bound on a hang, not a timing. An agent with a
// fresh state dir first verifies and unpacks its job image (10-18 s seen under the suite's load on
// 2 cores: an agent killed mid-job on docker missed a 20 s window in CI), so the bound is wide;
// a daemon that is ready sooner is used at once.
constexpr std::chrono::milliseconds kStartTimeout{120'000};

absl::Status CliError(const std::vector<std::string>& args, const CliResult& r) {
  return absl::InternalError(
      absl::StrCat("`", absl::StrJoin(args, " "), "` exited ", r.exit_code, ": ", r.err, r.out));
}

}  // namespace

std::vector<std::string> MergeFlags(std::vector<std::string> defaults,
                                    const std::vector<std::string>& overrides) {
  for (size_t i = 0; i + 1 < overrides.size(); i += 2) {
    auto it = std::find(defaults.begin(), defaults.end(), overrides[i]);
    if (it != defaults.end()) {
      *(it + 1) = overrides[i + 1];
    } else {
      defaults.push_back(overrides[i]);
      defaults.push_back(overrides[i + 1]);
    }
  }
  return defaults;
}

std::vector<std::string> ChildEnv(const std::string& home) {
  return {"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", absl::StrCat("HOME=", home),
          "LANG=C.UTF-8", absl::StrCat("OVVOC_AGENT_IMAGE_CACHE=", OVVOC_TEST_IMAGE_CACHE)};
}

std::string CliResult::LastLine() const {
  absl::string_view text = absl::StripTrailingAsciiWhitespace(out);
  auto newline = text.rfind('\n');
  return std::string(newline == absl::string_view::npos ? text : text.substr(newline + 1));
}

CliResult RunCli(const std::string& binary, const std::vector<std::string>& args,
                 const std::string& home, std::chrono::milliseconds timeout) {
  ProcessSpec spec;
  spec.argv.push_back(binary);
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.env = ChildEnv(home);
  spec.timeout = timeout;
  absl::StatusOr<ProcessResult> result = RunProcess(spec);
  if (!result.ok()) return CliResult{-1, "", std::string(result.status().message())};
  return CliResult{result->exit_code, result->stdout_data, result->stderr_data};
}

std::string ControlPlaneBinary() { return OVVOC_CONTROL_PLANE_BIN; }
std::string AgentBinary() { return OVVOC_AGENT_BIN; }
std::string AgentUnderTestBinary() { return OVVOC_AGENT_UNDER_TEST_BIN; }

absl::StatusOr<std::unique_ptr<ControlPlaneUnderTest>> ControlPlaneUnderTest::Start(
    const std::string& data_dir, std::vector<std::string> flags) {
  auto cp = std::unique_ptr<ControlPlaneUnderTest>(new ControlPlaneUnderTest());
  cp->data_dir_ = data_dir;
  CliResult init = RunCli(ControlPlaneBinary(), {"init", "--data-dir", data_dir}, data_dir + "/..");
  if (init.exit_code != 0) return CliError({"init"}, init);
  cp->flags_ = MergeFlags({"--listen", "127.0.0.1:0", "--lease-ttl", "3s", "--heartbeat-interval",
                           "1s", "--poll-hold", "5s", "--reap-interval", "200ms"},
                          flags);
  if (absl::Status s = cp->Launch(cp->flags_); !s.ok()) return s;
  return cp;
}

absl::Status ControlPlaneUnderTest::Launch(const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {ControlPlaneBinary(), "serve", "--data-dir", data_dir_};
  argv.insert(argv.end(), flags.begin(), flags.end());
  absl::StatusOr<std::unique_ptr<Daemon>> daemon =
      Daemon::Start(argv, ChildEnv(data_dir_), data_dir_ + "/../control-plane.log");
  if (!daemon.ok()) return daemon.status();
  daemon_ = *std::move(daemon);
  absl::StatusOr<std::string> line = daemon_->WaitForLine("listening on ", kStartTimeout);
  if (!line.ok()) return line.status();
  address_ = line->substr(std::string("listening on ").size());
  return absl::OkStatus();
}

CliResult ControlPlaneUnderTest::Cli(std::vector<std::string> args) const {
  args.push_back("--data-dir");
  args.push_back(data_dir_);
  return RunCli(ControlPlaneBinary(), args, data_dir_);
}

absl::StatusOr<std::string> ControlPlaneUnderTest::Create(std::vector<std::string> args) const {
  CliResult r = Cli(args);
  if (r.exit_code != 0) return CliError(args, r);
  return r.LastLine();
}

absl::StatusOr<nlohmann::json> ControlPlaneUnderTest::Json(std::vector<std::string> args) const {
  args.push_back("--json");
  CliResult r = Cli(args);
  if (r.exit_code != 0) return CliError(args, r);
  nlohmann::json json = nlohmann::json::parse(r.out, nullptr, false);
  if (json.is_discarded()) return absl::InternalError(absl::StrCat("not JSON: ", r.out));
  return json;
}

absl::StatusOr<std::string> ControlPlaneUnderTest::Token(const std::string& org,
                                                         const std::string& pool,
                                                         const std::string& ttl) const {
  CliResult created = Cli({"org", "create", org});
  if (created.exit_code != 0 && !absl::StrContains(created.err, "already exists")) {
    return CliError({"org", "create", org}, created);
  }
  return Create({"enroll-token", "create", "--org", org, "--pool", pool, "--ttl", ttl});
}

absl::Status ControlPlaneUnderTest::Stop() {
  daemon_->Signal(SIGTERM);
  absl::StatusOr<int> code = daemon_->Wait(std::chrono::milliseconds(15'000));
  if (!code.ok()) return code.status();
  if (*code != 0) return absl::InternalError(absl::StrCat("control plane exited ", *code));
  return absl::OkStatus();
}

absl::Status ControlPlaneUnderTest::Restart() {
  if (daemon_->running()) {
    if (absl::Status s = Stop(); !s.ok()) return s;
  }
  return Launch(MergeFlags(flags_, {"--listen", address_}));
}

absl::StatusOr<nlohmann::json> ControlPlaneUnderTest::WaitForJob(
    const std::string& job_id, const std::set<std::string>& states,
    std::chrono::milliseconds timeout) const {
  const absl::Time deadline = absl::Now() + absl::FromChrono(timeout);
  nlohmann::json job;
  for (;;) {
    absl::StatusOr<nlohmann::json> shown = Json({"job", "show", job_id});
    if (!shown.ok()) return shown.status();
    job = *std::move(shown);
    if (states.count(job.value("state", ""))) return job;
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("job ", job_id, " is ", job.dump()));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

absl::StatusOr<std::string> AgentUnderTest::Register(const std::string& config_dir,
                                                     const std::string& server,
                                                     const std::string& token) {
  std::vector<std::string> args = {"register", "--server",     server,    "--token",
                                   token,      "--config-dir", config_dir};
  CliResult r = RunCli(AgentBinary(), args, config_dir + "/..");
  if (r.exit_code != 0) return CliError(args, r);
  return r.LastLine();
}

absl::StatusOr<std::unique_ptr<AgentUnderTest>> AgentUnderTest::Run(const std::string& config_dir,
                                                                    std::vector<std::string> flags,
                                                                    bool allow_file_remotes) {
  std::vector<std::string> argv = {AgentUnderTestBinary(), "run", "--config-dir", config_dir};
  if (allow_file_remotes) argv.push_back("--allow-file-remotes");
  if (std::find(flags.begin(), flags.end(), "--sandbox") == flags.end()) {
    argv.push_back("--sandbox");
    argv.push_back("fake");
  }
  argv.insert(argv.end(), flags.begin(), flags.end());
  auto agent = std::unique_ptr<AgentUnderTest>(new AgentUnderTest());
  absl::StatusOr<std::unique_ptr<Daemon>> daemon =
      Daemon::Start(argv, ChildEnv(config_dir + "/.."), config_dir + ".log");
  if (!daemon.ok()) return daemon.status();
  agent->daemon_ = *std::move(daemon);
  if (!agent->daemon_->WaitForLog("polling", kStartTimeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat("agent did not start:\n", agent->daemon_->Log()));
  }
  return agent;
}

absl::StatusOr<std::string> MakeSampleRepo(const std::string& dir) {
  std::string source = dir + "/sample-src";
  std::filesystem::create_directories(source);
  std::ofstream(source + "/package.json") << R"({
  "name": "sample",
  "version": "1.0.0",
  "scripts": {"test": "node -e \"process.exit(0)\""},
  "dependencies": {"left-pad": "^1.3.0", "lodash": "~4.17.20"},
  "devDependencies": {"is-number": "7.0.0"}
}
)";
  std::ofstream(source + "/index.js") << "module.exports = 42;\n";
  std::string bare = dir + "/sample.git";
  absl::StatusOr<std::string> commit = GitHttpServer::CreateBareRepoFromDir(source, bare);
  if (!commit.ok()) return commit.status();
  return "file://" + bare;
}

}  // namespace ovvoc::testing
