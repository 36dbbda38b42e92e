// Fields of untrusted JSON (lockfiles, packuments), read by their type: nlohmann's value()
// throws when a field has another type than its default's, and a string where npm writes a
// boolean once ended the agent that way.
#ifndef OVVOC_COMMON_JSON_FIELDS_H_
#define OVVOC_COMMON_JSON_FIELDS_H_

#include <string>

#include "nlohmann/json.hpp"

namespace ovvoc::json_fields {

// The string at `key`; "" when absent or not a string.
template <typename Json>
std::string StringOr(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->template get<std::string>() : std::string();
}

// True only for a boolean true: `"link": "yes"` is not a link.
template <typename Json>
bool IsTrue(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->template get<bool>();
}

}  // namespace ovvoc::json_fields

#endif  // OVVOC_COMMON_JSON_FIELDS_H_
