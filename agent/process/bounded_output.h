// BoundedOutput: keeps the first and the last `limit` bytes of a stream, and counts the rest.
// A runaway build log never grows the agent's memory, and a failure report still shows how the
// output began and how it ended. Not thread-safe.
#ifndef OVVOC_AGENT_PROCESS_BOUNDED_OUTPUT_H_
#define OVVOC_AGENT_PROCESS_BOUNDED_OUTPUT_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace ovvoc::agent {

class BoundedOutput {
 public:
  explicit BoundedOutput(size_t limit) : limit_(limit) {}

  void Append(absl::string_view data);
  // Head, then "[... N bytes omitted ...]" and the tail when anything was dropped.
  std::string Text() const;
  uint64_t total_bytes() const { return total_; }

 private:
  const size_t limit_;
  std::string head_;
  std::string tail_;  // ring of the newest bytes, oldest at tail_start_
  size_t tail_start_ = 0;
  uint64_t total_ = 0;
};

}  // namespace ovvoc::agent

#endif  // OVVOC_AGENT_PROCESS_BOUNDED_OUTPUT_H_
