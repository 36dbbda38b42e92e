#include "agent/npm/manifest_edit.h"

#include <cstddef>
#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/npm/internal/bounded_json.h"
#include "agent/npm/project.h"
#include "common/inert.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace ovvoc::agent::npm {
namespace {

using Json = nlohmann::ordered_json;  // equality is key order too: an edit must not reorder

constexpr size_t kMaxQuoted = 120;  // bytes of the file's text (escaped) quoted in a message
constexpr absl::string_view kBom = "\xEF\xBB\xBF";

enum class ValueType { kObject, kArray, kString, kNumber, kTrue, kFalse, kNull };

absl::string_view Describe(ValueType type) {
  switch (type) {
    case ValueType::kObject:
      return "an object";
    case ValueType::kArray:
      return "an array";
    case ValueType::kString:
      return "a string";
    case ValueType::kNumber:
      return "a number";
    case ValueType::kTrue:
      return "true";
    case ValueType::kFalse:
      return "false";
    case ValueType::kNull:
      return "null";
  }
  return "a value";
}

// The section's key in package.json; "" for a kind that names none.
absl::string_view SectionKey(ovvoc::v1::DependencyKind kind) {
  switch (kind) {
    case ovvoc::v1::DEPENDENCY_KIND_PROD:
      return "dependencies";
    case ovvoc::v1::DEPENDENCY_KIND_DEV:
      return "devDependencies";
    case ovvoc::v1::DEPENDENCY_KIND_OPTIONAL:
      return "optionalDependencies";
    case ovvoc::v1::DEPENDENCY_KIND_PEER:
      return "peerDependencies";
    default:
      return "";
  }
}

// Text from the file (or derived from it) for a message: quoted, inert, short.
std::string Quote(absl::string_view text) {
  return absl::StrCat("\"", InertLine(text, kMaxQuoted), "\"");
}

// The length of the well-formed UTF-8 sequence at the start of `s` (Unicode's table 3-7: no
// overlong forms, no surrogates, nothing past U+10FFFF), or 0. `s` is not empty.
size_t Utf8Length(absl::string_view s) {
  const auto byte = [&](size_t i) { return i < s.size() ? static_cast<uint8_t>(s[i]) : 0; };
  const uint8_t b0 = byte(0);
  if (b0 < 0x80) return 1;
  const auto in = [](uint8_t b, uint8_t lo, uint8_t hi) { return b >= lo && b <= hi; };
  uint8_t lo = 0x80;
  uint8_t hi = 0xBF;
  size_t length = 0;
  if (in(b0, 0xC2, 0xDF)) {
    length = 2;
  } else if (in(b0, 0xE0, 0xEF)) {
    length = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (in(b0, 0xF0, 0xF4)) {
    length = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (!in(byte(1), lo, hi)) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (!in(byte(i), 0x80, 0xBF)) return 0;
  }
  return length;
}

bool IsUtf8(absl::string_view s) {
  while (!s.empty()) {
    const size_t length = Utf8Length(s);
    if (length == 0) return false;
    s.remove_prefix(length);
  }
  return true;
}

void AppendUtf8(uint32_t code_point, std::string* out) {
  if (code_point < 0x80) {
    out->push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

// `s` as JSON.stringify writes it.
void AppendJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  for (const char ch : s) {
    switch (ch) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\b':
        *out += "\\b";
        break;
      case '\f':
        *out += "\\f";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (static_cast<uint8_t>(ch) < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", static_cast<uint8_t>(ch));
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

// One member of an object as the tokenizer saw it: its decoded key and where its value lies.
struct Member {
  std::string key;
  ValueType type = ValueType::kNull;
  size_t begin = 0;  // the value's first byte
  size_t end = 0;    // one past its last
};

// A JSON tokenizer (RFC 8259, as strict as nlohmann's parser: UTF-8 checked, a byte order mark
// allowed before the value) that knows where each value lies. Recursion is bounded by
// kMaxManifestDepth, memory by the members asked for, time is linear in the bytes scanned.
class Scanner {
 public:
  explicit Scanner(absl::string_view text) : text_(text) {}

  // The whole text: an optional byte order mark, one value, whitespace. `members` gets the
  // value's members when it is an object.
  absl::Status Document(ValueType* type, std::vector<Member>* members) {
    pos_ = text_.substr(0, kBom.size()) == kBom ? kBom.size() : 0;
    OVVOC_RETURN_IF_ERROR(Value(0, type, members));
    SkipWhitespace();
    return pos_ == text_.size() ? absl::OkStatus() : Error("text after the value");
  }

  // The object at `at` (inside `depth` - 1 containers), its members.
  absl::Status ObjectAt(size_t at, int depth, std::vector<Member>* members) {
    pos_ = at;
    return Object(depth, members);
  }

  // The string at `at`, decoded.
  absl::Status StringAt(size_t at, std::string* decoded) {
    pos_ = at;
    return String(decoded);
  }

 private:
  // `depth`: the containers around the value. `members`: see Document().
  absl::Status Value(int depth, ValueType* type, std::vector<Member>* members) {
    SkipWhitespace();
    if (pos_ >= text_.size()) return Error("the text ends where a value should be");
    switch (text_[pos_]) {
      case '{':
        *type = ValueType::kObject;
        if (depth >= internal::kMaxManifestDepth) return DepthError();
        return Object(depth + 1, members);
      case '[':
        *type = ValueType::kArray;
        if (depth >= internal::kMaxManifestDepth) return DepthError();
        return Array(depth + 1);
      case '"':
        *type = ValueType::kString;
        return String(nullptr);
      case 't':
        *type = ValueType::kTrue;
        return Literal("true");
      case 'f':
        *type = ValueType::kFalse;
        return Literal("false");
      case 'n':
        *type = ValueType::kNull;
        return Literal("null");
      default:
        *type = ValueType::kNumber;
        return Number();
    }
  }

  absl::Status Object(int depth, std::vector<Member>* members) {
    ++pos_;  // '{'
    SkipWhitespace();
    if (Next('}')) return absl::OkStatus();
    while (true) {
      SkipWhitespace();
      if (pos_ >= text_.size() || text_[pos_] != '"') return Error("expected a key");
      Member member;
      OVVOC_RETURN_IF_ERROR(String(members != nullptr ? &member.key : nullptr));
      SkipWhitespace();
      if (!Next(':')) return Error("expected ':'");
      SkipWhitespace();
      member.begin = pos_;
      OVVOC_RETURN_IF_ERROR(Value(depth, &member.type, nullptr));
      member.end = pos_;
      if (members != nullptr) members->push_back(std::move(member));
      SkipWhitespace();
      if (Next('}')) return absl::OkStatus();
      if (!Next(',')) return Error("expected ',' or '}'");
    }
  }

  absl::Status Array(int depth) {
    ++pos_;  // '['
    SkipWhitespace();
    if (Next(']')) return absl::OkStatus();
    while (true) {
      ValueType ignored;
      OVVOC_RETURN_IF_ERROR(Value(depth, &ignored, nullptr));
      SkipWhitespace();
      if (Next(']')) return absl::OkStatus();
      if (!Next(',')) return Error("expected ',' or ']'");
    }
  }

  // `decoded`: nullptr to check the string only.
  absl::Status String(std::string* decoded) {
    ++pos_;  // '"'
    while (true) {
      if (pos_ >= text_.size()) return Error("the text ends inside a string");
      const uint8_t c = static_cast<uint8_t>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return absl::OkStatus();
      }
      if (c < 0x20) return Error("a control character in a string");
      if (c == '\\') {
        OVVOC_RETURN_IF_ERROR(Escape(decoded));
        continue;
      }
      const size_t length = Utf8Length(text_.substr(pos_));
      if (length == 0) return Error("a string that is not UTF-8");
      if (decoded != nullptr) decoded->append(text_.data() + pos_, length);
      pos_ += length;
    }
  }

  absl::Status Escape(std::string* decoded) {
    ++pos_;  // '\'
    if (pos_ >= text_.size()) return Error("the text ends inside a string");
    char simple = 0;
    switch (text_[pos_]) {
      case '"':
      case '\\':
      case '/':
        simple = text_[pos_];
        break;
      case 'b':
        simple = '\b';
        break;
      case 'f':
        simple = '\f';
        break;
      case 'n':
        simple = '\n';
        break;
      case 'r':
        simple = '\r';
        break;
      case 't':
        simple = '\t';
        break;
      case 'u':
        return UnicodeEscape(decoded);
      default:
        return Error("an invalid escape");
    }
    ++pos_;
    if (decoded != nullptr) decoded->push_back(simple);
    return absl::OkStatus();
  }

  // `\uXXXX`, or a surrogate pair `\uD8XX\uDCXX`; pos_ is at the first `u`. A lone surrogate is
  // an error, as in nlohmann's parser (JSON.parse would keep it as UTF-16 that UTF-8 cannot hold).
  absl::Status UnicodeEscape(std::string* decoded) {
    uint32_t unit = 0;
    OVVOC_RETURN_IF_ERROR(Hex4(&unit));
    uint32_t code_point = unit;
    if (unit >= 0xDC00 && unit <= 0xDFFF) return Error("a lone low surrogate");
    if (unit >= 0xD800 && unit <= 0xDBFF) {
      if (text_.substr(pos_, 2) != "\\u") return Error("a high surrogate without its pair");
      ++pos_;  // '\'
      uint32_t low = 0;
      OVVOC_RETURN_IF_ERROR(Hex4(&low));
      if (low < 0xDC00 || low > 0xDFFF) return Error("a high surrogate without its pair");
      code_point = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
    }
    if (decoded != nullptr) AppendUtf8(code_point, decoded);
    return absl::OkStatus();
  }

  // `uXXXX` at pos_.
  absl::Status Hex4(uint32_t* unit) {
    ++pos_;  // 'u'
    if (text_.size() - pos_ < 4) return Error("a short \\u escape");
    for (int i = 0; i < 4; ++i, ++pos_) {
      const char c = text_[pos_];
      uint32_t digit = 0;
      if (c >= '0' && c <= '9') {
        digit = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        digit = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        digit = c - 'A' + 10;
      } else {
        return Error("a \\u escape that is not hexadecimal");
      }
      *unit = *unit * 16 + digit;
    }
    return absl::OkStatus();
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  absl::Status Number() {
    Next('-');
    if (Next('0')) {
      // no more integer digits: "01" is not JSON
    } else if (!Digits()) {
      return Error("an unexpected character");
    }
    if (Next('.') && !Digits()) return Error("a number without digits after '.'");
    if (Next('e') || Next('E')) {
      if (!Next('+')) Next('-');
      if (!Digits()) return Error("a number without digits in its exponent");
    }
    return absl::OkStatus();
  }

  // At least one digit, and any that follow.
  bool Digits() {
    const size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    return pos_ > start;
  }

  absl::Status Literal(absl::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return Error("an unexpected character");
    pos_ += word.size();
    return absl::OkStatus();
  }

  void SkipWhitespace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  // Consumes `c` when it is next.
  bool Next(char c) {
    if (pos_ >= text_.size() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }

  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("the manifest is not valid JSON: ", what, " at byte ", pos_));
  }

  absl::Status DepthError() const {
    return absl::InvalidArgumentError(
        absl::StrCat("the manifest nests deeper than ", internal::kMaxManifestDepth));
  }

  const absl::string_view text_;
  size_t pos_ = 0;
};

// The one member of `members` keyed `key`. `where` names the object in messages.
absl::StatusOr<const Member*> FindUnique(const std::vector<Member>& members, absl::string_view key,
                                         absl::string_view where) {
  const Member* found = nullptr;
  int count = 0;
  for (const Member& member : members) {
    if (member.key != key) continue;
    found = &member;  // the last, as JSON.parse reads it
    ++count;
  }
  if (count == 0) return absl::NotFoundError(absl::StrCat(where, " has no ", Quote(key)));
  if (count > 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        where, " has ", Quote(key), " ", count,
        " times: JSON.parse reads only the last one, other tools the first; remove the duplicates "
        "from package.json, then update"));
  }
  return found;
}

// Where the string value of `section`.`name` lies in `text`, and what it holds.
struct Target {
  size_t begin = 0;
  size_t end = 0;
  std::string value;  // decoded
};

absl::StatusOr<Target> Locate(absl::string_view text, absl::string_view section,
                              absl::string_view name) {
  Scanner scanner(text);
  ValueType type = ValueType::kNull;
  std::vector<Member> top;
  OVVOC_RETURN_IF_ERROR(scanner.Document(&type, &top));
  if (type != ValueType::kObject) {
    return absl::FailedPreconditionError(
        absl::StrCat("the manifest's top level is ", Describe(type),
                     ", not an object: npm cannot read it as a package.json; fix the file"));
  }
  OVVOC_ASSIGN_OR_RETURN(const Member* in_top, FindUnique(top, section, "the manifest"));
  const std::string where = Quote(section);
  if (in_top->type != ValueType::kObject) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, " is ", Describe(in_top->type),
                     ", not an object of names and specs: fix it in package.json"));
  }
  std::vector<Member> entries;
  OVVOC_RETURN_IF_ERROR(scanner.ObjectAt(in_top->begin, 2, &entries));
  OVVOC_ASSIGN_OR_RETURN(const Member* entry, FindUnique(entries, name, where));
  if (entry->type != ValueType::kString) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, ".", Quote(name), " is ", Describe(entry->type),
                     ", not a spec string: npm cannot install it; fix it in package.json"));
  }
  Target target{.begin = entry->begin, .end = entry->end};
  OVVOC_RETURN_IF_ERROR(scanner.StringAt(entry->begin, &target.value));
  return target;
}

