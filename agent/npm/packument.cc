#include "agent/npm/packument.h"

#include <string_view>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
// No exceptions: a simdjson_result that is not checked does not compile, rather than throw.
#define SIMDJSON_EXCEPTIONS 0
#include "simdjson.h"

namespace ovvoc::agent::npm {
namespace {

namespace od = simdjson::ondemand;

absl::Status Malformed(absl::string_view what, simdjson::error_code error) {
  return absl::InvalidArgumentError(
      absl::StrCat("the packument ", what, ": ", simdjson::error_message(error)));
}

// JavaScript's truth of a JSON value that the caller has not consumed. A value that is not
// well-formed sets `error`.
bool Truthy(od::value& value, simdjson::error_code& error) {
  od::json_type type;
  if ((error = value.type().get(type))) return false;
  switch (type) {
    case od::json_type::null: {
      bool null = false;
      if (!(error = value.is_null().get(null)) && !null) error = simdjson::INCORRECT_TYPE;
      return false;
    }
    case od::json_type::boolean: {
      bool b = false;
      error = value.get_bool().get(b);
      return b;
    }
    case od::json_type::number: {
      double d = 0;
      // A number too large for a double (1e400) is Infinity to JavaScript: not zero.
      if (value.get_double().get(d)) return true;
      return d != 0;
    }
    case od::json_type::string: {
      std::string_view s;
      error = value.get_string().get(s);
      return !s.empty();
    }
    case od::json_type::array:
    case od::json_type::object:
      return true;
  }
  return false;
}

EngineRequirement ReadEngine(od::value value, simdjson::error_code& error) {
  EngineRequirement engine;
  od::json_type type;
  if ((error = value.type().get(type))) return engine;
  if (type == od::json_type::string) {
    std::string_view range;
    if (!(error = value.get_string().get(range)) && !range.empty()) {
      if (range.size() > kMaxEngineRange) {
        engine.kind = EngineRequirement::Kind::kInvalid;
      } else {
        engine.kind = EngineRequirement::Kind::kRange;
        engine.range = std::string(range);
      }
    }
    return engine;
  }
  if (Truthy(value, error)) engine.kind = EngineRequirement::Kind::kInvalid;
  return engine;
}

simdjson::error_code ReadEngines(od::value value, PackumentVersion& version) {
  od::object engines;
  if (value.get_object().get(engines)) return simdjson::SUCCESS;  // a string has no .node
  simdjson::error_code error = simdjson::SUCCESS;
  for (auto field : engines) {
    std::string_view key;
    if ((error = field.unescaped_key().get(key))) return error;
    if (key != "node" && key != "npm") continue;
    od::value engine;
    if ((error = field.value().get(engine))) return error;
    (key == "node" ? version.node : version.npm) = ReadEngine(engine, error);
    if (error) return error;
  }
  return error;
}

bool HasInstallScript(od::value value, simdjson::error_code& error) {
  od::object scripts;
  if (value.get_object().get(scripts)) return false;
  bool found = false;
  for (auto field : scripts) {
    std::string_view key;
    if ((error = field.unescaped_key().get(key))) return false;
    // npm runs a lifecycle script whose value is truthy (a non-empty string in practice).
    if (key == "preinstall" || key == "install" || key == "postinstall") {
      od::value script;
      if ((error = field.value().get(script))) return false;
      if (Truthy(script, error)) found = true;
      if (error) return false;
    }
  }
  return found;
}

// The string member `key` of an object value, at most `max` bytes of it; empty when the value is
// no object or the member is no string.
std::string ReadStringMember(od::value value, std::string_view key, size_t max,
                             simdjson::error_code& error) {
  od::object object;
  if (value.get_object().get(object)) return "";
  std::string out;
  for (auto field : object) {
    std::string_view name;
    if ((error = field.unescaped_key().get(name))) return "";
    if (name != key) continue;
    od::value member;
    od::json_type type;
    if ((error = field.value().get(member)) || (error = member.type().get(type))) return "";
    if (type != od::json_type::string) continue;
    std::string_view text;
    if ((error = member.get_string().get(text))) return "";
    out = std::string(text.substr(0, max));
  }
  return out;
}

// What `dist` says of the version's tarball: `integrity` (else `shasum`, as "sha1-hex:<hex>"),
// and whether `attestations.provenance` is there and truthy.
void ReadDist(od::value dist, PackumentVersion& version, simdjson::error_code& error) {
  od::object object;
  version.provenance = false;
  version.integrity.clear();
  if (dist.get_object().get(object)) return;
  std::string shasum;
  for (auto field : object) {
    std::string_view key;
    if ((error = field.unescaped_key().get(key))) return;
    if (key == "integrity" || key == "shasum") {
      od::value member;
      od::json_type type;
      std::string_view text;
      if ((error = field.value().get(member))) return;
      if (member.type().get(type) || type != od::json_type::string) continue;
      if ((error = member.get_string().get(text))) return;
      text = text.substr(0, kMaxIntegrity);
      if (key == "integrity") {
        version.integrity = std::string(text);
      } else {
        shasum = absl::StrCat("sha1-hex:", absl::string_view(text.data(), text.size()));
      }
      continue;
    }
    if (key != "attestations") continue;
    od::value attestations;
    od::object inner;
    if ((error = field.value().get(attestations))) return;
    if (attestations.get_object().get(inner)) continue;
    for (auto entry : inner) {
      if ((error = entry.unescaped_key().get(key))) return;
      if (key != "provenance") continue;
      od::value provenance;
      if ((error = entry.value().get(provenance))) return;
      version.provenance = Truthy(provenance, error);
      if (error) return;
    }
  }
  if (version.integrity.empty()) version.integrity = std::move(shasum);
}

absl::Status ReadVersion(od::value value, PackumentVersion& version) {
  od::object object;
  if (value.get_object().get(object)) return absl::OkStatus();  // no metadata: defaults
  for (auto field : object) {
    std::string_view key;
    if (auto error = field.unescaped_key().get(key)) return Malformed("version key", error);
    od::value member;
    if (auto error = field.value().get(member)) return Malformed("version", error);
    simdjson::error_code error = simdjson::SUCCESS;
    if (key == "deprecated") {
      od::json_type type;
      std::string_view text;
      if (!member.type().get(type) && type == od::json_type::string) {
        error = member.get_string().get(text);
        version.deprecated = !text.empty();
        version.deprecation = std::string(text.substr(0, kMaxDeprecationMessage));
      } else {
        version.deprecated = Truthy(member, error);
        version.deprecation.clear();
      }
    } else if (key == "engines") {
      version.node = {};
      version.npm = {};
      error = ReadEngines(member, version);
    } else if (key == "hasInstallScript") {
      if (Truthy(member, error)) version.has_install_script = true;
    } else if (key == "scripts") {
      if (HasInstallScript(member, error)) version.has_install_script = true;
    } else if (key == "_npmUser") {
      version.publisher = ReadStringMember(member, "name", kMaxPublisherName, error);
    } else if (key == "dist") {
      ReadDist(member, version, error);
    }
    if (error) return Malformed(absl::StrCat("version ", version.version), error);
  }
  return absl::OkStatus();
}

// Whether a version's value is one npm can read at all: `versions[v]` falsy makes npm's picker
// throw a TypeError, so such entries are left out.
bool Present(od::value& value, simdjson::error_code& error) {
  od::json_type type;
  if ((error = value.type().get(type))) return false;
  if (type == od::json_type::object || type == od::json_type::array) return true;
  return Truthy(value, error);
}

bool Digits(absl::string_view s, size_t n) {
  if (s.size() < n) return false;
  for (size_t i = 0; i < n; ++i) {
    if (!absl::ascii_isdigit(s[i])) return false;
  }
  return true;
}

int Number(absl::string_view s) {
  int n = 0;
  for (char c : s) n = n * 10 + (c - '0');
  return n;
}

}  // namespace

PublishTime ParsePublishTime(absl::string_view text) {
  // ES 2015 date-time: YYYY-MM-DD[THH:mm[:ss[.sss]][Z|±HH:mm]].
  PublishTime invalid{PublishTime::Kind::kInvalid, {}};
  if (!Digits(text, 4) || text.size() < 10 || text[4] != '-' || !Digits(text.substr(5), 2) ||
      text[7] != '-' || !Digits(text.substr(8), 2)) {
    return invalid;
  }
  absl::CivilSecond civil;
  const int year = Number(text.substr(0, 4));
  const int month = Number(text.substr(5, 2));
  const int day = Number(text.substr(8, 2));
  int hour = 0, minute = 0, second = 0;
  double fraction = 0;
  int offset_minutes = 0;
  absl::string_view rest = text.substr(10);
  if (!rest.empty()) {
    if (rest[0] != 'T' || !Digits(rest.substr(1), 2) || rest.size() < 6 || rest[3] != ':' ||
        !Digits(rest.substr(4), 2)) {
      return invalid;
    }
    hour = Number(rest.substr(1, 2));
    minute = Number(rest.substr(4, 2));
    rest.remove_prefix(6);
    if (!rest.empty() && rest[0] == ':') {
      if (!Digits(rest.substr(1), 2)) return invalid;
      second = Number(rest.substr(1, 2));
      rest.remove_prefix(3);
      if (!rest.empty() && rest[0] == '.') {
        size_t n = 1;
        while (n < rest.size() && absl::ascii_isdigit(rest[n])) ++n;
        if (n == 1) return invalid;
        double value = 0;
        if (!absl::SimpleAtod(absl::StrCat("0", rest.substr(0, n)), &value)) return invalid;
        fraction = value;
        rest.remove_prefix(n);
      }
    }
    if (rest == "Z") {
      rest = "";
    } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && Digits(rest.substr(1), 2) &&
               rest[3] == ':' && Digits(rest.substr(4), 2)) {
      const int sign = rest[0] == '-' ? -1 : 1;
      const int hours = Number(rest.substr(1, 2)), minutes = Number(rest.substr(4, 2));
      // V8 reads +24:00 and beyond as NaN; taking "+99:00" would age a release by four days.
      if (hours > 23 || minutes > 59) return invalid;
      offset_minutes = sign * (hours * 60 + minutes);
      rest = "";
    }
    // No offset: ES says local time; the agent's is UTC.
    if (!rest.empty()) return invalid;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 24 || minute > 59 || second > 59 ||
      (hour == 24 && (minute || second || fraction))) {
    return invalid;
  }
  // February 30th is invalid (V8 rolls it over: the safe side is not to); 24:00 is the next
  // day's midnight, as V8 reads it.
  if (absl::CivilDay(year, month, day).day() != day) return invalid;
  civil = absl::CivilSecond(year, month, day, hour, minute, second);
  const absl::Time time = absl::FromCivil(civil, absl::UTCTimeZone()) -
                          absl::Minutes(offset_minutes) +
                          absl::Milliseconds(static_cast<int64_t>(fraction * 1000));
  return PublishTime{PublishTime::Kind::kValid, time};
}

