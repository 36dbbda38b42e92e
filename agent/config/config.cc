#include "agent/config/config.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace ovvoc::agent {

bool ConfigDir::HasIdentity() const { return files::Exists(Path("agent.json")); }

absl::StatusOr<AgentIdentity> ConfigDir::Load() const {
  absl::StatusOr<std::string> text = files::ReadFile(Path("agent.json"));
  if (absl::IsNotFound(text.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no agent is registered in ", root_,
        "; run `ovvoc-agent register --server HOST:PORT --token TOKEN --config-dir ", root_, "`"));
  }
  if (!text.ok()) return text.status();
  nlohmann::json json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json["server"].is_string() || !json["agent_id"].is_string()) {
    return absl::DataLossError(absl::StrCat(Path("agent.json"), " is damaged; register again"));
  }
  AgentIdentity id;
  id.server = json["server"].get<std::string>();
  id.agent_id = json["agent_id"].get<std::string>();
  id.org = json.value("org", "");
  id.pool = json.value("pool", "");
  OVVOC_ASSIGN_OR_RETURN(id.key_pem, files::ReadFile(Path("agent.key")));
  OVVOC_ASSIGN_OR_RETURN(id.certificate_pem, files::ReadFile(Path("agent.pem")));
  OVVOC_ASSIGN_OR_RETURN(id.ca_pem, files::ReadFile(Path("ca.pem")));
  return id;
}

absl::Status ConfigDir::Save(const AgentIdentity& identity) const {
  OVVOC_RETURN_IF_ERROR(files::EnsureDir(root_, 0700));
  OVVOC_RETURN_IF_ERROR(files::WriteFileAtomic(Path("agent.key"), identity.key_pem, 0600));
  OVVOC_RETURN_IF_ERROR(files::WriteFileAtomic(Path("agent.pem"), identity.certificate_pem, 0600));
  OVVOC_RETURN_IF_ERROR(files::WriteFileAtomic(Path("ca.pem"), identity.ca_pem, 0600));
  nlohmann::json json = {{"server", identity.server},
                         {"agent_id", identity.agent_id},
                         {"org", identity.org},
                         {"pool", identity.pool}};
  // Written last: its presence means the directory is complete.
  return files::WriteFileAtomic(Path("agent.json"), json.dump(2) + "\n", 0600);
}

absl::Status ConfigDir::SaveCertificate(const std::string& key_pem,
                                        const std::string& certificate_pem) const {
  // A crash between the two writes leaves a key without its certificate; the agent then
  // fails its next handshake and says to register again, which is safe.
  OVVOC_RETURN_IF_ERROR(files::WriteFileAtomic(Path("agent.key"), key_pem, 0600));
  return files::WriteFileAtomic(Path("agent.pem"), certificate_pem, 0600);
}

namespace {

// `path` (canonical) is the agent's: owned by it, and each directory above it by root or the
// agent, writable by no other user unless sticky.
absl::Status CheckOwnedPath(const std::string& path, absl::string_view what) {
  const uid_t me = ::geteuid();
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is not a directory"));
  }
  if (st.st_uid != me) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, " ", path, " is owned by uid ", st.st_uid, ", not by the agent's user (uid ", me,
        "): give the agent a directory of its own"));
  }
  for (std::filesystem::path up = std::filesystem::path(path).parent_path();;
       up = up.parent_path()) {
    if (::lstat(up.c_str(), &st) != 0) {
      return absl::FailedPreconditionError(absl::StrCat("cannot check ", up.string()));
    }
    const bool others_write = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
    if ((st.st_uid != 0 && st.st_uid != me) || (others_write && (st.st_mode & S_ISVTX) == 0)) {
      return absl::FailedPreconditionError(absl::StrCat(
          what, " ", path, " lies under ", up.string(),
          ", which another user owns or may write to: another user could replace it; give the "
          "agent a directory under root's or its own"));
    }
    if (up == up.root_path() || up.empty()) break;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> OwnedDir(const std::string& dir, absl::string_view what) {
  OVVOC_RETURN_IF_ERROR(files::EnsureDir(dir, 0700));
  std::error_code ec;
  const std::filesystem::path canonical = std::filesystem::canonical(dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(absl::StrCat("cannot resolve ", dir, ": ", ec.message()));
  }
  OVVOC_RETURN_IF_ERROR(CheckOwnedPath(canonical.string(), what));
  return canonical.string();
}

absl::StatusOr<LockedStateDir> LockStateDir(const std::string& dir) {
  LockedStateDir out;
  OVVOC_ASSIGN_OR_RETURN(out.path, OwnedDir(dir, "the state dir"));
  const std::string path = out.path + "/lock";
  out.lock = UniqueFd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!out.lock.valid()) return absl::PermissionDeniedError(absl::StrCat("cannot open ", path));
  if (::flock(out.lock.get(), LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("another ovvoc-agent is using ", out.path,
                     "; give this one its own --state-dir / --config-dir"));
  }
  return out;
}

std::string DefaultConfigDir() {
  if (const char* env = std::getenv("OVVOC_AGENT_CONFIG_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  if (::geteuid() == 0) return "/var/lib/ovvoc-agent";
  const char* home = std::getenv("HOME");
  return absl::StrCat(home != nullptr ? home : ".", "/.config/ovvoc-agent");
}

}  // namespace ovvoc::agent
