#include "agent/pipeline/proposals.h"

#include <catch2/catch.hpp>

namespace ovvoc::agent {
namespace {

ovvoc::v1::ProposalResult Single(const std::string& dir, const std::string& name,
                                 const std::string& version) {
  ovvoc::v1::ProposalResult p;
  p.set_manifest_dir(dir);
  ovvoc::v1::PackageUpdate* u = p.add_updates();
  u->set_name(name);
  u->set_to_version(version);
  u->set_manifest_path("package.json");
  return p;
}

TEST_CASE("a proposal's branch is named as Dependabot names its own, and git takes it") {
  CHECK(ProposalBranch(Single("/", "lodash", "4.17.21")) == "ovvoc/npm/lodash-4.17.21");
  CHECK(ProposalBranch(Single("/packages/web", "@types/node", "20.1.0")) ==
        "ovvoc/npm/packages-web/types/node-20.1.0");
  // Red team, issue 12: git refuses a component ending in ".lock", "..", and control bytes.
  CHECK(ProposalBranch(Single("/a.lock", "x", "1.1.0-rc.lock")) ==
        "ovvoc/npm/a-lock/x-1.1.0-rc-lock");
  CHECK(ProposalBranch(Single("/", "a..b", "1.0.0 ~^:?*[\\\x1b")) ==
        "ovvoc/npm/a.b-1.0.0---------");

  ovvoc::v1::ProposalResult group = Single("/", "react", "18.2.0");
  group.set_group("react stack");
  const std::string branch = ProposalBranch(group);
  CHECK(branch.rfind("ovvoc/npm/react-stack-", 0) == 0);
  CHECK(branch.size() == std::string("ovvoc/npm/react-stack-").size() + 8);
  group.mutable_updates(0)->set_to_version("18.3.0");
  CHECK(ProposalBranch(group) != branch);  // another set of updates, another branch
}

TEST_CASE("a workspace member's update is named by the member's directory") {
  // Red team, issue 12: two members' updates of one package shared (and overwrote) one branch.
  ovvoc::v1::ProposalResult web = Single("/", "lodash", "4.17.21");
  web.mutable_updates(0)->set_manifest_path("packages/web/package.json");
  ovvoc::v1::ProposalResult api = Single("/", "lodash", "4.17.21");
  api.mutable_updates(0)->set_manifest_path("packages/api/package.json");
  CHECK(ProposalBranch(web) == "ovvoc/npm/packages-web/lodash-4.17.21");
  CHECK(ProposalBranch(api) == "ovvoc/npm/packages-api/lodash-4.17.21");
  // Updates of several directories: the policy entry's.
  ovvoc::v1::ProposalResult both = web;
  both.set_group("all");
  *both.add_updates() = api.updates(0);
  CHECK(ProposalBranch(both).rfind("ovvoc/npm/all-", 0) == 0);
}

}  // namespace
}  // namespace ovvoc::agent
