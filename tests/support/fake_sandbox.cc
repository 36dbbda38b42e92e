#include "tests/support/fake_sandbox.h"

#include <unistd.h>

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/logging.h"
#include "tests/support/fresh_netns.h"

namespace ovvoc::testing {
namespace {

namespace sandbox = agent::sandbox;

class FakeSandbox final : public sandbox::Sandbox {
 public:
  FakeSandbox(std::unique_ptr<FreshNetns> netns, std::string workspace, uint32_t uid)
      : netns_(std::move(netns)), workspace_(std::move(workspace)), uid_(uid) {}

  int init_pid() const override { return netns_->tid(); }

  absl::StatusOr<sandbox::ExecResult> Exec(const sandbox::ExecSpec& spec,
                                           const std::function<bool()>& cancelled) override {
    sandbox::ExecResult result;
    if (cancelled && cancelled()) {
      result.termination = ovvoc::v1::TERMINATION_CANCELLED;
      return result;
    }
    // What npm leaves that the agent reads back: the lockfile it resolves (one of a project
    // without dependencies, which is what tests running the fake use).
    if (spec.argv.size() >= 3 && spec.argv[0] == "npm" && spec.argv[1] == "install" &&
        spec.argv[2] == "--package-lock-only") {
      const std::string lockfile = workspace_ + "/package-lock.json";
      absl::Status written = files::WriteFile(
          lockfile, R"({"lockfileVersion": 3, "requires": true, "packages": {"": {}}})" "\n", 0644);
      if (!written.ok()) return written;
      if (::chown(lockfile.c_str(), uid_, uid_) != 0) return absl::InternalError("chown");
    }
    result.exit_code = 0;
    result.termination = ovvoc::v1::TERMINATION_EXITED;
    result.output = absl::StrCat("fake sandbox: ", absl::StrJoin(spec.argv, " "), "\n");
    result.duration = absl::Milliseconds(1);
    return result;
  }
  absl::Status KillStrays() override { return absl::OkStatus(); }
  absl::Status Destroy() override { return absl::OkStatus(); }

 private:
  std::unique_ptr<FreshNetns> netns_;
  const std::string workspace_;
  const uint32_t uid_;
};

class FakeBackend final : public sandbox::Backend {
 public:
  absl::string_view name() const override { return "fake"; }
  absl::StatusOr<std::unique_ptr<sandbox::Sandbox>> Create(
      const sandbox::SandboxSpec& spec) override {
    auto netns = std::make_unique<FreshNetns>();
    if (!netns->status().ok()) return netns->status();
    return std::make_unique<FakeSandbox>(std::move(netns), spec.workspace_dir, spec.uid);
  }
  absl::Status ReapLeftovers() override { return absl::OkStatus(); }
};

class HoldingSandbox final : public sandbox::Sandbox {
 public:
  HoldingSandbox(std::unique_ptr<sandbox::Sandbox> inner, absl::Duration hold)
      : inner_(std::move(inner)), hold_(hold) {}

  int init_pid() const override { return inner_->init_pid(); }
  absl::StatusOr<sandbox::ExecResult> Exec(const sandbox::ExecSpec& spec,
                                           const std::function<bool()>& cancelled) override {
    log::Info("holding %s for %s", absl::StrJoin(spec.argv, " ").c_str(),
              absl::FormatDuration(hold_).c_str());
    const absl::Time end = absl::Now() + hold_;
    while (absl::Now() < end && !(cancelled && cancelled())) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    return inner_->Exec(spec, cancelled);
  }
  absl::Status KillStrays() override { return inner_->KillStrays(); }
  absl::Status Destroy() override { return inner_->Destroy(); }

 private:
  std::unique_ptr<sandbox::Sandbox> inner_;
  const absl::Duration hold_;
};

class HoldingBackend final : public sandbox::Backend {
 public:
  HoldingBackend(std::unique_ptr<sandbox::Backend> inner, absl::Duration hold)
      : inner_(std::move(inner)), hold_(hold) {}
  absl::string_view name() const override { return inner_->name(); }
  absl::StatusOr<std::unique_ptr<sandbox::Sandbox>> Create(
      const sandbox::SandboxSpec& spec) override {
    absl::StatusOr<std::unique_ptr<sandbox::Sandbox>> made = inner_->Create(spec);
    if (!made.ok()) return made.status();
    return std::make_unique<HoldingSandbox>(*std::move(made), hold_);
  }
  absl::Status ReapLeftovers() override { return inner_->ReapLeftovers(); }

 private:
  std::unique_ptr<sandbox::Backend> inner_;
  const absl::Duration hold_;
};

}  // namespace

std::unique_ptr<sandbox::Backend> NewFakeBackend() { return std::make_unique<FakeBackend>(); }

std::unique_ptr<sandbox::Backend> NewHoldingBackend(std::unique_ptr<sandbox::Backend> inner,
                                                    absl::Duration hold) {
  return std::make_unique<HoldingBackend>(std::move(inner), hold);
}

}  // namespace ovvoc::testing
