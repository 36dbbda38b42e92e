#include "tests/e2e/attack_harness.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "tests/support/cluster.h"
#include "tests/support/git_cli.h"
#include "tests/support/subprocess.h"

namespace ovvoc::testing::e2e {
namespace {

namespace fs = std::filesystem;

constexpr char kImageDir[] = "/var/lib/ovvoc/images";
constexpr char kRunc[] = "/usr/sbin/runc";
constexpr char kDockerSocket[] = "/var/run/docker.sock";
constexpr char kJobLabel[] = "io.ovvoc.job";
constexpr char kOwnerLabel[] = "io.ovvoc.owner";

// A file's text, or "" when it cannot be read (a process that has just gone, say).
std::string ReadText(const std::string& path) { return files::ReadFile(path).value_or(""); }

struct HttpReply {
  int status = 0;
  std::string body;
};

// One HTTP/1.0 GET on the Docker Engine's socket (the daemon closes the connection after the
// reply, so the body is whatever follows the headers).
absl::StatusOr<HttpReply> DockerGet(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket(AF_UNIX) failed");
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", kDockerSocket);
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to ", kDockerSocket));
  }
  const std::string request = absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: docker\r\n\r\n");
  if (::write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return absl::UnavailableError("cannot write to the docker socket");
  }
  std::string reply;
  char buf[8192];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) reply.append(buf, static_cast<size_t>(n));
  ::close(fd);
  const size_t headers_end = reply.find("\r\n\r\n");
  std::vector<std::string> status_line = absl::StrSplit(reply.substr(0, reply.find("\r\n")), ' ');
  HttpReply out;
  if (headers_end == std::string::npos || status_line.size() < 2 ||
      !absl::SimpleAtoi(status_line[1], &out.status)) {
    return absl::UnavailableError(absl::StrCat("docker answered no HTTP: ", reply.substr(0, 200)));
  }
  out.body = reply.substr(headers_end + 4);
  return out;
}

std::string Canonical(const std::string& path) {
  std::error_code ec;
  fs::path canonical = fs::weakly_canonical(path, ec);
  return ec ? path : canonical.string();
}

bool Under(absl::string_view path, const std::string& dir) {
  return path == dir || absl::StartsWith(path, dir + "/");
}

}  // namespace

std::string BackendUnavailableReason(const std::string& backend) {
  if (::geteuid() != 0) return "not root: the sandbox needs root (loop devices, mounts, runc)";
  if (!fs::exists(absl::StrCat(kImageDir, "/current/image.json"))) {
    return absl::StrCat("no job image in ", kImageDir, " (build one with deploy/image/build.sh)");
  }
  if (backend == "oci") {
    if (::access(kRunc, X_OK) != 0) return absl::StrCat(kRunc, " is missing");
    return "";
  }
  if (backend == "docker") {
    absl::StatusOr<HttpReply> ping = DockerGet("/_ping");
    if (!ping.ok()) return absl::StrCat("dockerd is not answering: ", ping.status().message());
    if (ping->status != 200) return absl::StrCat("dockerd answered /_ping with ", ping->status);
    return "";
  }
  return absl::StrCat("unknown backend ", backend);
}

std::string FixturesDir() { return OVVOC_ATTACK_FIXTURES_DIR; }
std::string ProbeBinary() { return OVVOC_ATTACK_PROBE_BIN; }
std::string ToolBinary() { return OVVOC_ATTACK_TOOL_BIN; }

std::string RandomHex(size_t bytes) {
  std::ifstream random("/dev/urandom", std::ios::binary);
  std::string raw(bytes, '\0');
  random.read(raw.data(), static_cast<std::streamsize>(bytes));
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : raw) {
    hex.push_back(kDigits[c >> 4]);
    hex.push_back(kDigits[c & 15]);
  }
  return hex;
}

std::map<std::string, std::string> KeyValues(absl::string_view log) {
  std::map<std::string, std::string> values;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    line = absl::StripTrailingAsciiWhitespace(line);
    const size_t equals = line.find('=');
    if (equals == absl::string_view::npos || equals == 0) continue;
    absl::string_view key = line.substr(0, equals);
    if (!std::all_of(key.begin(), key.end(),
                     [](char c) { return absl::ascii_isalnum(c) || c == '_'; })) {
      continue;
    }
    values[std::string(key)] = std::string(line.substr(equals + 1));
  }
  return values;
}

