// Line-oriented logging to stderr: "2026-11-28T20:30:00.123Z I message". Each message is made
// inert (common/inert.h: control characters escaped, bounded), so a line is one line. One
// write(2) per line, so lines from threads never interleave. Thread-safe.
#ifndef OVVOC_COMMON_LOGGING_H_
#define OVVOC_COMMON_LOGGING_H_

#include <string_view>

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace ovvoc::log {

enum class Level { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLevel(Level level);
bool Enabled(Level level);
void Write(Level level, absl::string_view message);

template <typename... Args>
void Debug(const absl::FormatSpec<Args...>& format, const Args&... args) {
  if (Enabled(Level::kDebug)) Write(Level::kDebug, absl::StrFormat(format, args...));
}
template <typename... Args>
void Info(const absl::FormatSpec<Args...>& format, const Args&... args) {
  if (Enabled(Level::kInfo)) Write(Level::kInfo, absl::StrFormat(format, args...));
}
template <typename... Args>
void Warning(const absl::FormatSpec<Args...>& format, const Args&... args) {
  if (Enabled(Level::kWarning)) Write(Level::kWarning, absl::StrFormat(format, args...));
}
template <typename... Args>
void Error(const absl::FormatSpec<Args...>& format, const Args&... args) {
  if (Enabled(Level::kError)) Write(Level::kError, absl::StrFormat(format, args...));
}

}  // namespace ovvoc::log

#endif  // OVVOC_COMMON_LOGGING_H_
