#include "agent/process/bounded_output.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace ovvoc::agent {

void BoundedOutput::Append(absl::string_view data) {
  total_ += data.size();
  if (head_.size() < limit_) {
    size_t take = std::min(limit_ - head_.size(), data.size());
    head_.append(data.data(), take);
    data.remove_prefix(take);
  }
  if (limit_ == 0) return;
  // Only the last `limit_` bytes of `data` can survive in the tail.
  if (data.size() > limit_) data.remove_prefix(data.size() - limit_);
  for (char c : data) {
    if (tail_.size() < limit_) {
      tail_.push_back(c);
    } else {
      tail_[tail_start_] = c;
      tail_start_ = (tail_start_ + 1) % limit_;
    }
  }
}

std::string BoundedOutput::Text() const {
  std::string tail = tail_.substr(tail_start_) + tail_.substr(0, tail_start_);
  const uint64_t kept_without_overlap = head_.size() + tail.size();
  if (total_ <= kept_without_overlap) {
    // Nothing dropped: head and tail overlap; the tail's last (total - head) bytes follow head.
    const size_t rest = static_cast<size_t>(total_ - head_.size());
    return head_ + tail.substr(tail.size() - rest);
  }
  return absl::StrCat(head_, "\n[... ", total_ - kept_without_overlap, " bytes omitted ...]\n",
                      tail);
}

}  // namespace ovvoc::agent
