#include "agent/sandbox/cgroup.h"

#include <signal.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/files.h"

namespace ovvoc::agent::sandbox {
namespace {

std::string Read(const std::string& path) {
  absl::StatusOr<std::string> text = files::ReadFile(path);
  return text.ok() ? *text : std::string();
}

uint64_t ReadNumber(const std::string& path) {
  uint64_t value = 0;
  (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(Read(path)), &value);
  return value;
}

// The value of `key` in a "key value" lines file (memory.events, pids.events, cpu.stat, ...).
uint64_t ReadKey(const std::string& path, absl::string_view key) {
  for (absl::string_view line : absl::StrSplit(Read(path), '\n')) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    uint64_t value = 0;
    if (fields.size() == 2 && fields[0] == key && absl::SimpleAtoi(fields[1], &value)) return value;
  }
  return 0;
}

bool Write(const std::string& path, absl::string_view value) {
  std::ofstream out(path);
  out << value;
  out.flush();
  return static_cast<bool>(out);
}

}  // namespace

absl::StatusOr<ContainerCgroup> ContainerCgroup::ForPid(int pid, const std::string& root) {
  absl::StatusOr<std::string> text = files::ReadFile(absl::StrCat("/proc/", pid, "/cgroup"));
  if (!text.ok()) return text.status();
  ContainerCgroup cg;
  std::string unified;  // the "0::" line; hybrid v1 hosts show it too, so v1 lines win
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    std::vector<std::string> fields = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (fields.size() != 3) continue;
    const std::string& controllers = fields[1];
    const std::string& path = fields[2];
    if (fields[0] == "0" && controllers.empty()) {
      unified = root + path;
      continue;
    }
    for (absl::string_view c : absl::StrSplit(controllers, ',')) {
      if (c == "memory") cg.memory_ = absl::StrCat(root, "/memory", path);
      if (c == "pids") cg.pids_ = absl::StrCat(root, "/pids", path);
      if (c == "cpuacct") cg.cpu_ = absl::StrCat(root, "/cpuacct", path);
      if (c == "freezer") cg.freezer_ = absl::StrCat(root, "/freezer", path);
    }
  }
  if (cg.memory_.empty() && cg.pids_.empty() && !unified.empty()) {
    cg.v2_ = true;
    cg.memory_ = cg.pids_ = cg.cpu_ = cg.freezer_ = unified;
  }
  if (cg.pids_.empty() || cg.memory_.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("process ", pid, " has no memory and pids cgroups; are the controllers on?"));
  }
  return cg;
}

absl::StatusOr<std::vector<int>> ContainerCgroup::Pids() const {
  absl::StatusOr<std::string> text = files::ReadFile(pids_ + "/cgroup.procs");
  if (!text.ok()) return text.status();
  std::vector<int> pids;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    int pid = 0;
    if (absl::SimpleAtoi(line, &pid)) pids.push_back(pid);
  }
  return pids;
}

absl::Status ContainerCgroup::KillAllExcept(int keep) const {
  const std::string state = v2_ ? freezer_ + "/cgroup.freeze" : freezer_ + "/freezer.state";
  const bool can_freeze = !freezer_.empty() && files::Exists(state);
  for (int round = 0; round < 100; ++round) {
    // Frozen, nothing can fork between reading the list and the kills; SIGKILL is delivered
    // on thaw. Init is frozen too, and never signalled.
    if (can_freeze) Write(state, v2_ ? "1" : "FROZEN");
    absl::StatusOr<std::vector<int>> pids = Pids();
    int killed = 0;
    if (pids.ok()) {
      for (int pid : *pids) {
        if (pid != keep && ::kill(pid, SIGKILL) == 0) ++killed;
      }
    }
    if (can_freeze) Write(state, v2_ ? "0" : "THAWED");
    if (!pids.ok()) return pids.status();
    if (killed == 0) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError("processes in the container survived repeated SIGKILLs");
}

ContainerCgroup::Counters ContainerCgroup::Read() const {
  Counters c;
  if (v2_) {
    c.oom_kills = ReadKey(memory_ + "/memory.events", "oom_kill");
    c.peak_memory = ReadNumber(memory_ + "/memory.peak");
    c.cpu_time = absl::Microseconds(ReadKey(cpu_ + "/cpu.stat", "usage_usec"));
    c.memory_limit = ReadNumber(memory_ + "/memory.max");
  } else {
    c.oom_kills = ReadKey(memory_ + "/memory.oom_control", "oom_kill");
    c.peak_memory = ReadNumber(memory_ + "/memory.max_usage_in_bytes");
    if (!cpu_.empty()) c.cpu_time = absl::Nanoseconds(ReadNumber(cpu_ + "/cpuacct.usage"));
    c.memory_limit = ReadNumber(memory_ + "/memory.limit_in_bytes");
  }
  c.pids_max_hits = ReadKey(pids_ + "/pids.events", "max");
  c.pids_limit = ReadNumber(pids_ + "/pids.max");
  return c;
}

ContainerCgroup::MemoryUse ParseMemoryStat(absl::string_view stat, bool v2) {
  uint64_t anon = 0, shmem = 0, cache = 0;
  for (absl::string_view line : absl::StrSplit(stat, '\n', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(line, ' ');
    uint64_t value = 0;
    if (!absl::SimpleAtoi(kv.second, &value)) continue;
    if (kv.first == (v2 ? "anon" : "total_rss")) anon = value;
    if (kv.first == (v2 ? "shmem" : "total_shmem")) shmem = value;
    if (kv.first == (v2 ? "file" : "total_cache")) cache = value;
  }
  return {anon + shmem, cache > shmem ? cache - shmem : 0};
}

ContainerCgroup::MemoryUse ContainerCgroup::ReadMemory() const {
  absl::StatusOr<std::string> stat = files::ReadFile(memory_ + "/memory.stat");
  return stat.ok() ? ParseMemoryStat(*stat, v2_) : MemoryUse{};
}

void ContainerCgroup::ResetPeakMemory() const {
  Write(memory_ + (v2_ ? "/memory.peak" : "/memory.max_usage_in_bytes"), "0");
}

}  // namespace ovvoc::agent::sandbox
