// Parsing untrusted JSON without letting it choose our memory: the document is measured with
// a SAX pass (depth, number of values) before any DOM is built, since a DOM costs up to ~80
// bytes per byte of `[[[[...` or `[],[],...`. The same idea as agent/registry/prefetch.cc's
// lockfile reader, for the project model's package.json and lockfile reads.
#ifndef OVVOC_AGENT_NPM_INTERNAL_BOUNDED_JSON_H_
#define OVVOC_AGENT_NPM_INTERNAL_BOUNDED_JSON_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace ovvoc::agent::npm::internal {

template <typename Json>
class JsonCounter final : public nlohmann::json_sax<Json> {
 public:
  using Base = nlohmann::json_sax<Json>;
  static constexpr size_t kMaxError = 300;

  JsonCounter(int max_depth, size_t max_values) : max_depth_(max_depth), max_values_(max_values) {}

  bool null() override { return Count(); }
  bool boolean(bool) override { return Count(); }
  bool number_integer(typename Base::number_integer_t) override { return Count(); }
  bool number_unsigned(typename Base::number_unsigned_t) override { return Count(); }
  bool number_float(typename Base::number_float_t, const typename Base::string_t&) override {
    return Count();
  }
  bool string(typename Base::string_t&) override { return Count(); }
  bool binary(typename Base::binary_t&) override { return Count(); }
  bool start_object(std::size_t) override { return Enter(); }
  bool key(typename Base::string_t&) override { return true; }
  bool end_object() override { return Leave(); }
  bool start_array(std::size_t) override { return Enter(); }
  bool end_array() override { return Leave(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    error_ = e.what();
    // nlohmann quotes the text it stopped at, escaped: bounded, so a huge file cannot make a
    // huge diagnostic.
    if (error_.size() > kMaxError) error_ = absl::StrCat(error_.substr(0, kMaxError), "...");
    return false;
  }

  // Why the parse stopped; "" when it did not.
  std::string problem() const {
    if (depth_ > max_depth_) return absl::StrCat("nests deeper than ", max_depth_);
    if (values_ > max_values_) return absl::StrCat("holds more than ", max_values_, " values");
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
  int depth_ = 0;
  size_t values_ = 0;
  std::string error_;
};

// The DOM of `text`, or InvalidArgument saying why not ("nests deeper than 64", "is not valid
// JSON: ...") for the caller to put after the file's name.
template <typename Json>
absl::StatusOr<Json> ParseBoundedJson(absl::string_view text, int max_depth, size_t max_values) {
  JsonCounter<Json> counter(max_depth, max_values);
  if (!Json::sax_parse(text.begin(), text.end(), &counter) || !counter.problem().empty()) {
    std::string problem = counter.problem();
    return absl::InvalidArgumentError(problem.empty() ? "is not valid JSON" : problem);
  }
  Json doc = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InvalidArgumentError("is not valid JSON");
  return doc;
}

}  // namespace ovvoc::agent::npm::internal

#endif  // OVVOC_AGENT_NPM_INTERNAL_BOUNDED_JSON_H_