nlohmann::json AgentRun::Baseline() const {
  if (!result.is_object()) return nlohmann::json::object();
  nlohmann::json baseline = result.value("baseline", nlohmann::json::object());
  return baseline.is_object() ? baseline : nlohmann::json::object();
}

std::string AgentRun::Termination(const char* phase) const {
  const nlohmann::json baseline = Baseline();
  if (!baseline.contains(phase)) return "";
  return baseline[phase].value("termination", "");
}

std::string AgentRun::Log(const char* phase) const {
  const nlohmann::json baseline = Baseline();
  if (!baseline.contains(phase)) return "";
  return baseline[phase].value("log_excerpt", "");
}

std::string AgentRun::Outcome() const {
  return result.is_object() ? result.value("outcome", "") : "";
}

std::vector<std::string> AgentRun::Findings(const std::string& kind) const {
  std::vector<std::string> details;
  if (!result.is_object() || !result.contains("findings")) return details;
  for (const nlohmann::json& finding : result["findings"]) {
    if (finding.value("kind", "") == kind) details.push_back(finding.value("detail", ""));
  }
  return details;
}

std::string AgentRun::Describe() const {
  const size_t keep = 6000;
  return absl::StrCat("agent exit ", exit_code, " after ", seconds, " s, job ", job_id,
                      "\n--- stdout ---\n", out, "--- stderr (end) ---\n",
                      err.size() > keep ? err.substr(err.size() - keep) : err, "\n--- result ---\n",
                      result.is_null() ? "(none)" : result.dump(2));
}

Attack::Attack(std::string fixture, std::string backend, std::string fixtures_dir)
    : fixture_(std::move(fixture)), fixtures_dir_(std::move(fixtures_dir)), backend_(std::move(backend)) {
  src_ = dir_.Sub("src");
  state_dir_ = dir_.Sub("state");
  home_ = dir_.Sub("home");
}

