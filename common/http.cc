#include "common/http.h"

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace ovvoc::http {

std::optional<std::string> Response::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return std::nullopt;
}

bool Retryable(int status) {
  switch (status) {
    case 408:
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
      return true;
    default:
      return false;
  }
}

std::optional<absl::Duration> ParseRetryAfter(absl::string_view value, absl::Time now) {
  value = absl::StripAsciiWhitespace(value);
  int64_t seconds = 0;
  if (absl::SimpleAtoi(value, &seconds)) {
    if (seconds < 0) return std::nullopt;
    return absl::Seconds(seconds);
  }
  absl::Time when;
  std::string error;
  if (!absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", value, &when, &error)) return std::nullopt;
  return std::max(absl::ZeroDuration(), when - now);
}

namespace {

// Worth another attempt: the network or the server may do better next time. A body over its
// cap, a URL we refuse or an address we will not dial will not.
bool RetryableError(const absl::Status& status) {
  return status.code() != absl::StatusCode::kResourceExhausted &&
         status.code() != absl::StatusCode::kInvalidArgument &&
         status.code() != absl::StatusCode::kPermissionDenied &&
         status.code() != absl::StatusCode::kCancelled;
}

}  // namespace

absl::StatusOr<Response> SendWithRetries(Client& client, const Request& request,
                                         const RetryPolicy& policy) {
  absl::Duration backoff = policy.first_backoff;
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<Response> response = client.Send(request);
    const bool again = response.ok() ? Retryable(response->status) : RetryableError(response.status());
    if (!again || attempt >= policy.attempts) return response;
    if (request.cancelled && request.cancelled()) {
      return absl::CancelledError(absl::StrCat(request.method, " ", request.url, ": cancelled"));
    }
    absl::Duration wait = std::min(backoff, policy.max_backoff);
    if (response.ok()) {
      if (std::optional<std::string> retry_after = response->Header("retry-after")) {
        if (auto asked = ParseRetryAfter(*retry_after, absl::Now())) {
          wait = std::min(std::max(wait, *asked), policy.max_backoff);
        }
      }
    }
    if (policy.sleep) {
      policy.sleep(wait);
    } else {
      // In slices, so that a cancel does not wait out a long Retry-After.
      const absl::Time until = absl::Now() + wait;
      while (absl::Now() < until && !(request.cancelled && request.cancelled())) {
        absl::SleepFor(std::min(until - absl::Now(), absl::Milliseconds(100)));
      }
    }
    backoff *= 2;
  }
}

}  // namespace ovvoc::http
