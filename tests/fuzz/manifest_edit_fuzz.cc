// Fuzz harness for the package.json editor (agent/npm/manifest_edit.h): arbitrary bytes as a
// manifest, read by nlohmann (bounded, as the editor reads it) to learn what it holds, then
// edited entry by entry with new specs cut from the input itself (quotes, backslashes, control
// characters and bytes that are not UTF-8 included). Besides "no crash, no UB", it checks what
// the header promises, from nlohmann's side of the text:
//   - text nlohmann refuses is InvalidArgument, and so is text it accepts only because it takes
//     a NUL byte after the value for the end of the input (JSON.parse refuses the NUL); a top level
//     that is not an object, a section that is not an object and a value that is not a string are
//     FailedPrecondition; an absent section or entry is NotFound; nothing is ever Internal;
//   - every string entry nlohmann sees is found: the edit succeeds unless the new spec is not
//     UTF-8 (InvalidArgument) or the section or the entry is written twice, as a SAX pass of
//     nlohmann's counts them (FailedPrecondition), and then it is refused;
//   - an edit that succeeds parses to the original document with that one value set, key order
//     included, and its bytes are the input's with one span replaced: a JSON string token that
//     held the old spec, replaced by the new spec as JSON.stringify writes it (the input itself
//     when the spec does not change);
//   - a wrong from_spec is refused; a group of edits reads as all of them applied.
// Built into manifest_edit_fuzz_smoke, which runs it over corpus/manifest_edit plus
// deterministic mutations in every build, and as a libFuzzer target with OVVOC_BUILD_FUZZERS.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "agent/npm/internal/bounded_json.h"
#include "agent/npm/manifest_edit.h"
#include "nlohmann/json.hpp"