absl::Status Attack::Prepare() {
  std::error_code ec;
  fs::create_directories(home_, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", home_, ": ", ec.message()));
  fs::copy(fixtures_dir_ + "/" + fixture_, src_,
           fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
  if (ec)
    return absl::InternalError(absl::StrCat("cannot copy fixture ", fixture_, ": ", ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<AgentRun> Attack::Run(const std::vector<std::string>& flags,
                                     const std::vector<std::string>& env) {
  // tests/support's CreateBareRepoFromDir copies its source following symlinks; the attacks
  // need their links committed as links, so the repository is made here, in place.
  const std::string repo = dir_.Sub("repo");
  std::error_code ec;
  fs::copy(src_, repo, fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot copy ", src_, ": ", ec.message()));
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"init", "--quiet", "--initial-branch=main"},
           {"add", "--all"},
           {"commit", "--quiet", "--message", "attack fixture " + fixture_}}) {
    if (absl::StatusOr<std::string> out = RunGit(args, repo); !out.ok()) return out.status();
  }

  absl::StatusOr<std::set<std::string>> before = ListJobContainers(backend_, state_dir_);
  if (!before.ok()) return before.status();
  containers_before_ = *std::move(before);

  const std::string json = dir_.Sub("result.json");
  ProcessSpec spec;
  spec.argv = {AgentBinary(), "update", "--repo", repo,          "--sandbox",
               backend_,      "--json", json,     "--state-dir", state_dir_};
  std::vector<std::string> merged =
      MergeFlags({"--phase-timeout", "20s", "--job-timeout", "180s"}, flags);
  spec.argv.insert(spec.argv.end(), merged.begin(), merged.end());
  spec.env = ChildEnv(home_);
  spec.env.insert(spec.env.end(), env.begin(), env.end());
  // A bound on a hang only: every job ends at its own --job-timeout, and what a test holds
  // the agent to is the phases' times and terminations it reports, never the wall clock of a
  // loaded machine.
  spec.timeout = std::chrono::milliseconds(600'000);

  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<ProcessResult> ran = RunProcess(spec);
  if (!ran.ok()) return ran.status();
  AgentRun run;
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run.exit_code = ran->exit_code;
  run.out = ran->stdout_data;
  run.err = ran->stderr_data;
  if (fs::exists(json)) {
    run.result = nlohmann::json::parse(ReadText(json), nullptr, /*allow_exceptions=*/false);
  }
  std::smatch match;
  if (std::regex_search(run.err, match, std::regex("job (job_[0-9a-z]+)"))) run.job_id = match[1];
  return run;
}

std::vector<std::string> Attack::Leftovers(const AgentRun& run,
                                           const std::vector<std::string>& markers) const {
  std::vector<std::string> left;
  const std::string container = run.job_id.empty() ? "" : absl::StrCat("ovvoc-", run.job_id, "-1");

  absl::StatusOr<std::set<std::string>> containers = ListJobContainers(backend_, state_dir_);
  if (!containers.ok()) {
    left.push_back(absl::StrCat("cannot list containers: ", containers.status().ToString()));
  } else {
    // Other agents (benchmarks, other tests) may make containers meanwhile: with the job id
    // known, only this job's count; without it, any container that was not there before.
    for (const std::string& c : *containers) {
      const bool ours =
          run.job_id.empty() ? !containers_before_.count(c) : absl::StrContains(c, run.job_id);
      if (ours) left.push_back("container: " + c);
    }
  }

  const std::string state = Canonical(state_dir_);
  for (absl::string_view line : absl::StrSplit(ReadText("/proc/self/mountinfo"), '\n')) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
    if (fields.size() > 4 && Under(fields[4], state)) left.push_back(absl::StrCat("mount: ", line));
  }

  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(state + "/work", ec)) {
    left.push_back("work dir entry: " + entry.path().string());
  }

  for (const fs::directory_entry& entry : fs::directory_iterator("/sys/block", ec)) {
    if (!absl::StartsWith(entry.path().filename().string(), "loop")) continue;
    const std::string backing = std::string(
        absl::StripAsciiWhitespace(ReadText(entry.path().string() + "/loop/backing_file")));
    if (!backing.empty() && Under(backing, state)) {
      left.push_back(
          absl::StrCat("loop device: ", entry.path().filename().string(), " -> ", backing));
    }
  }

  if (backend_ == "oci" && !container.empty()) {
    const std::string bundle = absl::StrCat(state_dir_, "/bundles/", container);
    if (fs::exists(bundle)) left.push_back("runc bundle: " + bundle);
    for (const fs::directory_entry& controller : fs::directory_iterator("/sys/fs/cgroup", ec)) {
      const std::string cgroup = controller.path().string() + "/ovvoc/" + container;
      if (fs::exists(cgroup)) left.push_back("cgroup: " + cgroup);
    }
    if (fs::exists("/sys/fs/cgroup/ovvoc/" + container)) {
      left.push_back("cgroup: /sys/fs/cgroup/ovvoc/" + container);
    }
  }

  for (const fs::directory_entry& entry : fs::directory_iterator("/proc", ec)) {
    const std::string pid = entry.path().filename().string();
    if (!std::all_of(pid.begin(), pid.end(), absl::ascii_isdigit)) continue;
    // A zombie holds nothing but its pid; reaping it is its parent's job (here, often the
    // host's init, as runc's container init is reparented there once runc exits).
    const std::string stat = ReadText(entry.path().string() + "/stat");
    const size_t paren = stat.rfind(')');
    if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z') continue;
    std::string cmdline = ReadText(entry.path().string() + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    bool hit = false;
    for (const std::string& marker : markers) hit = hit || absl::StrContains(cmdline, marker);
    if (!container.empty() && backend_ == "oci") {
      hit = hit || absl::StrContains(ReadText(entry.path().string() + "/cgroup"), container);
    }
    if (hit) left.push_back(absl::StrCat("process ", pid, ": ", cmdline));
  }
  return left;
}

absl::StatusOr<std::set<std::string>> ListJobContainers(const std::string& backend,
                                                        const std::string& state_dir,
                                                        bool running_only) {
  std::set<std::string> found;
  if (backend == "docker") {
    // filters={"label":["io.ovvoc.job"]}; without all=1, the running ones only
    absl::StatusOr<HttpReply> reply =
        DockerGet(absl::StrCat("/containers/json?", running_only ? "" : "all=1&",
                               "filters=%7B%22label%22%3A%5B%22io.ovvoc.job%22%5D%7D"));
    if (!reply.ok()) return reply.status();
    nlohmann::json list = nlohmann::json::parse(reply->body, nullptr, false);
    if (reply->status != 200 || !list.is_array()) {
      return absl::UnavailableError(absl::StrCat("docker listed no containers: ", reply->body));
    }
    // Only this agent's: other tests (ctest -j) and earlier runs share the daemon.
    const std::set<std::string> owners = {state_dir, fs::weakly_canonical(state_dir).string()};
    for (const nlohmann::json& c : list) {
      if (!c.contains("Labels") || !c["Labels"].is_object() ||
          !owners.contains(c["Labels"].value(kOwnerLabel, ""))) {
        continue;
      }
      std::string names;
      if (c.contains("Names") && c["Names"].is_array()) {
        for (const nlohmann::json& name : c["Names"]) names += name.get<std::string>();
      }
      std::string label;
      if (c.contains("Labels") && c["Labels"].is_object()) label = c["Labels"].value(kJobLabel, "");
      found.insert(absl::StrCat(c.value("Id", "").substr(0, 12), " ", names, " ", label));
    }
    return found;
  }
  const std::string runc_root = state_dir + "/runc";  // each agent's own runc state
  if (!fs::exists(runc_root)) return found;
  ProcessSpec list;
  list.argv = {kRunc, "--root", runc_root, "list", "--format", "json"};
  list.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  list.timeout = std::chrono::milliseconds(30'000);
  absl::StatusOr<ProcessResult> listed = RunProcess(list);
  if (!listed.ok()) return listed.status();
  if (listed->exit_code != 0) {
    return absl::InternalError(absl::StrCat("runc list failed: ", listed->stderr_data));
  }
  nlohmann::json containers = nlohmann::json::parse(listed->stdout_data, nullptr, false);
  if (containers.is_null()) return found;  // runc prints "null" for none
  if (!containers.is_array()) return absl::InternalError("runc list: " + listed->stdout_data);
  for (const nlohmann::json& c : containers) {
    if (running_only && c.value("status", "") != "running") continue;
    found.insert(c.value("id", ""));
  }
  return found;
}

LoopbackRecorder::LoopbackRecorder() {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(fd_, 16) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return;
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client >= 0) {
        ++connections_;
        ::close(client);
      }
    }
  });
}