absl::StatusOr<Json> ParseBounded(absl::string_view text) {
  absl::StatusOr<Json> parsed =
      internal::ParseBoundedJson<Json>(text, internal::kMaxManifestDepth,
                                       internal::kMaxManifestValues, internal::kMaxManifestKeyWork);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("the manifest ", parsed.status().message()));
  }
  return parsed;
}

// `text` with `edit` applied, not yet checked against nlohmann's reading.
absl::StatusOr<std::string> ApplyOne(std::string text, const DependencyEdit& edit) {
  const absl::string_view section = SectionKey(edit.kind);
  OVVOC_ASSIGN_OR_RETURN(Target target, Locate(text, section, edit.name));
  if (target.value != edit.from_spec) {
    return absl::FailedPreconditionError(absl::StrCat(
        Quote(section), ".", Quote(edit.name), " holds ", Quote(target.value), ", not ",
        Quote(edit.from_spec), ": package.json changed since it was read; read it again"));
  }
  if (edit.to_spec == target.value) return text;  // its bytes stay, escapes and all
  std::string token;
  AppendJsonString(edit.to_spec, &token);
  text.replace(target.begin, target.end - target.begin, token);
  return text;
}

// Whether `edited` reads as `original` with the edits' values set, key order included.
absl::Status Verify(Json original, absl::string_view edited,
                    const std::vector<DependencyEdit>& edits) {
  absl::StatusOr<Json> after = ParseBounded(edited);
  if (!after.ok()) {
    return absl::InternalError(
        absl::StrCat("the edited manifest does not parse: ", after.status().message()));
  }
  for (const DependencyEdit& edit : edits) {
    const auto section = original.find(std::string(SectionKey(edit.kind)));
    if (section == original.end() || !section->is_object()) {
      return absl::InternalError("the edited section is not in the parsed manifest");
    }
    const auto entry = section->find(edit.name);
    if (entry == section->end()) {
      return absl::InternalError("the edited entry is not in the parsed manifest");
    }
    *entry = edit.to_spec;
  }
  if (*after != original) {
    return absl::InternalError(
        "the edited manifest does not read as the intended one: nothing was changed");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> EditDependency(absl::string_view manifest, const DependencyEdit& edit) {
  return EditDependencies(manifest, {edit});
}

absl::StatusOr<std::string> EditDependencies(absl::string_view manifest,
                                             const std::vector<DependencyEdit>& edits) {
  if (manifest.size() > kMaxManifestBytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the manifest is larger than ", kMaxManifestBytes, " bytes"));
  }
  for (const DependencyEdit& edit : edits) {
    if (SectionKey(edit.kind).empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the edit of ", Quote(edit.name), " names no dependency section"));
    }
    if (!IsUtf8(edit.to_spec)) {
      return absl::InvalidArgumentError(
          absl::StrCat("the new spec of ", Quote(edit.name), " is not UTF-8"));
    }
  }
  // nlohmann first: it bounds the work, and says whether the text is JSON before the tokenizer
  // says anything about its shape.
  OVVOC_ASSIGN_OR_RETURN(Json original, ParseBounded(manifest));
  std::string text(manifest);
  for (size_t i = 0; i < edits.size(); ++i) {
    absl::StatusOr<std::string> edited = ApplyOne(std::move(text), edits[i]);
    if (!edited.ok()) {
      if (edits.size() == 1) return edited.status();
      return absl::Status(edited.status().code(), absl::StrCat("edit ", i + 1, " of ", edits.size(),
                                                               ": ", edited.status().message()));
    }
    text = *std::move(edited);
  }
  OVVOC_RETURN_IF_ERROR(Verify(std::move(original), text, edits));
  return text;
}

}  // namespace ovvoc::agent::npm
