#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/inert.h"
#include "common/job_text.h"
#include "common/plan_text.h"
#include "common/time_util.h"
#include "control-plane/cli/admin_client.h"
#include "control-plane/cli/commands.h"

namespace ovvoc::cp::cli {
namespace {

using ovvoc::v1::AdminService;

struct Common {
  std::string data_dir;
  bool json = false;
};

void AddCommon(CLI::App* cmd, Common& common) {
  cmd->add_option("--data-dir", common.data_dir, "The control plane's data directory")->required();
  cmd->add_flag("--json", common.json, "Print JSON only");
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "error: %s\n", InertLine(status.message(), 4096).c_str());
  return 1;
}

void PrintJson(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  std::printf("%s", out.c_str());
  if (out.empty() || out.back() != '\n') std::printf("\n");
}

// Calls `method` and prints the response: as JSON with --json, else through `human`. Agents,
// repositories and registries wrote much of what answers hold (hostnames, versions, results,
// progress, reasons): every string is made inert first, whatever the store holds. The JSON
// printer alone is not enough: it escapes C0 and C1 controls but passes bidi isolates through.
template <typename Request, typename Response>
int Run(const Common& common,
        grpc::Status (AdminService::Stub::*method)(grpc::ClientContext*, const Request&, Response*),
        const Request& request, const std::function<void(const Response&)>& human) {
  AdminClient client(common.data_dir);
  Response response;
  if (absl::Status s = client.Call(method, request, response); !s.ok()) return Fail(s);
  MakeInert(response);
  if (common.json) {
    PrintJson(response);
  } else {
    human(response);
  }
  return 0;
}

std::string StateName(ovvoc::v1::JobState state) {
  std::string name = ovvoc::v1::JobState_Name(state);
  return absl::AsciiStrToLower(name.substr(absl::string_view("JOB_STATE_").size()));
}

std::string Seconds(const google::protobuf::Duration& d) {
  return absl::StrFormat("%.2fs", absl::ToDoubleSeconds(FromProto(d)));
}

void PrintResult(const ovvoc::v1::JobResult& r) {
  std::printf("result:\n");
  std::printf("  outcome       %s\n", ovvoc::v1::JobOutcome_Name(r.outcome()).c_str());
  if (!r.head_commit().empty()) std::printf("  head commit   %s\n", r.head_commit().c_str());
  if (!r.agent_version().empty()) std::printf("  agent         %s\n", r.agent_version().c_str());
  std::printf("  dependencies  %d\n", r.dependencies_size());
  for (const auto& d : r.dependencies()) {
    std::string kind = ovvoc::v1::DependencyKind_Name(d.kind());
    std::printf(
        "    %-32s %-16s %s\n", d.name().c_str(), d.spec().c_str(),
        absl::AsciiStrToLower(kind.substr(absl::string_view("DEPENDENCY_KIND_").size())).c_str());
  }
  if (const std::string reuse = DescribeBaselineReuse(r); !reuse.empty()) {
    std::printf("  baseline      %s\n", reuse.c_str());
  }
  for (const auto& [name, c] : {std::pair<const char*, const ovvoc::v1::CommandOutcome*>{
                                    "lockfile", &r.baseline().lockfile()},
                                {"install", &r.baseline().install()},
                                {"build", &r.baseline().build()},
                                {"test", &r.baseline().test()}}) {
    if (c->skipped()) {
      std::printf("  %-13s skipped (no script)\n", name);
    } else if (!c->command().empty() &&
               c->termination() == ovvoc::v1::TERMINATION_UNSPECIFIED) {
      std::printf("  %-13s %s: not run\n", name, c->command().c_str());
    } else if (!c->command().empty()) {
      std::string termination = ovvoc::v1::Termination_Name(c->termination());
      std::printf("  %-13s %s: exit %d (%s) in %s\n", name, c->command().c_str(), c->exit_code(),
                  absl::AsciiStrToLower(termination.substr(std::string_view("TERMINATION_").size()))
                      .c_str(),
                  Seconds(c->duration()).c_str());
    }
  }
  if (r.resources().peak_memory_bytes() > 0) {
    std::printf("  resources     %s\n", DescribeMemory(r.resources()).c_str());
  }
  if (const std::string node = DescribeNode(r.node()); !node.empty()) {
    std::printf("  node          %s\n", node.c_str());
  }
  if (const std::string npm = DescribeNpm(r.npm()); !npm.empty()) {
    std::printf("  npm           %s\n", npm.c_str());
  }
  for (const auto& a : r.advice()) std::printf("  advice        %s\n", a.message().c_str());
  if (r.resources().disk_bytes() > 0) {
    std::printf("  disk          %s written\n", HumanBytes(r.resources().disk_bytes()).c_str());
  }
  for (const auto& e : r.egress()) {
    std::printf("  network       %s\n", DescribeEgress(e).c_str());
  }
  for (const auto& f : r.findings()) {
    std::printf("  finding       %s: %s\n", f.kind().c_str(), f.detail().c_str());
  }
  if (r.has_failure() && !r.failure().reason().empty()) {
    std::printf("  failure       %s: %s\n", r.failure().phase().c_str(),
                r.failure().reason().c_str());
  }
  if (r.proposals_size() > 0) {
    std::printf("proposals (%d):\n", r.proposals_size());
    for (absl::string_view line : absl::StrSplit(DescribeProposals(r), '\n', absl::SkipEmpty())) {
      std::printf("  %.*s\n", static_cast<int>(line.size()), line.data());
    }
  }
  if (r.has_plan()) {
    std::printf("plan (%d dependencies, policy: %s):\n", r.plan().dependencies_size(),
                r.plan().policy_source().c_str());
    for (absl::string_view line : absl::StrSplit(DescribePlan(r.plan()), '\n')) {
      if (!line.empty()) std::printf("  %.*s\n", static_cast<int>(line.size()), line.data());
    }
  }
  if (r.timings_size() > 0) {
    std::vector<std::string> phases;
    for (const auto& t : r.timings()) {
      phases.push_back(
          absl::StrCat(t.phase(), " ", Seconds(t.duration()), t.ok() ? "" : " FAILED"));
    }
    std::printf("  phases        %s\n", absl::StrJoin(phases, ", ").c_str());
  }
}

void PrintJob(const ovvoc::v1::Job& job) {
  std::printf("job           %s\n", job.id().c_str());
  std::printf("repo          %s (%s)\n", job.repo_id().c_str(), job.repo_url().c_str());
  std::printf("org/pool      %s/%s\n", job.org().c_str(), job.pool().c_str());
  std::printf("state         %s%s\n", StateName(job.state()).c_str(),
              job.cancel_requested() && job.state() == ovvoc::v1::JOB_STATE_LEASED
                  ? " (cancel requested)"
                  : "");
  std::printf("attempt       %u of %u\n", job.attempt(), job.max_attempts());
  if (!job.agent_id().empty()) std::printf("agent         %s\n", job.agent_id().c_str());
  std::printf("created       %s\n", Rfc3339(FromProto(job.created_at())).c_str());
  std::printf("updated       %s\n", Rfc3339(FromProto(job.updated_at())).c_str());
  if (!job.progress().phase().empty()) {
    std::printf("progress      %s %s\n", job.progress().phase().c_str(),
                job.progress().message().c_str());
  }
  if (!job.status_reason().empty()) std::printf("reason        %s\n", job.status_reason().c_str());
  if (job.has_result()) PrintResult(job.result());
}

void AddOrgCommands(CLI::App& app, int& exit_code) {
  auto* org = app.add_subcommand("org", "Manage organisations (tenants)");
  org->require_subcommand(1);

  auto* create = org->add_subcommand("create", "Create an organisation");
  auto c = std::make_shared<Common>();
  auto name = std::make_shared<std::string>();
  create->add_option("NAME", *name, "Organisation name (a-z, 0-9, '-', '_')")->required();
  AddCommon(create, *c);
  create->callback([&exit_code, c, name] {
    ovvoc::v1::CreateOrgRequest request;
    request.set_name(*name);
    exit_code = Run<ovvoc::v1::CreateOrgRequest, ovvoc::v1::Org>(
        *c, &AdminService::Stub::CreateOrg, request, [](const ovvoc::v1::Org& o) {
          std::printf("created org %s\n%s\n", o.name().c_str(), o.id().c_str());
        });
  });

  auto* list = org->add_subcommand("list", "List organisations");
  auto l = std::make_shared<Common>();
  AddCommon(list, *l);
  list->callback([&exit_code, l] {
    exit_code = Run<ovvoc::v1::ListOrgsRequest, ovvoc::v1::ListOrgsResponse>(
        *l, &AdminService::Stub::ListOrgs, {}, [](const ovvoc::v1::ListOrgsResponse& r) {
          for (const auto& o : r.orgs())
            std::printf("%-24s %s\n", o.id().c_str(), o.name().c_str());
        });
  });
}

void AddEnrollTokenCommands(CLI::App& app, int& exit_code) {
  auto* tokens = app.add_subcommand("enroll-token", "One-time tokens that register agents");
  tokens->require_subcommand(1);
  auto* create = tokens->add_subcommand("create", "Create a single-use enrollment token");
  auto c = std::make_shared<Common>();
  auto org = std::make_shared<std::string>();
  auto pool = std::make_shared<std::string>("default");
  auto ttl = std::make_shared<std::string>("1h");
  create->add_option("--org", *org, "Organisation the agent will serve")->required();
  create->add_option("--pool", *pool, "Agent pool")->capture_default_str();
  create->add_option("--ttl", *ttl, "How long the token stays usable (at most 168h)")
      ->capture_default_str();
  AddCommon(create, *c);
  create->callback([&exit_code, c, org, pool, ttl] {
    absl::Duration d;
    if (!absl::ParseDuration(*ttl, &d)) {
      exit_code = Fail(absl::InvalidArgumentError(
          absl::StrCat("--ttl: \"", *ttl, "\" is not a duration like 10m or 2h")));
      return;
    }
    ovvoc::v1::CreateEnrollmentTokenRequest request;
    request.set_org(*org);
    request.set_pool(*pool);
    *request.mutable_ttl() = ToProto(d);
    exit_code =
        Run<ovvoc::v1::CreateEnrollmentTokenRequest, ovvoc::v1::CreateEnrollmentTokenResponse>(
            *c, &AdminService::Stub::CreateEnrollmentToken, request,
            [&](const ovvoc::v1::CreateEnrollmentTokenResponse& r) {
              std::printf(
                  "enrollment token %s for org %s, pool %s; single use, expires %s.\n"
                  "Register an agent with: ovvoc-agent register --server HOST:PORT --token TOKEN\n"
                  "%s\n",
                  r.token_id().c_str(), org->c_str(), pool->c_str(),
                  Rfc3339(FromProto(r.expires_at())).c_str(), r.token().c_str());
            });
  });
}

void AddRepoCommands(CLI::App& app, int& exit_code) {
  auto* repo = app.add_subcommand("repo", "Repositories kept up to date");
  repo->require_subcommand(1);

  auto* add = repo->add_subcommand("add", "Add a repository to an organisation");
  auto c = std::make_shared<Common>();
  auto org = std::make_shared<std::string>();
  auto url = std::make_shared<std::string>();
  auto pool = std::make_shared<std::string>("default");
  add->add_option("--org", *org, "Owning organisation")->required();
  add->add_option("--url", *url, "Clone URL: https://, http:// or file://")->required();
  add->add_option("--pool", *pool, "Agent pool that runs its jobs")->capture_default_str();
  AddCommon(add, *c);
  add->callback([&exit_code, c, org, url, pool] {
    ovvoc::v1::AddRepoRequest request;
    request.set_org(*org);
    request.set_url(*url);
    request.set_pool(*pool);
    exit_code = Run<ovvoc::v1::AddRepoRequest, ovvoc::v1::Repo>(
        *c, &AdminService::Stub::AddRepo, request, [](const ovvoc::v1::Repo& r) {
          std::printf("added %s to org %s (pool %s)\n%s\n", r.url().c_str(), r.org().c_str(),
                      r.pool().c_str(), r.id().c_str());
        });
  });

  auto* list = repo->add_subcommand("list", "List repositories");
  auto l = std::make_shared<Common>();
  auto list_org = std::make_shared<std::string>();
  list->add_option("--org", *list_org, "Only this organisation");
  AddCommon(list, *l);
  list->callback([&exit_code, l, list_org] {
    ovvoc::v1::ListReposRequest request;
    request.set_org(*list_org);
    exit_code = Run<ovvoc::v1::ListReposRequest, ovvoc::v1::ListReposResponse>(
        *l, &AdminService::Stub::ListRepos, request, [](const ovvoc::v1::ListReposResponse& r) {
          for (const auto& entry : r.repos()) {
            std::printf("%-24s %-12s %-10s %s\n", entry.id().c_str(), entry.org().c_str(),
                        entry.pool().c_str(), entry.url().c_str());
          }
        });
  });
}

void AddJobCommands(CLI::App& app, int& exit_code) {
  auto* job = app.add_subcommand("job", "Update jobs");
  job->require_subcommand(1);

  auto* create = job->add_subcommand("create", "Queue an update job for a repository");
  auto c = std::make_shared<Common>();
  auto repo = std::make_shared<std::string>();
  create->add_option("--repo", *repo, "Repository id (see `repo list`)")->required();
  AddCommon(create, *c);
  create->callback([&exit_code, c, repo] {
    ovvoc::v1::CreateJobRequest request;
    request.set_repo_id(*repo);
    exit_code = Run<ovvoc::v1::CreateJobRequest, ovvoc::v1::Job>(
        *c, &AdminService::Stub::CreateJob, request, [](const ovvoc::v1::Job& j) {
          std::printf("queued job for %s\n%s\n", j.repo_url().c_str(), j.id().c_str());
        });
  });

  auto* show = job->add_subcommand("show", "Show a job and its result");
  auto s = std::make_shared<Common>();
  auto show_id = std::make_shared<std::string>();
  show->add_option("ID", *show_id, "Job id")->required();
  AddCommon(show, *s);
  show->callback([&exit_code, s, show_id] {
    ovvoc::v1::GetJobRequest request;
    request.set_id(*show_id);
    exit_code = Run<ovvoc::v1::GetJobRequest, ovvoc::v1::Job>(*s, &AdminService::Stub::GetJob,
                                                              request, PrintJob);
  });

  auto* list = job->add_subcommand("list", "List recent jobs, newest first");
  auto l = std::make_shared<Common>();
  auto list_org = std::make_shared<std::string>();
  auto limit = std::make_shared<uint32_t>(50);
  list->add_option("--org", *list_org, "Only this organisation");
  list->add_option("--limit", *limit, "At most this many")->capture_default_str();
  AddCommon(list, *l);
  list->callback([&exit_code, l, list_org, limit] {
    ovvoc::v1::ListJobsRequest request;
    request.set_org(*list_org);
    request.set_limit(*limit);
    exit_code = Run<ovvoc::v1::ListJobsRequest, ovvoc::v1::ListJobsResponse>(
        *l, &AdminService::Stub::ListJobs, request, [](const ovvoc::v1::ListJobsResponse& r) {
          for (const auto& j : r.jobs()) {
            std::printf("%-24s %-10s %-22s %s\n", j.id().c_str(), StateName(j.state()).c_str(),
                        Rfc3339(FromProto(j.created_at())).c_str(), j.repo_url().c_str());
          }
        });
  });

  auto* cancel = job->add_subcommand("cancel", "Cancel a queued or running job");
  auto k = std::make_shared<Common>();
  auto cancel_id = std::make_shared<std::string>();
  cancel->add_option("ID", *cancel_id, "Job id")->required();
  AddCommon(cancel, *k);
  cancel->callback([&exit_code, k, cancel_id] {
    ovvoc::v1::CancelJobRequest request;
    request.set_id(*cancel_id);
    exit_code = Run<ovvoc::v1::CancelJobRequest, ovvoc::v1::Job>(
        *k, &AdminService::Stub::CancelJob, request, [](const ovvoc::v1::Job& j) {
          if (j.state() == ovvoc::v1::JOB_STATE_CANCELLED) {
            std::printf("cancelled\n%s\n", j.id().c_str());
          } else {
            std::printf("cancel requested; agent %s stops at its next heartbeat\n%s\n",
                        j.agent_id().c_str(), j.id().c_str());
          }
        });
  });
}

void AddAgentCommands(CLI::App& app, int& exit_code) {
  auto* agent = app.add_subcommand("agent", "Enrolled agents");
  agent->require_subcommand(1);

  auto* list = agent->add_subcommand("list", "List agents");
  auto l = std::make_shared<Common>();
  auto list_org = std::make_shared<std::string>();
  list->add_option("--org", *list_org, "Only this organisation");
  AddCommon(list, *l);
  list->callback([&exit_code, l, list_org] {
    ovvoc::v1::ListAgentsRequest request;
    request.set_org(*list_org);
    exit_code = Run<ovvoc::v1::ListAgentsRequest, ovvoc::v1::ListAgentsResponse>(
        *l, &AdminService::Stub::ListAgents, request, [](const ovvoc::v1::ListAgentsResponse& r) {
          for (const auto& a : r.agents()) {
            std::printf("%-24s %-12s %-10s %-8s %-22s %s\n", a.id().c_str(), a.org().c_str(),
                        a.pool().c_str(),
                        a.state() == ovvoc::v1::AGENT_STATE_REVOKED ? "revoked" : "active",
                        Rfc3339(FromProto(a.last_seen_at())).c_str(), a.hostname().c_str());
          }
        });
  });

  auto* revoke = agent->add_subcommand("revoke", "Revoke an agent; refused from its next call");
  auto r = std::make_shared<Common>();
  auto revoke_id = std::make_shared<std::string>();
  revoke->add_option("ID", *revoke_id, "Agent id")->required();
  AddCommon(revoke, *r);
  revoke->callback([&exit_code, r, revoke_id] {
    ovvoc::v1::RevokeAgentRequest request;
    request.set_id(*revoke_id);
    exit_code = Run<ovvoc::v1::RevokeAgentRequest, ovvoc::v1::Agent>(
        *r, &AdminService::Stub::RevokeAgent, request,
        [](const ovvoc::v1::Agent& a) { std::printf("revoked\n%s\n", a.id().c_str()); });
  });
}

}  // namespace

void AddAdminCommands(CLI::App& app, int& exit_code) {
  AddOrgCommands(app, exit_code);
  AddEnrollTokenCommands(app, exit_code);
  AddRepoCommands(app, exit_code);
  AddJobCommands(app, exit_code);
  AddAgentCommands(app, exit_code);
}

}  // namespace ovvoc::cp::cli
