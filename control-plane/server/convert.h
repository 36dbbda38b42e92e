// Store records -> AdminService messages.
#ifndef OVVOC_CONTROL_PLANE_SERVER_CONVERT_H_
#define OVVOC_CONTROL_PLANE_SERVER_CONVERT_H_

#include <string_view>

#include "absl/strings/string_view.h"
#include "control-plane/store/store.h"
#include "ovvoc/v1/admin.pb.h"

namespace ovvoc::cp {

ovvoc::v1::Org ToProto(const OrgRecord& org);
ovvoc::v1::Repo ToProto(const RepoRecord& repo, absl::string_view org_name);
ovvoc::v1::Agent ToProto(const AgentRecord& agent, absl::string_view org_name);
ovvoc::v1::Job ToProto(const JobRecord& job, absl::string_view repo_url,
                       absl::string_view org_name);

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_SERVER_CONVERT_H_
