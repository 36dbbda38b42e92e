#include "agent/sandbox/seccomp_filter.h"

#include <errno.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/sandbox/hardening.h"
#include "common/unique_fd.h"

namespace ovvoc::agent::sandbox {
namespace {

struct ContextDeleter {
  void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};
using Context = std::unique_ptr<void, ContextDeleter>;

absl::StatusOr<uint32_t> Action(const nlohmann::json& action, const nlohmann::json& errno_ret) {
  const std::string name = action.is_string() ? action.get<std::string>() : "";
  const int err = errno_ret.is_number_unsigned() ? errno_ret.get<int>() : EPERM;
  if (name == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
  if (name == "SCMP_ACT_ERRNO") return SCMP_ACT_ERRNO(static_cast<uint16_t>(err));
  if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") return SCMP_ACT_KILL;
  if (name == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
  return absl::InvalidArgumentError(absl::StrCat("seccomp action ", name, " is not supported"));
}

absl::StatusOr<uint32_t> Arch(const std::string& name) {
  static const std::map<std::string, uint32_t> kArches = {{"SCMP_ARCH_X86_64", SCMP_ARCH_X86_64},
                                                          {"SCMP_ARCH_X32", SCMP_ARCH_X32},
                                                          {"SCMP_ARCH_X86", SCMP_ARCH_X86},
                                                          {"SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64}};
  auto it = kArches.find(name);
  if (it == kArches.end()) return absl::InvalidArgumentError("unknown seccomp arch " + name);
  return it->second;
}

absl::StatusOr<scmp_compare> Op(const std::string& name) {
  static const std::map<std::string, scmp_compare> kOps = {
      {"SCMP_CMP_NE", SCMP_CMP_NE},
      {"SCMP_CMP_LT", SCMP_CMP_LT},
      {"SCMP_CMP_LE", SCMP_CMP_LE},
      {"SCMP_CMP_EQ", SCMP_CMP_EQ},
      {"SCMP_CMP_GE", SCMP_CMP_GE},
      {"SCMP_CMP_GT", SCMP_CMP_GT},
      {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ}};
  auto it = kOps.find(name);
  if (it == kOps.end()) return absl::InvalidArgumentError("unknown seccomp comparison " + name);
  return it->second;
}

// One rule's argument conditions. As runc does: conditions on distinct arguments are ANDed in
// one rule; several conditions on the same argument become one rule each (ORed).
absl::StatusOr<std::vector<std::vector<scmp_arg_cmp>>> Conditions(const nlohmann::json& args) {
  std::vector<scmp_arg_cmp> all;
  std::set<unsigned> indices;
  bool repeated = false;
  for (const nlohmann::json& a : args) {
    absl::StatusOr<scmp_compare> op = Op(a.value("op", ""));
    if (!op.ok()) return op.status();
    const unsigned index = a.value("index", 0u);
    repeated |= !indices.insert(index).second;
    // OCI: `value` is the mask for MASKED_EQ, `valueTwo` the value it must equal.
    all.push_back(
        scmp_arg_cmp{index, *op, a.value("value", uint64_t{0}), a.value("valueTwo", uint64_t{0})});
  }
  if (!repeated) return std::vector<std::vector<scmp_arg_cmp>>{all};
  std::vector<std::vector<scmp_arg_cmp>> separate;
  for (const scmp_arg_cmp& c : all) separate.push_back({c});
  return separate;
}

}  // namespace

absl::StatusOr<std::string> CompileSeccompProfile(const nlohmann::json& profile) {
  absl::StatusOr<uint32_t> default_action =
      Action(profile["defaultAction"], profile.value("defaultErrnoRet", nlohmann::json()));
  if (!default_action.ok()) return default_action.status();
  Context ctx(seccomp_init(*default_action));
  if (!ctx) return absl::InternalError("seccomp_init failed");
  for (const nlohmann::json& arch : profile["architectures"]) {
    absl::StatusOr<uint32_t> a = Arch(arch.get<std::string>());
    if (!a.ok()) return a.status();
    int rc = seccomp_arch_add(ctx.get(), *a);
    if (rc != 0 && rc != -EEXIST) return absl::InternalError("seccomp_arch_add failed");
  }
  // A system call from an architecture not listed (a 32-bit x86 binary) kills the process:
  // libseccomp's default, and what the profile's review relied on (seccomp/README.md).
  for (const nlohmann::json& rule : profile["syscalls"]) {
    absl::StatusOr<uint32_t> action =
        Action(rule["action"], rule.value("errnoRet", nlohmann::json()));
    if (!action.ok()) return action.status();
    if (*action == *default_action) continue;  // a rule that changes nothing
    auto conditions = Conditions(rule.value("args", nlohmann::json::array()));
    if (!conditions.ok()) return conditions.status();
    for (const nlohmann::json& name : rule["names"]) {
      const int number = seccomp_syscall_resolve_name(name.get<std::string>().c_str());
      if (number == __NR_SCMP_ERROR) continue;  // unknown to this libseccomp
      for (const std::vector<scmp_arg_cmp>& cmp : *conditions) {
        int rc =
            seccomp_rule_add_array(ctx.get(), *action, number, static_cast<unsigned>(cmp.size()),
                                   cmp.empty() ? nullptr : cmp.data());
        if (rc != 0) {
          return absl::InternalError(
              absl::StrCat("seccomp rule for ", name.get<std::string>(), " refused: ", -rc));
        }
      }
    }
  }
  // libseccomp 2.5 exports to a file descriptor only: a memfd, read back.
  UniqueFd memfd(::memfd_create("ovvoc-seccomp", MFD_CLOEXEC));
  if (!memfd.valid() || seccomp_export_bpf(ctx.get(), memfd.get()) != 0) {
    return absl::InternalError("seccomp_export_bpf failed");
  }
  std::string program;
  char buf[4096];
  ssize_t n;
  ::lseek(memfd.get(), 0, SEEK_SET);
  while ((n = ::read(memfd.get(), buf, sizeof buf)) > 0)
    program.append(buf, static_cast<size_t>(n));
  return program;
}

const absl::StatusOr<std::string>& CompiledSeccompProfile() {
  static const auto* compiled =
      new absl::StatusOr<std::string>(CompileSeccompProfile(SeccompProfile()));
  return *compiled;
}

}  // namespace ovvoc::agent::sandbox