LoopbackRecorder::~LoopbackRecorder() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
}

FileWatch::FileWatch(const std::string& path) {
  fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ >= 0) {
    watch_ = ::inotify_add_watch(fd_, path.c_str(),
                                 IN_OPEN | IN_ACCESS | IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE |
                                     IN_DELETE_SELF | IN_MOVE_SELF);
  }
}

FileWatch::~FileWatch() {
  if (fd_ >= 0) ::close(fd_);
}

std::string FileWatch::Events() {
  if (fd_ < 0) return seen_;
  alignas(inotify_event) char buf[4096];
  ssize_t n;
  while ((n = ::read(fd_, buf, sizeof buf)) > 0) {
    for (char* p = buf; p < buf + n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(p);
      const std::pair<uint32_t, const char*> names[] = {
          {IN_OPEN, "open"},     {IN_ACCESS, "access"},           {IN_MODIFY, "modify"},
          {IN_ATTRIB, "attrib"}, {IN_CLOSE_WRITE, "close-write"}, {IN_DELETE_SELF, "delete"},
          {IN_MOVE_SELF, "move"}};
      for (const auto& [mask, name] : names) {
        if (event->mask & mask) absl::StrAppend(&seen_, seen_.empty() ? "" : ",", name);
      }
      p += sizeof(inotify_event) + event->len;
    }
  }
  return seen_;
}

}  // namespace ovvoc::testing::e2e
