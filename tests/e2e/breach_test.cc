// The breaches an attacker found in the sandbox (issue 7), each as an attack that failed on the
// main before the fix and must be contained after it, on both backends. The fixtures are under
// tests/fixtures/attacks/ (README.md there lists them).
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/attack_checks.h"
#include "tests/e2e/attack_harness.h"
#include "tests/e2e/backend_ready.h"
#include "tests/support/cluster.h"
#include "tests/support/git_bomb.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace ovvoc::testing::e2e {
namespace {

namespace fs = std::filesystem;

void CopyTool(const Attack& attack) {
  std::error_code ec;
  fs::copy_file(ToolBinary(), attack.src() + "/tool", ec);
  REQUIRE_FALSE(ec);
  REQUIRE(::chmod((attack.src() + "/tool").c_str(), 0755) == 0);
}

bool Reported(const std::vector<std::string>& findings, absl::string_view what) {
  return std::any_of(findings.begin(), findings.end(),
                     [&](const std::string& d) { return absl::StrContains(d, what); });
}

// Regressions: a job opened /proc/1/mem and wrote code into its init; spoke on the init channel
// and its escape sequences reached the terminal; filled the host's disk through /proc/1/fd/1;
// and `kill -TERM 1` ended the job and lost the phase's log.
TEST_CASE("attack init-hijack: the container's init is out of the job's reach", "[e2e][attack]") {
  const std::string backend = GENERATE(as<std::string>{}, "oci", "docker");
  if (!BackendReady(backend)) return;
  Attack attack("init-hijack", backend);
  const AgentRun run = RunAttack(attack, {}, {}, [&] { CopyTool(attack); });
  INFO(run.Describe());
  CHECK(run.Outcome() == "JOB_OUTCOME_SUCCEEDED");
  std::map<std::string, std::string> v = run.Values("test");
  REQUIRE(v["INIT_HIJACK_DONE"] == "1");  // SIGTERM to PID 1 ended nothing, lost nothing
  for (const char* key : {"INIT_MEM_WRITE", "INIT_ENVIRON", "INIT_FD_LIST", "INIT_STDOUT_WRITE",
                          "INIT_STDERR_WRITE"}) {
    INFO(key << "=" << v[key]);
    CHECK(v[key] == "EACCES");
  }
  CHECK(v["INIT_SOCKET"] == "ENOENT");  // the channel's socket is gone once the init connected
  // Positive controls: the same ways into the job's own process work.
  CHECK(v["SELF_MEM_OPEN"] == "opened");
  CHECK(v["SELF_FD_LIST"] == "listed");
  CHECK(v["SIGTERM_INIT"] == "sent");
  // Regression (red team): the kernel's SIGIO-style SIGTERM reads as from outside (pid 0).
  CHECK(v["SIGIO_SETSIG"] == "sent");
  CHECK(v["SIGIO_WRITE"] == "sent");
  CHECK(v["INIT_ALIVE"] == "yes");
  // The escape sequences arrive as text, in the result and in what the agent prints.
  CHECK(absl::StrContains(run.Log("test"), "ESCAPE_ATTACK=\\x1b]0;pwned\\x07\\x0d\\x1b[2K"));
  CHECK(absl::StrContains(run.Log("test"), "\\u202e"));
  for (const std::string* text : {&run.out, &run.err}) {
    CHECK(text->find('\x1b') == std::string::npos);
    CHECK(text->find('\r') == std::string::npos);
  }
  CHECK(run.result.dump().find('\x1b') == std::string::npos);
  CheckContained(attack, run);
}

// Regression: an install script grew package.json past the agent's read limit; build and test
// were then "skipped (no script)" and the job succeeded with `"test": "exit 1"`.
TEST_CASE("attack erase-tests: what build and test run comes from the manifest as cloned",
          "[e2e][attack]") {
  const std::string backend = GENERATE(as<std::string>{}, "oci", "docker");
  if (!BackendReady(backend)) return;
  Attack attack("erase-tests", backend);
  const AgentRun run = RunAttack(attack);
  INFO(run.Describe());
  CHECK(absl::StrContains(run.Log("install"), "ERASED=1"));  // the attack ran
  CheckStoppedIn(run, "test", "TERMINATION_EXITED");
  CHECK(PhaseExit(run, "test") == 1);
  CHECK(run.result["baseline"]["build"].value("skipped", false));  // the clone has no build script
  CHECK(absl::StrContains(run.Log("test"), "ORIGINAL_TEST_RAN=1"));
  CHECK_FALSE(absl::StrContains(run.Log("test"), "TAMPERED"));
  const std::vector<std::string> tampered = run.Findings("manifest-tampered");
  REQUIRE(tampered.size() == 1);
  CHECK(absl::StrContains(tampered[0], "before test"));
  CheckContained(attack, run);
}

// Regression (red team): with package.json put back, an install script still turned a failing
// test into a pass through npm's configuration: a script shell that runs nothing (the project's
// .npmrc), a hook preloaded through node-options (the user's .npmrc).
TEST_CASE("attack npm-config-hijack: npm runs the cloned commands the cloned way",
          "[e2e][attack]") {
  const std::string backend = GENERATE(as<std::string>{}, "oci", "docker");
  if (!BackendReady(backend)) return;
  Attack attack("npm-config-hijack", backend);
  const AgentRun run = RunAttack(attack);
  INFO(run.Describe());
  CHECK(absl::StrContains(run.Log("install"), "NPM_CONFIG_HIJACKED=1"));  // the attack ran
  CheckStoppedIn(run, "test", "TERMINATION_EXITED");
  CHECK(PhaseExit(run, "test") == 1);
  CHECK(absl::StrContains(run.Log("test"), "REAL_TEST_RAN=1"));
  CHECK_FALSE(absl::StrContains(run.Log("test"), "FAKE_SHELL_RAN"));
  CHECK_FALSE(absl::StrContains(run.Log("test"), "HOOK_RAN"));
  const std::vector<std::string> tampered = run.Findings("manifest-tampered");
  CHECK(Reported(tampered, ".npmrc was changed inside the sandbox before test"));
  const std::vector<std::string> shadowed = run.Findings("shadowed-program");
  CHECK(Reported(shadowed, "node_modules/.bin/git"));
  CheckContained(attack, run);
}

// Regression (red team, round three): with package.json put back, an install script rewrote the
// project's own test file, and a failing test passed.
TEST_CASE("attack rewrite-test: the repository's files are put back after the install",
          "[e2e][attack]") {
  const std::string backend = GENERATE(as<std::string>{}, "oci", "docker");
  if (!BackendReady(backend)) return;
  Attack attack("rewrite-test", backend);
  const AgentRun run = RunAttack(attack);
  INFO(run.Describe());
  CHECK(absl::StrContains(run.Log("install"), "REWRITTEN=1"));  // the attack ran
  CheckStoppedIn(run, "test", "TERMINATION_EXITED");
  CHECK(PhaseExit(run, "test") == 1);
  CHECK(absl::StrContains(run.Log("test"), "HELPER_LOADED=1"));  // the removed file is back
  CHECK(absl::StrContains(run.Log("test"), "ORIGINAL_TEST_RAN=1"));
  CHECK_FALSE(absl::StrContains(run.Log("test"), "FAKE_PASS"));
  const std::vector<std::string> tampered = run.Findings("repo-tampered");
  REQUIRE(tampered.size() == 1);
  CHECK(absl::StrContains(tampered[0], "changed 2 of the repository's own files"));
  CHECK(absl::StrContains(tampered[0], "test/t.js"));
  CHECK(absl::StrContains(tampered[0], "lib/helper.js"));
  CheckContained(attack, run);
}

// Regression (red team, issue 12): an install script planted a file monitor in the job's own
// .git/config (and a hook): git runs it on `git status`, which tests, lint-staged and changesets
// call, so that dependency code ran again while the project's tests did. The agent puts the .git
// it made back before build and test.
TEST_CASE("attack git-hook: what an install plants in the job's .git never runs", "[e2e][attack]") {
  const std::string backend = GENERATE(as<std::string>{}, "oci", "docker");
  if (!BackendReady(backend)) return;
  Attack attack("git-hook", backend);
  const AgentRun run = RunAttack(attack);
  INFO(run.Describe());
  CHECK(absl::StrContains(run.Log("install"), "PLANTED=1"));  // the attack ran
  CheckStoppedIn(run, "test", "TERMINATION_EXITED");
  CHECK(PhaseExit(run, "test") == 1);
  CHECK(absl::StrContains(run.Log("test"), "REAL_TEST_RAN=1"));
  CHECK_FALSE(absl::StrContains(run.Log("test"), "HOOK_RAN"));
  CHECK_FALSE(absl::StrContains(run.Log("test"), "GIT_FAILED"));
  CheckContained(attack, run);
}

// Regression (red team): npm turns on node's compile cache in /tmp, which lives as long as the
// container; an install script planted a cache entry that ran instead of npm's own code in the
// test phase, and `"test": "exit 1"` passed.
TEST_CASE("attack compile-cache: code planted in node's cache does not run as npm",
          "[e2e][attack]") {
  const std::string backend = GENERATE(as<std::string>{}, "oci", "docker");
  if (!BackendReady(backend)) return;
  Attack attack("compile-cache", backend);
  const AgentRun run = RunAttack(attack);
  INFO(run.Describe());
  std::map<std::string, std::string> install = run.Values("install");
  CHECK(install["POISONED"] == "1");
  CHECK(install["CONTROL_FAKE_RAN"] == "1");  // an npm that used the cache ran the fake
  CheckStoppedIn(run, "test", "TERMINATION_EXITED");
  CHECK(PhaseExit(run, "test") == 1);
  CHECK_FALSE(absl::StrContains(run.Log("test"), "all 42 tests passed"));
  CheckContained(attack, run);
}

// Regression (red team): with node_modules/.bin a symlink, the check for shadowed programs
// listed nothing and a planted `node` ran the test unseen.
TEST_CASE("attack bin-symlink: a node_modules/.bin that is not a directory is a finding",
          "[e2e][attack]") {
  const std::string backend = GENERATE(as<std::string>{}, "oci", "docker");
  if (!BackendReady(backend)) return;
  Attack attack("bin-symlink", backend);
  const AgentRun run = RunAttack(attack);
  INFO(run.Describe());
  CHECK(absl::StrContains(run.Log("install"), "PLANTED=1"));
  // The planted node runs (dependency code runs in test by design): the finding says so.
  const std::vector<std::string> shadowed = run.Findings("shadowed-program");
  REQUIRE(shadowed.size() == 1);
  CHECK(absl::StrContains(shadowed[0], "node_modules/.bin is not a plain directory before test"));
  CheckContained(attack, run);
}

// Regression: from /proc and /sys a job read the kernel command line, boot_id, the host paths
// of the state dir and image, and another job's disk and I/O.
TEST_CASE("attack neighbours: no host path and nothing of other jobs is visible", "[e2e][attack]") {
  const std::string backend = GENERATE(as<std::string>{}, "oci", "docker");
  if (!BackendReady(backend)) return;
  Attack attack("neighbours", backend);
  const AgentRun run = RunAttack(attack);
  INFO(run.Describe());
  CHECK(run.Outcome() == "JOB_OUTCOME_SUCCEEDED");
  std::map<std::string, std::string> raw = run.Values("test");
  REQUIRE(raw["NEIGHBOURS_DONE"] == "\"1\"");
  std::map<std::string, std::string> v;
  for (const auto& [key, value] : raw) {
    nlohmann::json parsed = nlohmann::json::parse(value, nullptr, false);
    v[key] = parsed.is_string() ? parsed.get<std::string>() : value;
  }
  const std::string host_cmdline = ReadFile("/proc/cmdline");
  const std::string host_boot_id = ReadFile("/proc/sys/kernel/random/boot_id");
  REQUIRE(!host_boot_id.empty());
  CHECK(v["CMDLINE"].empty());
  CHECK(v["BOOT_ID"].empty());
  for (const char* key : {"DISKSTATS", "PARTITIONS", "LOCKS"}) {
    INFO(key << "=" << v[key]);
    CHECK(v[key].empty());
  }
  for (const char* key :
       {"SYS_BLOCK", "SYS_DEVICES_VIRTUAL_BLOCK", "SYS_FS_EXT4", "SYS_CLASS", "PROC_FS_EXT4"}) {
    INFO(key << "=" << v[key]);
    CHECK((v[key].empty() || absl::StartsWith(v[key], "error:")));
  }
  CHECK(absl::StrContains(v["SYS_FS_CGROUP"], "memory"));  // what node needs is still there
  // No path of the agent's, the test's or the image's host side, anywhere.
  std::string everything = absl::StrJoin(raw, "\n", absl::PairFormatter("="));
  for (const std::string& host_path :
       {attack.state_dir(), attack.Path(""), std::string("/var/lib/ovvoc"),
        std::string("/run/ovvoc"), std::string("/var/lib/docker/containers")}) {
    INFO("host path " << host_path);
    CHECK_FALSE(absl::StrContains(everything, host_path));
  }
  CHECK_FALSE(absl::StrContains(everything, absl::StripAsciiWhitespace(host_boot_id)));
  CheckContained(attack, run);
}

// Regressions: UDP-Lite and IPv6 packets behind an extension header left no finding; after 64
// distinct decoys the real DNS exfiltration and C2 attempt were only "5 more".
TEST_CASE("attack egress-hidden: decoys and odd protocols hide no attempt", "[e2e][attack]") {
  const std::string backend = GENERATE(as<std::string>{}, "oci", "docker");
  if (!BackendReady(backend)) return;
  Attack attack("egress-hidden", backend);
  const AgentRun run = RunAttack(attack, {}, {}, [&] { CopyTool(attack); });
  INFO(run.Describe());
  std::map<std::string, std::string> v = run.Values("install");
  REQUIRE(v["EGRESS_TOOL_DONE"] == "1");
  CHECK(v["DECOYS"] == "2000");
  const std::vector<std::string> blocked = run.Findings("blocked-egress");
  INFO(absl::StrJoin(blocked, "\n"));
  CHECK(Reported(blocked, "9.9.9.9"));  // the decoys: one destination, counted
  CHECK(std::count_if(blocked.begin(), blocked.end(),
                      [](const std::string& d) { return absl::StrContains(d, "9.9.9.9"); }) == 1);
  CHECK(Reported(blocked, "(2000 times)"));
  CHECK(Reported(blocked, "tcp 203.0.113.7:8443 refused during install"));
  CHECK(Reported(blocked, "DNS query for c2VjcmV0.exfil.example"));
  if (v["UDPLITE"] == "sent") CHECK(Reported(blocked, "udplite 203.0.113.9:9999"));
  if (v["RTHDR_SENT"] == "sent") {  // Docker's containers have no IPv6
    CHECK(Reported(blocked, "2001:db8::"));
  }
  if (v["SRV6_SENT"] == "sent") CHECK(Reported(blocked, "udp [2001:db8::dead]:4444"));
  CHECK(run.Findings("egress-flood").empty());
  CheckContained(attack, run);
}

// Regression: a 220 KB repository whose tree expands to 10^6 files was checked out onto the
// host's disk (+4.7 GB, +1.1 M inodes), ignoring --job-timeout 10s; the job took 338 s.
TEST_CASE("attack git-bomb: a tree bomb is refused before checkout, as a DISK failure",
          "[e2e][attack]") {
  const std::string backend = GENERATE(as<std::string>{}, "oci", "docker");
  if (!BackendReady(backend)) return;
  TempDir dir;
  REQUIRE(MakeGitBomb(dir.Sub("bomb.git"), {{"package.json", "{}"}, {"x", "x"}}, 10, 6).ok());
  ProcessSpec spec;
  spec.argv = {
      AgentBinary(), "update",         "--repo", dir.Sub("bomb.git"), "--sandbox",     backend,
      "--state-dir", dir.Sub("state"), "--json", dir.Sub("out.json"), "--job-timeout", "10s"};
  spec.env = ChildEnv(dir.path());
  // Bounded by the process timeout, not timed: a fresh state dir first prepares its image, which
  // took 10-18 s under the suite's load (a wall-clock window failed CI). That nothing was checked
  // out is what the disk and the reason below say.
  spec.timeout = std::chrono::milliseconds(60'000);
  absl::StatusOr<ProcessResult> ran = RunProcess(spec);
  REQUIRE(ran.ok());
  INFO(ran->stdout_data << ran->stderr_data);
  CHECK(ran->exit_code == 1);
  nlohmann::json result = nlohmann::json::parse(ReadFile(dir.Sub("out.json")), nullptr, false);
  REQUIRE(result.is_object());
  CHECK(result["failure"].value("phase", "") == "clone");
  CHECK(result["failure"].value("termination", "") == "TERMINATION_DISK");
  CHECK(absl::StrContains(result["failure"].value("reason", ""), "git bomb"));
  std::error_code ec;
  CHECK(fs::is_empty(dir.Sub("state/work"), ec));
}

// Regression: running out of inodes on the job disk was classified EXITED, not DISK.
TEST_CASE("attack inode-fill: a job disk out of inodes is a DISK failure", "[e2e][attack]") {
  const std::string backend = GENERATE(as<std::string>{}, "oci", "docker");
  if (!BackendReady(backend)) return;
  Attack attack("inode-fill", backend);
  const AgentRun run = RunAttack(attack, {"--disk-mib", "64"});
  INFO(run.Describe());
  CHECK(run.Values("test")["INODE_FILL_STOPPED"] == "ENOSPC");
  CheckStoppedIn(run, "test", "TERMINATION_DISK");
  CheckContained(attack, run);
}

// The tree dir of the one job running under `state_dir`, once it holds `name`; "" if none
// appears within `wait`.
std::string WaitForJobFile(const std::string& state_dir, const std::string& name,
                           std::chrono::seconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    std::error_code ec;
    for (const fs::directory_entry& job : fs::directory_iterator(state_dir + "/work", ec)) {
      const std::string tree = job.path().string() + "/disk/tree";
      if (fs::exists(tree + "/" + name)) return tree;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return "";
}

// Whether a process of `uid` can have an inotify instance now: the errno, 0 when it can.
int InotifyAs(uid_t uid) {
  const pid_t child = ::fork();
  if (child == 0) {
    if (::setgid(uid) != 0 || ::setuid(uid) != 0) ::_exit(255);
    ::_exit(::inotify_init1(IN_CLOEXEC) >= 0 ? 0 : errno);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Regression: every job ran as uid 10001, so a job holding all inotify instances made
// inotify_init fail for every other job on the host.
TEST_CASE("attack uid-hog: a job exhausting a per-uid limit does not starve another job",
          "[e2e][attack]") {
  const std::string backend = GENERATE(as<std::string>{}, "oci", "docker");
  if (!BackendReady(backend)) return;
  Attack hog("uid-hog", backend);
  Attack probe("uid-probe", backend);
  REQUIRE(hog.Prepare().ok());
  REQUIRE(probe.Prepare().ok());
  CopyTool(hog);
  CopyTool(probe);
  // The hog holds its instances until the probe has run: its phase may last as long as that
  // takes on a loaded machine (the tool gives up after 200 s).
  absl::StatusOr<AgentRun> hog_run = absl::UnknownError("not run");
  std::thread hog_thread([&] {
    hog_run = hog.Run({"--phase-timeout", "240s", "--job-timeout", "280s"});
  });
  const std::string hog_tree =
      WaitForJobFile(hog.state_dir(), ".hogging", std::chrono::seconds(120));
  int hog_uid = 0, held = 0;
  int other_uid_errno = -1, same_uid_errno = -1;
  absl::StatusOr<AgentRun> probe_run = absl::UnknownError("not run");
  bool released = false;
  if (!hog_tree.empty()) {
    std::vector<std::string> note =
        absl::StrSplit(ReadFile(hog_tree + "/.hogging"), ' ', absl::SkipWhitespace());
    if (note.size() == 2) {
      (void)absl::SimpleAtoi(note[0], &hog_uid);
      (void)absl::SimpleAtoi(note[1], &held);
    }
    // Positive control: the limit is real, and a job of the same uid would have hit it.
    same_uid_errno = InotifyAs(static_cast<uid_t>(hog_uid));
    probe_run = probe.Run();
    other_uid_errno = InotifyAs(static_cast<uid_t>(hog_uid) == 10001 ? 10002 : 10001);
  }
  // Written even when the hog did not say it holds (it may be about to): the thread must end
  // before any REQUIRE below can leave this scope.
  if (!hog_tree.empty()) released = static_cast<bool>(std::ofstream(hog_tree + "/.release"));
  hog_thread.join();
  CHECK(released);
  REQUIRE_FALSE(hog_tree.empty());
  REQUIRE(hog_run.ok());
  REQUIRE(probe_run.ok());
  INFO(hog_run->Describe() << "\n" << probe_run->Describe());
  CHECK(IsJobUid(std::to_string(hog_uid)));
  CHECK(held > 0);
  CHECK(same_uid_errno == EMFILE);
  CHECK(other_uid_errno == 0);
  std::map<std::string, std::string> v = probe_run->Values("test");
  CHECK(v["INOTIFY"] == "ok");
  CHECK(IsJobUid(v["TRY_UID"]));
  CHECK(v["TRY_UID"] != std::to_string(hog_uid));
  CHECK(hog_run->Outcome() == "JOB_OUTCOME_SUCCEEDED");
  CHECK(absl::StrContains(hog_run->Log("test"), "HOG_DONE=1"));
  CheckContained(hog, *hog_run);
  CheckContained(probe, *probe_run);
}

}  // namespace
}  // namespace ovvoc::testing::e2e
