#include "agent/registry/integrity.h"

#include <openssl/evp.h>

#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/crypto.h"

namespace ovvoc::agent::registry {
namespace {

struct Algorithm {
  const char* name;
  int strength;
  size_t digest_bytes;
};

constexpr Algorithm kAlgorithms[] = {
    {"sha1", 1, 20}, {"sha256", 2, 32}, {"sha384", 3, 48}, {"sha512", 4, 64}};

const Algorithm* FindAlgorithm(absl::string_view name) {
  for (const Algorithm& a : kAlgorithms) {
    if (name == a.name) return &a;
  }
  return nullptr;
}

// Standard base64 with optional padding, as SRI uses.
std::optional<std::string> DecodeBase64(absl::string_view text) {
  std::string url = absl::StrReplaceAll(text, {{"+", "-"}, {"/", "_"}});
  absl::string_view trimmed = url;
  while (absl::ConsumeSuffix(&trimmed, "=")) {
  }
  absl::StatusOr<std::string> bytes = crypto::Base64UrlDecode(trimmed);
  if (!bytes.ok()) return std::nullopt;
  return *std::move(bytes);
}

std::string Describe(const Integrity& integrity) { return integrity.ToString(); }

}  // namespace

std::string Integrity::ToString() const {
  return absl::StrCat(algorithm, "-", crypto::Base64Encode(digest));
}

std::string Integrity::Key() const { return absl::StrCat(algorithm, "-", crypto::HexEncode(digest)); }

absl::StatusOr<Integrity> ParseIntegrity(absl::string_view sri) {
  const Algorithm* best = nullptr;
  Integrity out;
  for (absl::string_view token : absl::StrSplit(sri, absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty())) {
    token = token.substr(0, token.find('?'));  // SRI options
    const size_t dash = token.find('-');
    if (dash == absl::string_view::npos) continue;
    const Algorithm* algorithm = FindAlgorithm(token.substr(0, dash));
    if (algorithm == nullptr || (best != nullptr && algorithm->strength <= best->strength)) continue;
    std::optional<std::string> digest = DecodeBase64(token.substr(dash + 1));
    if (!digest || digest->size() != algorithm->digest_bytes) continue;
    best = algorithm;
    out.algorithm = algorithm->name;
    out.digest = *std::move(digest);
  }
  if (best == nullptr) return absl::InvalidArgumentError("no usable integrity hash");
  return out;
}

struct IntegrityHasher::State {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~State() { EVP_MD_CTX_free(ctx); }
};

IntegrityHasher::IntegrityHasher(const Integrity& expected)
    : expected_(expected), state_(std::make_unique<State>()) {
  EVP_DigestInit_ex(state_->ctx, EVP_get_digestbyname(expected_.algorithm.c_str()), nullptr);
}

IntegrityHasher::~IntegrityHasher() = default;

void IntegrityHasher::Update(absl::string_view data) {
  EVP_DigestUpdate(state_->ctx, data.data(), data.size());
}

absl::Status IntegrityHasher::Verify() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(state_->ctx, digest, &length) != 1) {
    return absl::InternalError(absl::StrCat("cannot compute ", expected_.algorithm));
  }
  Integrity got{expected_.algorithm, std::string(reinterpret_cast<char*>(digest), length)};
  if (crypto::ConstantTimeEquals(got.digest, expected_.digest)) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat("integrity mismatch: expected ", Describe(expected_),
                                          ", got ", Describe(got)));
}

absl::Status VerifyIntegrity(const Integrity& expected, absl::string_view data) {
  IntegrityHasher hasher(expected);
  hasher.Update(data);
  return hasher.Verify();
}

}  // namespace ovvoc::agent::registry
