#include "agent/pipeline/proposal_apply.h"

#include <unistd.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/npm/manifest_edit.h"
#include "agent/npm/project.h"
#include "agent/workspace/beneath.h"
#include "common/status_macros.h"

namespace ovvoc::agent {
namespace {

using ovvoc::v1::PlannedDependency;

// The spec that admits exactly `d`'s target: "4.17.21", or "npm:lodash@4.17.21" for an alias.
std::string PinnedSpec(const PlannedDependency& d) {
  if (absl::StartsWith(d.spec(), "npm:")) return absl::StrCat("npm:", d.package(), "@", d.target());
  return d.target();
}

}  // namespace

absl::StatusOr<ProposalManifests> EditManifests(const std::string& clone,
                                                const std::vector<const PlannedDependency*>& deps) {
  std::map<std::string, std::vector<npm::DependencyEdit>> pinned, proposed;
  for (const PlannedDependency* d : deps) {
    npm::DependencyEdit edit{d->kind(), d->name(), d->spec(), PinnedSpec(*d)};
    pinned[d->manifest_path()].push_back(edit);
    edit.to_spec = d->new_spec().empty() ? d->spec() : d->new_spec();
    proposed[d->manifest_path()].push_back(std::move(edit));
  }
  ProposalManifests out;
  for (const auto& [path, edits] : pinned) {
    absl::StatusOr<std::string> text = ReadFileBeneath(clone, path, npm::kMaxManifestBytes);
    if (!text.ok()) return text.status();
    absl::StatusOr<std::string> pin = npm::EditDependencies(*text, edits);
    if (!pin.ok()) {
      return absl::Status(pin.status().code(), absl::StrCat(path, ": ", pin.status().message()));
    }
    absl::StatusOr<std::string> final_text = npm::EditDependencies(*text, proposed[path]);
    if (!final_text.ok()) {
      return absl::Status(final_text.status().code(),
                          absl::StrCat(path, ": ", final_text.status().message()));
    }
    out.pinned[path] = *std::move(pin);
    out.proposed[path] = *std::move(final_text);
  }
  return out;
}

absl::Status WriteManifests(const std::string& dir,
                            const std::map<std::string, std::string>& files) {
  for (const auto& [path, text] : files) {
    OVVOC_RETURN_IF_ERROR(WriteFileBeneath(dir, path, text, ::geteuid(), ::getegid(), 0644));
  }
  return absl::OkStatus();
}

std::string LockfileName(const std::string& dir) {
  for (const char* name : kLockfileNames) {
    if (CheckRegularFileBeneath(dir, name).ok()) return name;
  }
  return "package-lock.json";
}

std::string ManifestDir(absl::string_view manifest_path) {
  const size_t slash = manifest_path.rfind('/');
  return slash == absl::string_view::npos ? "" : std::string(manifest_path.substr(0, slash));
}

}  // namespace ovvoc::agent
