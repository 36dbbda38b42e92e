// One `updates` entry of a policy file, key by key, over the defaults already in the entry.
// Internal to agent/npm (agent/npm/policy_parse.cc reads the document around it).
#ifndef OVVOC_AGENT_NPM_INTERNAL_POLICY_ENTRY_H_
#define OVVOC_AGENT_NPM_INTERNAL_POLICY_ENTRY_H_

#include <string>
#include <vector>

#include "agent/npm/internal/policy_reader.h"
#include "agent/npm/policy.h"

namespace ovvoc::agent::npm::internal {

// Sets `entry`'s fields from `pairs` (the entry map's pairs, package-ecosystem taken out), a
// key with an error leaving its field as it was. `where` names the entry in messages
// ("updates[0]", or "the top level" for `.ovvoc.yml`'s one-entry form, when `nested` is false);
// `at` is the entry's node, for its line and for missing keys; `registries` are the top-level
// ones, which the entry's `registries` must name.
void ReadEntry(PolicyReader& r, PolicyFormat format, const std::string& where, bool nested,
               const std::vector<Registry>& registries, const std::vector<Pair>& pairs,
               const YAML::Node& at, PolicyEntry& entry);

}  // namespace ovvoc::agent::npm::internal

#endif  // OVVOC_AGENT_NPM_INTERNAL_POLICY_ENTRY_H_
