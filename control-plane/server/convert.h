// Store records -> AdminService messages.
#ifndef OVVOC_CONTROL_PLANE_SERVER_CONVERT_H_
#define OVVOC_CONTROL_PLANE_SERVER_CONVERT_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/strings/string_view.h"
#include "control-plane/store/store.h"
#include "ovvoc/v1/admin.pb.h"

namespace ovvoc::cp {

ovvoc::v1::Org ToProto(const OrgRecord& org);
ovvoc::v1::Repo ToProto(const RepoRecord& repo, absl::string_view org_name);
ovvoc::v1::Agent ToProto(const AgentRecord& agent, absl::string_view org_name);
// The whole job, as `job show` prints it. Its result and progress are bounded as when stored
// (common/job_text.h BoundForStorage), records stored before that rule included.
ovvoc::v1::Job ToProto(const JobRecord& job, absl::string_view repo_url,
                       absl::string_view org_name);

// What `job list` answers carry of one job: no dependencies, updates, findings or logs (`job
// show` has them), every string inert and short, at most kMaxJobSummaryBytes serialised
// whatever the agent reported. A list answer holds at most kMaxListedJobs of them.
inline constexpr size_t kMaxJobSummaryBytes = 4 * 1024;
inline constexpr uint32_t kMaxListedJobs = 10'000;
ovvoc::v1::Job ToSummaryProto(const JobRecord& job, absl::string_view repo_url,
                              absl::string_view org_name);

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_SERVER_CONVERT_H_
