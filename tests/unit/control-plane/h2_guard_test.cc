#include "control-plane/server/h2_guard.h"

#include <catch2/catch.hpp>
#include <random>
#include <string>

namespace ovvoc::cp {
namespace {

const std::string kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr uint8_t kData = 0, kHeaders = 1, kPriority = 2, kRstStream = 3, kSettings = 4,
                  kPing = 6, kWindowUpdate = 8, kContinuation = 9;
constexpr uint8_t kEndStream = 1, kAck = 1, kEndHeaders = 4;

std::string Frame(uint8_t type, uint8_t flags, uint32_t stream, size_t length = 4) {
  std::string f;
  f.push_back(static_cast<char>(length >> 16));
  f.push_back(static_cast<char>(length >> 8));
  f.push_back(static_cast<char>(length));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  for (int shift = 24; shift >= 0; shift -= 8) f.push_back(static_cast<char>(stream >> shift));
  f.append(length, 'x');
  return f;
}

std::string OpenAndReset(uint32_t stream) {
  return Frame(kHeaders, kEndHeaders, stream, 40) + Frame(kRstStream, 0, stream);
}

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

H2Limits Small() {
  H2Limits limits;  // (Budget: burst, then per second)
  limits.streams = {10, 1};
  limits.resets = {3, 1};
  limits.control = {4, 1};
  limits.frames = {300, 1};
  limits.max_header_block = 1000;
  return limits;
}

TEST_CASE("the guard wants HTTP/2's preface first, in any number of pieces") {
  H2Guard split(Small(), kStart);
  for (char c : kPreface) {
    CHECK(!split.preface_done());
    CHECK(split.Consume(std::string(1, c), kStart).ok());
  }
  CHECK(split.preface_done());

  H2Guard wrong(Small(), kStart);
  CHECK(absl::IsInvalidArgument(wrong.Consume("GET / HTTP/1.1\r\n", kStart)));
}

TEST_CASE("streams reset past the budget close the connection; time refills it") {
  H2Guard guard(Small(), kStart);
  std::string bytes = kPreface;
  for (uint32_t id = 1; id <= 5; id += 2) bytes += OpenAndReset(id);  // 3 resets: the burst
  REQUIRE(guard.Consume(bytes, kStart).ok());
  absl::Status fourth = guard.Consume(OpenAndReset(7), kStart);
  CHECK(absl::IsResourceExhausted(fourth));
  CHECK_THAT(std::string(fourth.message()), Catch::Contains("rapid reset"));

  H2Guard patient(Small(), kStart);
  REQUIRE(patient.Consume(kPreface, kStart).ok());
  for (uint32_t i = 0; i < 8; ++i) {  // one a second is the rate
    CHECK(patient.Consume(OpenAndReset(1 + 2 * i), kStart + absl::Seconds(i)).ok());
  }
}

TEST_CASE("the guard reads frames split anywhere, byte by byte included") {
  std::string bytes = kPreface;
  for (uint32_t id = 1; id <= 7; id += 2) bytes += OpenAndReset(id);  // the 4th reset is one too many
  H2Guard guard(Small(), kStart);
  size_t refused_at = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (!guard.Consume(bytes.substr(i, 1), kStart).ok()) {
      refused_at = i;
      break;
    }
  }
  CHECK(refused_at == bytes.size() - 9 - 4 + 8);  // the last RST_STREAM's header's last byte
}

TEST_CASE("streams opened past the budget pace the client; only new streams count") {
  H2Guard guard(Small(), kStart);
  std::string bytes = kPreface;
  for (uint32_t id = 1; id <= 19; id += 2) bytes += Frame(kHeaders, kEndHeaders | kEndStream, id);
  REQUIRE(guard.Consume(bytes, kStart).ok());  // 10 streams: the burst
  CHECK(guard.ready_at() <= kStart);
  REQUIRE(guard.Consume(Frame(kHeaders, kEndHeaders, 19), kStart).ok());  // not a new stream
  CHECK(guard.ready_at() <= kStart);
  // Three more at once: 3 in debt at one a second. Paced, never refused.
  for (uint32_t id = 21; id <= 25; id += 2) {
    REQUIRE(guard.Consume(Frame(kHeaders, kEndHeaders, id), kStart).ok());
  }
  CHECK(guard.ready_at() == kStart + absl::Seconds(3));
  CHECK(guard.ready_at() > kStart + absl::Seconds(2));
}

TEST_CASE("a header block may not grow past its bound or be interrupted") {
  H2Guard flood(Small(), kStart);
  REQUIRE(flood.Consume(kPreface + Frame(kHeaders, 0, 1, 400), kStart).ok());
  REQUIRE(flood.Consume(Frame(kContinuation, 0, 1, 400), kStart).ok());
  CHECK(absl::IsResourceExhausted(flood.Consume(Frame(kContinuation, 0, 1, 400), kStart)));

  H2Guard interrupted(Small(), kStart);
  REQUIRE(interrupted.Consume(kPreface + Frame(kHeaders, 0, 1, 10), kStart).ok());
  CHECK(!interrupted.Consume(Frame(kData, 0, 1, 10), kStart).ok());

  H2Guard stray(Small(), kStart);
  CHECK(!stray.Consume(kPreface + Frame(kContinuation, kEndHeaders, 1, 10), kStart).ok());

  H2Guard fine(Small(), kStart);
  CHECK(fine.Consume(kPreface + Frame(kHeaders, 0, 1, 400) +
                         Frame(kContinuation, kEndHeaders, 1, 400) +
                         Frame(kHeaders, kEndHeaders, 3, 900),
                     kStart)
            .ok());
}

TEST_CASE("control frames, acknowledgements and flow control pace the client past their budgets") {
  H2Guard guard(Small(), kStart);
  std::string bytes = kPreface;
  for (int i = 0; i < 50; ++i) {
    bytes += Frame(kSettings, kAck, 0, 0) + Frame(kPing, kAck, 0, 8) +
             Frame(kWindowUpdate, 0, 0, 4) + Frame(kData, kEndStream, 1, 0) +
             Frame(kData, 0, 1, 100);  // DATA with bytes costs nothing
  }
  bytes += Frame(kSettings, 0, 0, 6) + Frame(kPing, 0, 0, 8) + Frame(kPriority, 0, 1, 5) +
           Frame(0x42, 0, 0, 3);  // an extension frame
  REQUIRE(guard.Consume(bytes, kStart).ok());
  CHECK(guard.ready_at() <= kStart);  // 4 control frames, 204 frames: within both budgets
  REQUIRE(guard.Consume(Frame(kData, 0, 1, 0), kStart).ok());  // an empty DATA: control
  CHECK(guard.ready_at() == kStart + absl::Seconds(1));

  // Acknowledgements alone run out too: 300 frames, then 10 more.
  H2Guard acks(Small(), kStart);
  std::string flood = kPreface;
  for (int i = 0; i < 300; ++i) flood += Frame(kWindowUpdate, 0, 0, 4);
  REQUIRE(acks.Consume(flood, kStart).ok());
  CHECK(acks.ready_at() <= kStart);
  std::string more;
  for (int i = 0; i < 10; ++i) more += Frame(kPing, kAck, 0, 8);
  REQUIRE(acks.Consume(more, kStart).ok());
  CHECK(acks.ready_at() == kStart + absl::Seconds(10));
  // Time repays the debt.
  CHECK(acks.Consume(Frame(kPing, kAck, 0, 8), kStart + absl::Seconds(20)).ok());
  CHECK(acks.ready_at() <= kStart + absl::Seconds(20));
}

TEST_CASE("a header block of many empty CONTINUATIONs is cut") {
  H2Guard guard(Small(), kStart);
  std::string bytes = kPreface + Frame(kHeaders, 0, 1, 10);
  for (int i = 1; i < H2Guard::kMaxHeaderBlockFrames; ++i) bytes += Frame(kContinuation, 0, 1, 0);
  REQUIRE(guard.Consume(bytes, kStart).ok());
  CHECK(absl::IsResourceExhausted(guard.Consume(Frame(kContinuation, 0, 1, 0), kStart)));
}

TEST_CASE("the presets: an agent may do far more than an anonymous client") {
  const H2Limits agent = H2Limits::Agent();
  const H2Limits anonymous = H2Limits::Anonymous();
  CHECK(agent.streams.burst > anonymous.streams.burst);
  CHECK(agent.resets.burst > anonymous.resets.burst);
  CHECK(agent.frames.per_second > anonymous.frames.per_second);
  // One guard per preset: an anonymous client is cut at its 5th reset.
  H2Guard guard(anonymous, kStart);
  std::string bytes = kPreface;
  for (uint32_t id = 1; id <= 7; id += 2) bytes += OpenAndReset(id);
  REQUIRE(guard.Consume(bytes, kStart).ok());
  CHECK(!guard.Consume(OpenAndReset(9), kStart).ok());
}

// What a client sends is cut into TLS records wherever it likes: the verdict, and the byte at
// which it falls, must not depend on where. 2,000 random frame sequences (every type, odd
// flags and lengths, some garbage), each consumed whole and in random pieces.
TEST_CASE("the guard's verdict does not depend on how the bytes are split") {
  std::mt19937 random(20261202);
  auto pick = [&](uint32_t n) { return static_cast<uint32_t>(random() % n); };
  for (int round = 0; round < 2000; ++round) {
    std::string bytes = pick(50) == 0 ? std::string("PRI * HTTP/1.1") : kPreface;
    const uint32_t frames = 1 + pick(60);
    for (uint32_t i = 0; i < frames; ++i) {
      const uint8_t type = static_cast<uint8_t>(pick(12));
      bytes += Frame(type, static_cast<uint8_t>(pick(256)), pick(40), pick(600));
    }
    H2Guard whole(Small(), kStart);
    const absl::Status verdict = whole.Consume(bytes, kStart);

    H2Guard pieces(Small(), kStart);
    absl::Status split_verdict;
    for (size_t at = 0; at < bytes.size() && split_verdict.ok();) {
      const size_t n = std::min<size_t>(1 + pick(64), bytes.size() - at);
      split_verdict = pieces.Consume(absl::string_view(bytes).substr(at, n), kStart);
      at += n;
    }
    INFO("round " << round);
    REQUIRE(verdict == split_verdict);
    if (verdict.ok()) REQUIRE(whole.ready_at() == pieces.ready_at());
  }
}

}  // namespace
}  // namespace ovvoc::cp
