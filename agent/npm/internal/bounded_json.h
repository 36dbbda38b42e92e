// Parsing untrusted JSON without letting it choose our memory or our time: the document is
// measured with a SAX pass (depth, number of values, and for an ordered DOM the key
// comparisons its objects will cost) before any DOM is built, since a DOM costs up to ~80
// bytes per byte of `[[[[...` or `[],[],...`, and nlohmann::ordered_json inserts each key by a
// linear scan of the keys before it: one object of 300,000 keys (4 MB) takes minutes. The
// same idea as agent/registry/prefetch.cc's lockfile reader, for the project model's
// package.json and lockfile reads.
#ifndef OVVOC_AGENT_NPM_INTERNAL_BOUNDED_JSON_H_
#define OVVOC_AGENT_NPM_INTERNAL_BOUNDED_JSON_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace ovvoc::agent::npm::internal {

// package.json's bounds, for each reader of one (project.cc, manifest.cc). It nests a few
// levels (overrides, devEngines): 64 is far past any real one. nlohmann::ordered_json inserts
// a key by a linear scan of its object, so its parse costs the sum over keys of the keys
// before it in their object: real manifests hold a few hundred dependencies per section, a few
// thousand keys at most; 32M comparisons is one object of 8,000 keys (about 0.15 s), where
// 300,000 keys (4 MB) would take minutes.
inline constexpr int kMaxManifestDepth = 64;
inline constexpr size_t kMaxManifestValues = 1'000'000;
inline constexpr size_t kMaxManifestKeyWork = 32'000'000;

template <typename Json>
class JsonCounter final : public nlohmann::json_sax<Json> {
 public:
  using Base = nlohmann::json_sax<Json>;
  static constexpr size_t kMaxError = 300;

  // `max_key_work`: at most this many key comparisons to insert every key into its object by a
  // linear scan (the sum, over keys, of the keys already in that object); 0 for no bound.
  JsonCounter(int max_depth, size_t max_values, size_t max_key_work)
      : max_depth_(max_depth), max_values_(max_values), max_key_work_(max_key_work) {}

  bool null() override { return Count(); }
  bool boolean(bool) override { return Count(); }
  bool number_integer(typename Base::number_integer_t) override { return Count(); }
  bool number_unsigned(typename Base::number_unsigned_t) override { return Count(); }
  bool number_float(typename Base::number_float_t, const typename Base::string_t&) override {
    return Count();
  }
  bool string(typename Base::string_t&) override { return Count(); }
  bool binary(typename Base::binary_t&) override { return Count(); }
  bool start_object(std::size_t) override {
    keys_.push_back(0);
    return Enter();
  }
  bool key(typename Base::string_t&) override {
    key_work_ += keys_.back()++;  // a duplicate key scans as far: counted alike
    return max_key_work_ == 0 || key_work_ <= max_key_work_;
  }
  bool end_object() override {
    keys_.pop_back();
    return Leave();
  }
  bool start_array(std::size_t) override { return Enter(); }
  bool end_array() override { return Leave(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    error_ = e.what();
    // nlohmann quotes the text it stopped at, escaped: bounded, so a huge file cannot make a
    // huge diagnostic.
    if (error_.size() > kMaxError) error_ = absl::StrCat(error_.substr(0, kMaxError), "...");
    return false;
  }

  size_t key_work() const { return key_work_; }

  // Why the parse stopped; "" when it did not.
  std::string problem() const {
    if (depth_ > max_depth_) return absl::StrCat("nests deeper than ", max_depth_);
    if (values_ > max_values_) return absl::StrCat("holds more than ", max_values_, " values");
    if (max_key_work_ != 0 && key_work_ > max_key_work_) {
      return absl::StrCat("has an object with too many keys: reading it takes more than ",
                          max_key_work_, " key comparisons");
    }
    return error_.empty() ? "" : absl::StrCat("is not valid JSON: ", error_);
  }

 private:
  bool Count() { return ++values_ <= max_values_; }
  bool Enter() { return ++depth_ <= max_depth_ && Count(); }
  bool Leave() {
    --depth_;
    return true;
  }

  const int max_depth_;
  const size_t max_values_;
  const size_t max_key_work_;
  int depth_ = 0;
  size_t values_ = 0;
  size_t key_work_ = 0;
  std::vector<size_t> keys_;  // keys so far in each open object, innermost last
  std::string error_;
};

// The DOM of `text`, or InvalidArgument saying why not ("nests deeper than 64", "is not valid
// JSON: ...") for the caller to put after the file's name. `max_key_work` as JsonCounter's:
// set it for nlohmann::ordered_json (a vector of pairs); nlohmann::json's std::map needs none.
// `key_work`, when given, is set to the key comparisons counted (as far as the count went).
template <typename Json>
absl::StatusOr<Json> ParseBoundedJson(absl::string_view text, int max_depth, size_t max_values,
                                      size_t max_key_work = 0, size_t* key_work = nullptr) {
  JsonCounter<Json> counter(max_depth, max_values, max_key_work);
  const bool parsed = Json::sax_parse(text.begin(), text.end(), &counter);
  if (key_work != nullptr) *key_work = counter.key_work();
  if (!parsed || !counter.problem().empty()) {
    std::string problem = counter.problem();
    return absl::InvalidArgumentError(problem.empty() ? "is not valid JSON" : problem);
  }
  Json doc = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InvalidArgumentError("is not valid JSON");
  return doc;
}

}  // namespace ovvoc::agent::npm::internal

#endif  // OVVOC_AGENT_NPM_INTERNAL_BOUNDED_JSON_H_
