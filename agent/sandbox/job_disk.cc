#include "agent/sandbox/job_disk.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/process/process.h"
#include "agent/sandbox/loop_device.h"
#include "agent/sandbox/sandbox.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"

namespace ovvoc::agent::sandbox {
namespace {

absl::Status Errno(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

absl::Status Format(const std::string& image, uint32_t uid) {
  RunOptions mkfs;
  mkfs.argv = {"/sbin/mkfs.ext4",
               "-q",
               "-F",
               "-m",
               "0",
               "-O",
               "^has_journal",
               "-E",
               absl::StrCat("lazy_itable_init=1,root_owner=", uid, ":", uid),
               image};
  mkfs.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  mkfs.timeout = absl::Seconds(60);
  OVVOC_ASSIGN_OR_RETURN(RunResult run, RunProcess(mkfs));
  if (run.exit_code != 0) {
    return absl::InternalError(absl::StrCat("mkfs.ext4 failed: ", run.output));
  }
  return absl::OkStatus();
}

uint64_t UsedBlocks(const std::string& dir) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.f_blocks - st.f_bfree) * st.f_frsize;
}

}  // namespace

absl::StatusOr<std::unique_ptr<JobDisk>> JobDisk::Create(const std::string& image_path,
                                                         const std::string& mount_dir,
                                                         uint64_t bytes, uint32_t uid) {
  auto disk = std::unique_ptr<JobDisk>(new JobDisk(image_path, mount_dir));
  {
    UniqueFd image(::open(image_path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!image.valid()) return Errno(absl::StrCat("create ", image_path));
    if (::ftruncate(image.get(), static_cast<off_t>(bytes)) != 0) return Errno("size job disk");
  }
  OVVOC_RETURN_IF_ERROR(Format(image_path, uid));
  OVVOC_RETURN_IF_ERROR(files::EnsureDir(mount_dir, 0755));
  OVVOC_ASSIGN_OR_RETURN(LoopDevice loop, AttachLoop(image_path, /*read_only=*/false));
  if (::mount(loop.device.c_str(), mount_dir.c_str(), "ext4", MS_NOSUID | MS_NODEV | MS_NOATIME,
              "") != 0) {
    return Errno(absl::StrCat("mount ", loop.device, " on ", mount_dir));
  }
  disk->mounted_ = true;
  for (const std::string& dir : {disk->tree_dir(), disk->home_dir()}) {
    if (::mkdir(dir.c_str(), 0755) != 0 || ::chown(dir.c_str(), uid, uid) != 0) {
      return Errno(absl::StrCat("prepare ", dir));
    }
  }
  if (::mkdir(disk->control_dir().c_str(), 0755) != 0 ||
      ::mkdir(disk->etc_dir().c_str(), 0755) != 0) {
    return Errno(absl::StrCat("prepare ", disk->control_dir()));
  }
  // As in the image: no resolver but the default (127.0.0.1), where the egress monitor sees
  // every query.
  for (const auto& [file, content] :
       {std::pair<const char*, const char*>{"hosts", "127.0.0.1 localhost\n::1 localhost\n"},
        {"hostname", "ovvoc-job\n"},
        {"resolv.conf", ""}}) {
    OVVOC_RETURN_IF_ERROR(
        files::WriteFile(absl::StrCat(disk->etc_dir(), "/", file), content, 0644));
  }
  ::chmod(mount_dir.c_str(), 0755);  // root_owner made it the job's; the root stays ours
  ::chown(mount_dir.c_str(), 0, 0);
  disk->empty_used_ = UsedBlocks(mount_dir);
  return disk;
}

JobDisk::~JobDisk() { (void)Release(); }

bool JobDisk::Full() const {
  struct statvfs st {};
  if (::statvfs(mount_dir_.c_str(), &st) != 0) return false;
  constexpr uint64_t kNearlyNoBytes = 1 << 20, kNearlyNoInodes = 64;
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize < kNearlyNoBytes ||
         st.f_favail < kNearlyNoInodes;
}

uint64_t JobDisk::UsedBytes() const {
  const uint64_t used = UsedBlocks(mount_dir_);
  return used > empty_used_ ? used - empty_used_ : 0;
}

absl::Status JobDisk::Release() {
  if (mounted_) {
    if (::umount2(mount_dir_.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
      return Errno(absl::StrCat("unmount ", mount_dir_));
    }
    mounted_ = false;
  }
  ::unlink(image_path_.c_str());
  return absl::OkStatus();
}

namespace {

// A mountinfo path as the kernel writes it: space, tab, newline and backslash as octal escapes
// (\040, \011, \012, \134).
std::string UnescapeMountPath(absl::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && field.size() - i >= 4 && field[i + 1] >= '0' && field[i + 1] <= '3' &&
        field[i + 2] >= '0' && field[i + 2] <= '7' && field[i + 3] >= '0' && field[i + 3] <= '7') {
      out.push_back(static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                                      (field[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

}  // namespace

void JobDisk::UnmountAllUnder(const std::string& dir_as_given) {
  absl::StatusOr<std::string> mounts = files::ReadFile("/proc/self/mountinfo");
  if (!mounts.ok()) return;
  // mountinfo names mount points canonically: compare with the canonical form of `dir`.
  std::error_code ec;
  std::string dir = std::filesystem::weakly_canonical(dir_as_given, ec).string();
  if (ec || dir.empty()) dir = dir_as_given;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  std::vector<std::string> targets;
  for (absl::string_view line : absl::StrSplit(*mounts, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
    if (fields.size() < 5) continue;
    std::string target = UnescapeMountPath(fields[4]);
    if (target == dir || absl::StartsWith(target, dir + "/")) targets.push_back(target);
  }
  // Deepest first.
  std::sort(targets.begin(), targets.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const std::string& target : targets) ::umount2(target.c_str(), MNT_DETACH);
}

}  // namespace ovvoc::agent::sandbox
