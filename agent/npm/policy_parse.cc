// ParsePolicy(): the document level of `.ovvoc.yml` and of a dependabot.yml (version,
// registries, which entries count), over the bounded view of agent/npm/internal/policy_reader.h;
// each entry is read by agent/npm/internal/policy_entry.h. Every key sets one field of the
// defaults it starts from; a key with an error leaves its field as it was.
#include <yaml-cpp/yaml.h>

#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/npm/internal/policy_entry.h"
#include "agent/npm/internal/policy_reader.h"
#include "agent/npm/policy.h"
#include "common/inert.h"

namespace ovvoc::agent::npm {
namespace {

using internal::OneOf;
using internal::Pair;
using internal::PolicyReader;
using internal::Quoted;

constexpr absl::string_view kUnusedTopKeys[] = {"enable-beta-ecosystems", "multi-ecosystem-groups"};
// A dependabot.yml registry's credentials: accepted there, never read.
constexpr absl::string_view kRegistrySecrets[] = {"username", "password", "token", "key",
                                                  "auth-key"};
constexpr absl::string_view kUnusedRegistryKeys[] = {"replaces-base", "organization", "repo",
                                                     "public-key-fingerprint"};

// The top-level `registries`: where each is, never its secrets.
void ReadRegistries(PolicyReader& r, const YAML::Node& value, PolicyFormat format,
                    std::vector<Registry>& out) {
  if (!r.IsMap(value, "registries")) return;
  for (const auto& [name, settings] : r.Pairs(value)) {
    const std::string path = absl::StrCat("registries.", Quoted(name.Scalar()));
    if (!r.IsMap(settings, path)) continue;
    Registry registry;
    registry.name = name.Scalar();
    registry.where = r.LineOf(name);
    bool ok = true;
    for (const auto& [k, v] : r.Pairs(settings)) {
      const std::string& key = k.Scalar();
      std::optional<std::string> text;
      if (key == "type" || key == "url" ||
          (key == "token-name" && format == PolicyFormat::kOvvoc)) {
        text = r.String(v, absl::StrCat(path, ".", key), 2048);
        ok &= text.has_value();
        (key == "type"  ? registry.type
         : key == "url" ? registry.url
                        : registry.token_name) = text.value_or("");
      } else if (OneOf(key, kRegistrySecrets) && format == PolicyFormat::kOvvoc) {
        r.Error(k, absl::StrCat(path, ".", key,
                                ": credentials do not belong in the repository; "
                                "name the agent's credential with token-name"));
      } else if (!OneOf(key, kRegistrySecrets) && !OneOf(key, kUnusedRegistryKeys)) {
        r.UnknownKey(k, path);
      }
    }
    if (format == PolicyFormat::kOvvoc && registry.type.empty()) registry.type = "npm-registry";
    if (registry.url.empty() && ok) r.Error(settings, path + ": needs url");
    if (registry.type.empty() && ok) r.Error(settings, path + ": needs type");
    if (format == PolicyFormat::kOvvoc && registry.type != "npm-registry" && ok) {
      r.Error(settings, absl::StrCat(path, ".type: Ovvoc reads npm-registry only, found ",
                                     Quoted(registry.type)));
      ok = false;
    }
    if (ok && !registry.url.empty()) out.push_back(std::move(registry));
  }
}

void ReadUpdates(PolicyReader& r, const YAML::Node& value, PolicyFormat format, Policy& policy) {
  if (!r.IsList(value, "updates")) return;
  std::vector<YAML::Node> elements = r.Elements(value);
  for (size_t i = 0; i < elements.size(); ++i) {
    const std::string where = absl::StrCat("updates[", i, "]");
    if (!r.IsMap(elements[i], where)) continue;
    std::vector<Pair> pairs = r.Pairs(elements[i]);
    std::vector<Pair> keys;
    std::optional<std::string> ecosystem;
    for (const Pair& pair : pairs) {
      if (pair.first.Scalar() != "package-ecosystem") {
        keys.push_back(pair);
        continue;
      }
      ecosystem = r.String(pair.second, where + ".package-ecosystem");
      if (ecosystem && *ecosystem != "npm" && format == PolicyFormat::kOvvoc) {
        r.Warn(pair.second, absl::StrCat(where, ": Ovvoc updates npm only; this entry with ",
                                         Quoted(*ecosystem), " is skipped"));
      }
    }
    if (!ecosystem && format == PolicyFormat::kDependabot) {
      r.Error(elements[i], where + ": needs package-ecosystem");
    }
    if (ecosystem && *ecosystem != "npm") continue;  // another ecosystem's business
    if (!ecosystem && format == PolicyFormat::kDependabot) continue;
    PolicyEntry entry;
    internal::ReadEntry(r, format, where, true, policy.registries, keys, elements[i], entry);
    policy.entries.push_back(std::move(entry));
  }
}

// `version: 2`, as Dependabot's; optional in `.ovvoc.yml`.
void ReadVersion(PolicyReader& r, const YAML::Node* version, const YAML::Node& root,
                 PolicyFormat format) {
  if (version == nullptr) {
    if (format == PolicyFormat::kDependabot) r.Error(root, "needs version: 2");
  } else if (!version->IsScalar() || version->Scalar() != "2") {
    r.Error(*version, absl::StrCat("version: expected 2, found ", internal::Describe(*version)));
  }
}

void ReadDocument(PolicyReader& r, const YAML::Node& root, PolicyFormat format, Policy& policy) {
  if (root.IsNull() && format == PolicyFormat::kOvvoc) return;  // an empty file: the defaults
  if (!r.IsMap(root, "the top level")) return;
  const YAML::Node* version = nullptr;
  const YAML::Node* updates = nullptr;
  const YAML::Node* registries = nullptr;
  std::vector<Pair> pairs = r.Pairs(root);
  std::vector<Pair> entry_pairs;
  for (const Pair& pair : pairs) {
    const std::string& key = pair.first.Scalar();
    if (key == "version") {
      version = &pair.second;
    } else if (key == "updates") {
      updates = &pair.second;
    } else if (key == "registries" &&
               (pair.second.IsMap() || format == PolicyFormat::kDependabot)) {
      registries = &pair.second;  // a list or "*" is the one entry's, below
    } else if (OneOf(key, kUnusedTopKeys)) {
      continue;  // accepted, not used
    } else if (format == PolicyFormat::kOvvoc) {
      entry_pairs.push_back(pair);
    } else {
      r.UnknownKey(pair.first, "the top level");
    }
  }
  ReadVersion(r, version, root, format);
  if (registries != nullptr) ReadRegistries(r, *registries, format, policy.registries);
  if (updates != nullptr) {
    for (const Pair& pair : entry_pairs) {
      r.Error(pair.first, absl::StrCat(Quoted(pair.first.Scalar()),
                                       " at the top level: with updates:, it goes in an entry"));
    }
    ReadUpdates(r, *updates, format, policy);
    if (policy.entries.empty() && format == PolicyFormat::kDependabot) {
      r.FileWarning("no npm entry: Ovvoc's defaults apply");
      policy.source = PolicySource::kDefaults;
    } else if (policy.entries.empty() && updates->IsSequence() && updates->size() == 0) {
      r.Error(*updates, "updates: the list is empty");
    }
  } else if (format == PolicyFormat::kDependabot) {
    r.Error(root, "needs updates");
  } else if (!entry_pairs.empty()) {
    PolicyEntry entry;
    internal::ReadEntry(r, format, "the top level", false, policy.registries, entry_pairs, root,
                        entry);
    policy.entries.push_back(std::move(entry));
  }
}

}  // namespace

Policy ParsePolicy(absl::string_view text, absl::string_view file, PolicyFormat format) {
  Policy policy = DefaultPolicy();
  policy.entries.clear();
  policy.source =
      format == PolicyFormat::kOvvoc ? PolicySource::kOvvocFile : PolicySource::kDependabotFile;
  policy.file = std::string(file);
  PolicyReader reader(file, policy.diagnostics);
  if (text.size() > kMaxPolicyBytes) {
    reader.FileError(absl::StrCat("larger than ", kMaxPolicyBytes, " bytes: not read"));
  } else {
    // yaml-cpp reports malformed YAML, and nesting deeper than its limit, by exceptions; none
    // leaves this function.
    try {
      YAML::Node root = YAML::Load(std::string(text));
      ReadDocument(reader, root, format, policy);
    } catch (const YAML::Exception& e) {
      reader.ErrorAt(e.mark, InertLine(e.msg, 200));
    } catch (const std::exception& e) {
      reader.FileError(absl::StrCat("not read: ", InertLine(e.what(), 200)));
    }
  }
  reader.Finish();
  if (policy.entries.empty()) policy.entries = DefaultPolicy().entries;
  return policy;
}

}  // namespace ovvoc::agent::npm