const PackumentVersion* Packument::Find(absl::string_view version) const {
  auto it = index.find(version);
  return it == index.end() ? nullptr : &versions[it->second];
}

size_t Packument::ApproximateBytes() const {
  size_t bytes = sizeof(Packument) + name.size();
  for (const auto& [tag, version] : dist_tags) bytes += 64 + tag.size() + version.size();
  for (const PackumentVersion& v : versions) {
    // The entry, its index slot (key and value), and the strings it owns.
    bytes += sizeof(PackumentVersion) + sizeof(std::pair<std::string, size_t>) +
             2 * v.version.size() + v.deprecation.size() + v.node.range.size() +
             v.npm.range.size() + v.publisher.size() + v.integrity.size();
  }
  return bytes;
}

const PackumentVersion* Packument::Tagged(absl::string_view tag) const {
  auto it = dist_tags.find(std::string(tag));
  return it == dist_tags.end() ? nullptr : Find(it->second);
}

absl::StatusOr<Packument> ParsePackument(absl::string_view json) {
  simdjson::padded_string padded(json.data(), json.size());
  od::parser parser;
  od::document document;
  if (auto error = parser.iterate(padded).get(document)) return Malformed("is not JSON", error);
  od::object root;
  if (auto error = document.get_object().get(root)) {
    return Malformed("is not a JSON object", error);
  }

  Packument packument;
  std::map<std::string, PublishTime> times;
  size_t engine_bytes = 0;
  for (auto field : root) {
    std::string_view key;
    if (auto error = field.unescaped_key().get(key)) return Malformed("key", error);
    od::value value;
    if (auto error = field.value().get(value)) return Malformed("value", error);
    if (key == "name") {
      std::string_view name;
      packument.name = value.get_string().get(name) ? "" : std::string(name);
    } else if (key == "dist-tags") {
      packument.dist_tags.clear();
      od::object tags;
      if (value.get_object().get(tags)) continue;
      for (auto tag : tags) {
        std::string_view tag_name, version;
        if (auto error = tag.unescaped_key().get(tag_name)) return Malformed("dist-tags", error);
        std::string name(tag_name);
        od::value tag_value;
        if (auto error = tag.value().get(tag_value)) return Malformed("dist-tags", error);
        if (!tag_value.get_string().get(version) && version.size() <= kMaxPackumentVersionKey &&
            name.size() <= kMaxPackumentVersionKey &&
            // `latest` is kept whatever came before it: without it the plan's cap would move.
            (packument.dist_tags.size() < kMaxDistTags || packument.dist_tags.count(name) ||
             name == "latest")) {
          packument.dist_tags[name] = std::string(version);
        } else {
          packument.dist_tags.erase(name);
        }
      }
    } else if (key == "versions") {
      packument.versions.clear();
      packument.index.clear();
      od::object versions;
      if (auto error = value.get_object().get(versions)) {
        return Malformed("\"versions\" is not an object", error);
      }
      for (auto entry : versions) {
        std::string_view version_key;
        if (auto error = entry.unescaped_key().get(version_key)) {
          return Malformed("version key", error);
        }
        od::value version_value;
        if (auto error = entry.value().get(version_value)) return Malformed("version", error);
        if (version_key.size() > kMaxPackumentVersionKey) continue;  // skipped unread
        std::string name(version_key);
        auto [it, added] = packument.index.try_emplace(name, packument.versions.size());
        if (added) {
          if (packument.versions.size() >= kMaxPackumentVersions) {
            return absl::ResourceExhaustedError(absl::StrCat(
                "the packument has more than ", kMaxPackumentVersions, " versions"));
          }
          packument.versions.emplace_back();
        }
        PackumentVersion& version = packument.versions[it->second];
        version = PackumentVersion{};
        version.version = name;
        simdjson::error_code error = simdjson::SUCCESS;
        const bool present = Present(version_value, error);
        if (error) return Malformed(absl::StrCat("version ", name), error);
        if (!present) {
          version.version.clear();  // dropped below
          continue;
        }
        if (auto status = ReadVersion(version_value, version); !status.ok()) return status;
        engine_bytes += version.node.range.size() + version.npm.range.size();
        if (engine_bytes > kMaxEngineBytes) {
          return absl::ResourceExhaustedError(absl::StrCat(
              "the packument's engines ranges add up to more than ", kMaxEngineBytes, " bytes"));
        }
      }
    } else if (key == "time") {
      times.clear();
      od::object time;
      packument.has_time = !value.get_object().get(time);
      if (!packument.has_time) continue;
      for (auto entry : time) {
        std::string_view time_key;
        if (auto error = entry.unescaped_key().get(time_key)) return Malformed("time", error);
        od::value time_value;
        if (auto error = entry.value().get(time_value)) return Malformed("time", error);
        if (time_key.size() > kMaxPackumentVersionKey) continue;
        std::string name(time_key);
        od::json_type type;
        std::string_view text;
        PublishTime published;
        simdjson::error_code error = simdjson::SUCCESS;
        if (!time_value.type().get(type) && type == od::json_type::string) {
          error = time_value.get_string().get(text);
          if (!text.empty()) {
            published = ParsePublishTime(absl::string_view(text.data(), text.size()));
          }
        } else if (Truthy(time_value, error)) {
          published.kind = PublishTime::Kind::kInvalid;
        }
        if (error) return Malformed("time", error);
        if (times.size() >= kMaxPackumentVersions + 2 && !times.count(name)) continue;
        times[name] = published;
      }
    }
  }

  // Entries whose value npm cannot read are dropped; the index is rebuilt without them.
  std::vector<PackumentVersion> kept;
  kept.reserve(packument.versions.size());
  packument.index.clear();
  for (PackumentVersion& version : packument.versions) {
    if (version.version.empty()) continue;  // not Present(); "" is no version anyway
    auto time = times.find(version.version);
    if (time != times.end()) version.published = time->second;
    packument.index.emplace(version.version, kept.size());
    kept.push_back(std::move(version));
  }
  packument.versions = std::move(kept);
  for (const char* name : {"created", "modified"}) {
    auto time = times.find(name);
    if (time == times.end() || time->second.kind != PublishTime::Kind::kValid) continue;
    (std::string_view(name) == "created" ? packument.created : packument.modified) =
        time->second.time;
  }
  return packument;
}

}  // namespace ovvoc::agent::npm
