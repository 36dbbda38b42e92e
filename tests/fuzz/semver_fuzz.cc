// Fuzz harness for agent/npm/semver.h: arbitrary bytes as a version, a range and free text,
// under every option set. Besides "no crash, no UB", it checks what must hold whatever npm
// answers: printing then re-reading gives the same version or range, Compare() is antisymmetric
// and agrees with the comparison helpers, and every call returns.
// Built as a libFuzzer target with OVVOC_BUILD_FUZZERS (clang), and into semver_fuzz_smoke,
// which runs it over corpus/semver plus deterministic mutations in every build.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "agent/npm/semver.h"

namespace ovvoc::agent::npm {
namespace {

constexpr Options kOptions[] = {{false, false}, {true, false}, {false, true}, {true, true}};

[[noreturn]] void Broken(const char* invariant, absl::string_view input) {
  std::fprintf(stderr, "semver invariant broken: %s\ninput (%zu bytes):", invariant, input.size());
  for (unsigned char c : input) std::fprintf(stderr, " %02x", c);
  std::fprintf(stderr, "\n");
  std::abort();
}

#define OVVOC_FUZZ_CHECK(condition, input)       \
  do {                                           \
    if (!(condition)) Broken(#condition, input); \
  } while (false)

void CheckVersion(const Version& v, const Options& options, absl::string_view input) {
  OVVOC_FUZZ_CHECK(Compare(v, v) == 0 && CompareBuild(v, v) == 0, input);
  const std::string printed = v.ToString();
  // A loose "1.2.3beta..." gains a '-' when printed and may no longer fit in 256 characters.
  if (printed.size() > kMaxVersionLength) return;
  absl::StatusOr<Version> again = ParseVersion(printed, options);
  OVVOC_FUZZ_CHECK(again.ok(), input);
  OVVOC_FUZZ_CHECK(again->ToString() == printed && Compare(*again, v) == 0, input);
  OVVOC_FUZZ_CHECK(again->prerelease == v.prerelease, input);
  OVVOC_FUZZ_CHECK(Valid(printed, options) == printed, input);
}

void CheckPair(const Version& a, const Version& b, absl::string_view input) {
  const int ab = Compare(a, b);
  OVVOC_FUZZ_CHECK(ab >= -1 && ab <= 1 && ab == -Compare(b, a) && RCompare(a, b) == -ab, input);
  OVVOC_FUZZ_CHECK(Gt(a, b) == (ab > 0) && Lte(a, b) == !Gt(a, b) && Eq(a, b) == (ab == 0), input);
  OVVOC_FUZZ_CHECK(CompareBuild(a, b) == -CompareBuild(b, a), input);
  if (ab != 0) OVVOC_FUZZ_CHECK(CompareBuild(a, b) == ab, input);
}

bool VersionsFit(const Range& range) {
  for (const auto& set : range.sets()) {
    for (const Comparator& c : set) {
      if (c.version && c.version->ToString().size() > kMaxVersionLength) return false;
    }
  }
  return true;
}

// Printing a range and reading it back gives a range that releases see the same way. Not
// always the same text, nor the same for prereleases: npm keeps a loose ">=000.0.0" and prints
// it ">=0.0.0", which it then reads as "any" (letting 0.0.0-0 into "<0.0.0-h >=000.0.0"). One
// more round is a fixed point.
void CheckRange(const Range& range, const Options& options, absl::string_view input) {
  if (!VersionsFit(range)) return;
  absl::StatusOr<Range> again = Range::Parse(range.ToString(), options);
  OVVOC_FUZZ_CHECK(again.ok(), input);
  for (absl::string_view probe : {"0.0.0", "0.0.1", "1.2.3", "2.0.0", "999.999.999"}) {
    absl::StatusOr<bool> first = range.Test(probe);
    absl::StatusOr<bool> second = again->Test(probe);
    OVVOC_FUZZ_CHECK(first.ok() && second.ok() && *first == *second, input);
  }
  absl::StatusOr<Range> third = Range::Parse(again->ToString(), options);
  OVVOC_FUZZ_CHECK(third.ok() && third->ToString() == again->ToString(), input);
}

// The functions built on parsing, under one option set.
void CallTheRest(absl::string_view input, absl::string_view left, absl::string_view right,
                 const Options& options) {
  (void)Clean(input, options);
  (void)ValidRange(input, options);
  (void)Satisfies(left, right, options);
  (void)MaxSatisfying({std::string(left), "1.2.3", "2.0.0-rc.1"}, right, options);
  // O(comparators²) range parses, as in npm: kept to inputs of a few comparators.
  if (input.size() <= 64) (void)Intersects(left, right, options);
  const IdentifierBase base =
      options.include_prerelease ? IdentifierBase::kNone : IdentifierBase::kOne;
  if (Inc(left, ReleaseType::kPrerelease, options, right, base).ok()) {
    // The other release types only when the version and identifier are good.
    for (ReleaseType release :
         {ReleaseType::kMajor, ReleaseType::kPremajor, ReleaseType::kMinor, ReleaseType::kPreminor,
          ReleaseType::kPatch, ReleaseType::kPrepatch, ReleaseType::kRelease, ReleaseType::kPre}) {
      (void)Inc(left, release, options, right, base);
    }
  }
  (void)Diff(left, right);
  for (bool rtl : {false, true}) {
    const CoerceOptions coerce{options.loose, options.include_prerelease, rtl};
    std::optional<Version> coerced = Coerce(input, coerce);
    if (coerced) CheckVersion(*coerced, options, input);
  }
}

void FuzzOne(absl::string_view input) {
  // The input as a whole, and split at its first newline into a version and a range.
  const size_t newline = input.find('\n');
  const absl::string_view left = input.substr(0, newline);
  const absl::string_view right =
      newline == absl::string_view::npos ? input : input.substr(newline + 1);

  for (const Options& options : kOptions) {
    absl::StatusOr<Version> v = ParseVersion(input, options);
    if (v.ok()) CheckVersion(*v, options, input);
    absl::StatusOr<Version> a = ParseVersion(left, options);
    absl::StatusOr<Version> b = ParseVersion(right, options);
    if (a.ok() && b.ok()) CheckPair(*a, *b, input);
    absl::StatusOr<Range> range = Range::Parse(input, options);
    if (range.ok() && v.ok()) (void)range->Test(*v);
  }
  // Each input picks one option set for the rest, so that a run covers them all.
  const Options& options = kOptions[input.size() % 4];
  absl::StatusOr<Range> range = Range::Parse(input, options);
  if (range.ok()) CheckRange(*range, options, input);
  CallTheRest(input, left, right, options);
}

}  // namespace
}  // namespace ovvoc::agent::npm

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ovvoc::agent::npm::FuzzOne(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