namespace ovvoc::agent::npm {
namespace {

using Json = nlohmann::ordered_json;

constexpr size_t kMaxEditsPerInput = 24;  // keeps each input's cost near a few parses

constexpr std::pair<const char*, ovvoc::v1::DependencyKind> kSections[] = {
    {"dependencies", ovvoc::v1::DEPENDENCY_KIND_PROD},
    {"devDependencies", ovvoc::v1::DEPENDENCY_KIND_DEV},
    {"optionalDependencies", ovvoc::v1::DEPENDENCY_KIND_OPTIONAL},
    {"peerDependencies", ovvoc::v1::DEPENDENCY_KIND_PEER},
};

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

absl::StatusOr<Json> Parse(absl::string_view text) {
  return internal::ParseBoundedJson<Json>(text, internal::kMaxManifestDepth,
                                          internal::kMaxManifestValues,
                                          internal::kMaxManifestKeyWork);
}

// How often the text writes each key where the editor looks: the top-level object's keys, and
// the keys of each object that is a top-level value (nlohmann's DOM keeps one of each).
class KeyCounter final : public nlohmann::json_sax<Json> {
 public:
  using Base = nlohmann::json_sax<Json>;

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(Base::number_integer_t) override { return true; }
  bool number_unsigned(Base::number_unsigned_t) override { return true; }
  bool number_float(Base::number_float_t, const Base::string_t&) override { return true; }
  bool string(Base::string_t&) override { return true; }
  bool binary(Base::binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    open_.push_back(true);
    return true;
  }
  bool key(Base::string_t& key) override {
    if (open_.size() == 1) {
      ++top_[key];
      top_key_ = key;
    } else if (open_.size() == 2 && open_[0] && open_[1]) {
      ++entries_[{top_key_, key}];
    }
    return true;
  }
  bool end_object() override {
    open_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    open_.push_back(false);
    return true;
  }
  bool end_array() override {
    open_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

  bool SectionDuplicated(const std::string& section) const {
    const auto it = top_.find(section);
    return it != top_.end() && it->second > 1;
  }

  // The section, or its entry `name`, is written more than once.
  bool EntryDuplicated(const std::string& section, const std::string& name) const {
    const auto it = entries_.find({section, name});
    return SectionDuplicated(section) || (it != entries_.end() && it->second > 1);
  }

 private:
  std::vector<bool> open_;  // each open container: an object?
  std::string top_key_;
  std::map<std::string, int> top_;
  std::map<std::pair<std::string, std::string>, int> entries_;
};

// `s` as a JSON string token (JSON.stringify's escapes, UTF-8 kept), or "" when `s` is not
// UTF-8: nlohmann's encoder, independent of the editor's.
std::string Token(const std::string& s) {
  try {
    return Json(s).dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::strict);
  } catch (const Json::exception&) {
    return "";
  }
}

// Whether `out` is `in` with one JSON string token that decodes to `from` replaced by `token`.
bool OneSpanReplaced(absl::string_view in, absl::string_view out, absl::string_view token,
                     const std::string& from) {
  if (out.size() < token.size()) return false;
  size_t prefix = 0;
  while (prefix < in.size() && prefix < out.size() && in[prefix] == out[prefix]) ++prefix;
  const size_t tail = out.size() - token.size();  // bytes of `out` outside the token
  for (size_t begin = 0; begin <= prefix && begin <= tail; ++begin) {
    if (out.substr(begin, token.size()) != token) continue;
    const size_t suffix = tail - begin;
    if (suffix > in.size() || in.size() - suffix < begin) continue;
    const size_t end = in.size() - suffix;
    if (in.substr(end) != out.substr(begin + token.size())) continue;
    const absl::string_view old_token = in.substr(begin, end - begin);
    if (old_token.size() < 2 || old_token.front() != '"' || old_token.back() != '"') continue;
    const Json old_value = Json::parse(old_token, nullptr, /*allow_exceptions=*/false);
    if (old_value.is_string() && old_value.get<std::string>() == from) return true;
  }
  return false;
}

// A new spec cut from the input: any bytes at all.
std::string DeriveSpec(absl::string_view input, size_t i) {
  if (input.empty()) return "1.0.0";
  const size_t at = (i * 131 + 17) % input.size();
  return std::string(input.substr(at, (i * 7 + input.size()) % 13));
}

void CheckCode(const absl::Status& status, absl::StatusCode code, const char* what) {
  if (status.code() != code) {
    std::fprintf(stderr, "%s\n", status.ToString().c_str());
  }
  Check(status.code() == code, what);
}

// One entry whose value nlohmann reads as the string `from`.
void EditEntry(absl::string_view input, const Json& doc, bool duplicated, const char* section,
               const DependencyEdit& edit) {
  absl::StatusOr<std::string> out = EditDependency(input, edit);
  const std::string token = Token(edit.to_spec);
  if (token.empty()) {
    CheckCode(out.status(), absl::StatusCode::kInvalidArgument, "a spec that is not UTF-8");
    return;
  }
  if (duplicated) {
    CheckCode(out.status(), absl::StatusCode::kFailedPrecondition, "a key written twice");
    Check(absl::StrContains(out.status().message(), " times: "), "refused for the duplicate");
    return;
  }
  CheckCode(out.status(), absl::StatusCode::kOk, "a string entry is edited");
  absl::StatusOr<Json> reread = Parse(*out);
  Check(reread.ok(), "the output parses");
  Json intended = doc;
  intended[section][edit.name] = edit.to_spec;
  Check(*reread == intended, "the output reads as intended, in the same key order");
  if (edit.to_spec == edit.from_spec) {
    Check(*out == input, "an unchanged spec leaves the bytes");
  } else {
    Check(OneSpanReplaced(input, *out, token, edit.from_spec), "only the value token differs");
  }

  DependencyEdit stale = edit;
  stale.from_spec += "x";
  CheckCode(EditDependency(input, stale).status(), absl::StatusCode::kFailedPrecondition,
            "a wrong from_spec is refused");
}

// Edits of a section nlohmann reads as an object; returns false when out of edits.
bool EditSection(absl::string_view input, const Json& doc, const KeyCounter& keys,
                 const char* section, ovvoc::v1::DependencyKind kind, size_t& edits,
                 std::vector<DependencyEdit>& group) {
  const Json& entries = doc[section];
  const std::string absent = "\x01not-there";
  if (!entries.contains(absent)) {
    CheckCode(EditDependency(input, {kind, absent, "1", "2"}).status(),
              keys.SectionDuplicated(section) ? absl::StatusCode::kFailedPrecondition
                                              : absl::StatusCode::kNotFound,
              "an absent entry is not found");
  }
  for (const auto& [name, value] : entries.items()) {
    if (++edits > kMaxEditsPerInput) return false;
    const bool duplicated = keys.EntryDuplicated(section, name);
    if (!value.is_string()) {
      CheckCode(EditDependency(input, {kind, name, "1", "2"}).status(),
                absl::StatusCode::kFailedPrecondition, "a value that is not a string");
      continue;
    }
    const std::string from = value.get<std::string>();
    const DependencyEdit edit{kind, name, from, DeriveSpec(input, edits)};
    EditEntry(input, doc, duplicated, section, edit);
    EditEntry(input, doc, duplicated, section, {kind, name, from, from});
    if (!Token(edit.to_spec).empty()) group.push_back(edit);
  }
  return true;
}

void FuzzObject(absl::string_view input, const Json& doc) {
  KeyCounter keys;
  Check(Json::sax_parse(input.begin(), input.end(), &keys), "the SAX pass reads what parsed");
  std::vector<DependencyEdit> group;
  bool group_duplicated = false;
  size_t edits = 0;
  for (const auto& [section, kind] : kSections) {
    const auto it = doc.find(section);
    if (it == doc.end()) {
      CheckCode(EditDependency(input, {kind, "a", "1", "2"}).status(), absl::StatusCode::kNotFound,
                "an absent section is not found");
      continue;
    }
    if (!it->is_object()) {
      CheckCode(EditDependency(input, {kind, "a", "1", "2"}).status(),
                absl::StatusCode::kFailedPrecondition, "a section that is not an object");
      continue;
    }
    const size_t before = group.size();
    const bool more = EditSection(input, doc, keys, section, kind, edits, group);
    for (size_t i = before; i < group.size(); ++i) {
      group_duplicated = group_duplicated || keys.EntryDuplicated(section, group[i].name);
    }
    if (!more) break;
  }
  absl::StatusOr<std::string> out = EditDependencies(input, group);
  if (group_duplicated) {
    CheckCode(out.status(), absl::StatusCode::kFailedPrecondition, "a group with a duplicate");
    return;
  }
  CheckCode(out.status(), absl::StatusCode::kOk, "a group is edited");
  Json intended = doc;
  for (const DependencyEdit& edit : group) {
    for (const auto& [section, kind] : kSections) {
      if (kind == edit.kind) intended[section][edit.name] = edit.to_spec;
    }
  }
  absl::StatusOr<Json> reread = Parse(*out);
  Check(reread.ok() && *reread == intended, "a group reads as every edit applied");
}

void FuzzOne(absl::string_view input) {
  absl::StatusOr<Json> doc = Parse(input);
  const DependencyEdit any{ovvoc::v1::DEPENDENCY_KIND_PROD, "a", "1", "2"};
  // nlohmann stops at a NUL byte outside a string: a NUL in text it accepts ends the value.
  if (!doc.ok() || input.find('\0') != absl::string_view::npos) {
    CheckCode(EditDependency(input, any).status(), absl::StatusCode::kInvalidArgument,
              "text that is not JSON is InvalidArgument");
    return;
  }
  if (!doc->is_object()) {
    CheckCode(EditDependency(input, any).status(), absl::StatusCode::kFailedPrecondition,
              "a top level that is not an object");
    return;
  }
  FuzzObject(input, *doc);
}

}  // namespace
}  // namespace ovvoc::agent::npm

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ovvoc::agent::npm::FuzzOne(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
