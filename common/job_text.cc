#include "common/job_text.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ovvoc {

std::string HumanBytes(uint64_t bytes) {
  if (bytes >= (1u << 20)) return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  if (bytes >= (1u << 10)) return absl::StrCat(bytes >> 10, " KiB");
  return absl::StrCat(bytes, " B");
}

std::string DescribeEgress(const ovvoc::v1::EgressUsage& usage) {
  return absl::StrCat(usage.host(), ":", usage.port(), ": ", usage.connections(),
                      usage.connections() == 1 ? " connection, " : " connections, ",
                      HumanBytes(usage.bytes_down()), " down, ", HumanBytes(usage.bytes_up()),
                      " up", usage.failed() > 0 ? absl::StrCat(", ", usage.failed(), " failed") : "");
}

}  // namespace ovvoc
