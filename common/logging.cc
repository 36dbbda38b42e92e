#include "common/logging.h"

#include <unistd.h>

#include <atomic>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/inert.h"

namespace ovvoc::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
constexpr char kLevelLetters[] = {'D', 'I', 'W', 'E'};
constexpr size_t kMaxMessage = 16 * 1024;
}  // namespace

void SetLevel(Level level) { g_level.store(static_cast<int>(level)); }

bool Enabled(Level level) { return static_cast<int>(level) >= g_level.load(); }

void Write(Level level, absl::string_view message) {
  std::string line = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ ", absl::Now(), absl::UTCTimeZone());
  line += kLevelLetters[static_cast<int>(level)];
  line += ' ';
  // Messages carry what jobs, registries and forges said: one inert line each, always.
  line += InertLine(message, kMaxMessage);
  line += '\n';
  // A single write keeps concurrent lines whole; a short write to stderr is not worth a retry.
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace ovvoc::log
