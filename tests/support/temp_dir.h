// TempDir: a scratch directory for one test. Test support only.
#ifndef OVVOC_TESTS_SUPPORT_TEMP_DIR_H_
#define OVVOC_TESTS_SUPPORT_TEMP_DIR_H_

#include <string>

namespace ovvoc::testing {

// A fresh directory, removed with everything in it at destruction unless the environment sets
// OVVOC_KEEP_TEST_DIRS=1.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace ovvoc::testing

#endif  // OVVOC_TESTS_SUPPORT_TEMP_DIR_H_
