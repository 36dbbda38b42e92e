// CallLimiter: per-agent caps that count, refuse at the cap, and forget agents with no calls.
#include "control-plane/server/call_limiter.h"

#include <catch2/catch.hpp>

namespace ovvoc::cp {
namespace {

TEST_CASE("an agent is refused at its cap, others are not, and a finished call frees a place") {
  CallLimiter limiter(2);
  CHECK(limiter.TryEnter("agt_a"));
  CHECK(limiter.TryEnter("agt_a"));
  CHECK(!limiter.TryEnter("agt_a"));
  CHECK(limiter.TryEnter("agt_b"));
  limiter.Leave("agt_a");
  CHECK(limiter.TryEnter("agt_a"));
  CHECK(!limiter.TryEnter("agt_a"));
  // Leaving more than was entered never turns into spare places.
  limiter.Leave("agt_b");
  limiter.Leave("agt_b");
  CHECK(limiter.TryEnter("agt_b"));
  CHECK(limiter.TryEnter("agt_b"));
  CHECK(!limiter.TryEnter("agt_b"));
}

}  // namespace
}  // namespace ovvoc::cp
