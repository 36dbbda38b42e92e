#include "common/ids.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/crypto.h"

namespace ovvoc {
namespace {
constexpr absl::string_view kAlphabet = "0123456789abcdefghjkmnpqrstvwxyz";  // Crockford
constexpr size_t kRandomChars = 16;                                          // 80 bits
}  // namespace

std::string NewId(absl::string_view prefix) {
  std::string random = crypto::RandomBytes(10);
  std::string out = absl::StrCat(prefix, "_");
  // 10 bytes = 80 bits = 16 base32 digits.
  unsigned buffer = 0;
  int bits = 0;
  for (unsigned char c : random) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kAlphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  return out;
}

bool IsWellFormedId(absl::string_view id, absl::string_view prefix) {
  if (id.size() != prefix.size() + 1 + kRandomChars) return false;
  if (id.substr(0, prefix.size()) != prefix || id[prefix.size()] != '_') return false;
  for (char c : id.substr(prefix.size() + 1)) {
    if (kAlphabet.find(c) == absl::string_view::npos) return false;
  }
  return true;
}

}  // namespace ovvoc
