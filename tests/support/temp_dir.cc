#include "tests/support/temp_dir.h"

#include <stdlib.h>
#include <sys/mount.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace ovvoc::testing {

TempDir::TempDir() {
  std::string base = std::filesystem::temp_directory_path().string() + "/ovvoc-test-XXXXXX";
  std::vector<char> buf(base.begin(), base.end());
  buf.push_back('\0');
  path_ = ::mkdtemp(buf.data());
}

namespace {

// Mount points under `dir`, deepest first: what an agent a test killed left mounted (a job's
// disk), which only that agent's next start would have cleaned up.
std::vector<std::string> MountsUnder(const std::string& dir) {
  std::vector<std::string> mounts;
  std::ifstream mountinfo("/proc/self/mountinfo");
  for (std::string line; std::getline(mountinfo, line);) {
    std::istringstream fields(line);
    std::string id, parent, device, root, point;
    fields >> id >> parent >> device >> root >> point;
    if (point.rfind(dir + "/", 0) == 0) mounts.push_back(point);
  }
  std::sort(mounts.begin(), mounts.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return mounts;
}

}  // namespace

TempDir::~TempDir() {
  const char* keep = std::getenv("OVVOC_KEEP_TEST_DIRS");
  if (keep != nullptr && std::string(keep) == "1") return;
  for (const std::string& mount : MountsUnder(path_)) ::umount2(mount.c_str(), MNT_DETACH);
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace ovvoc::testing
