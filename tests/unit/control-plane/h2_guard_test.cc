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
  CHECK(absl::IsInvalidArgument(wrong.Consume("GET / HTTP/1.1\r\n", kStart).status()));
}

TEST_CASE("streams reset past the budget close the connection, time refills it") {
  H2Guard guard(Small(), kStart);
  std::string bytes = kPreface;
  for (uint32_t id = 1; id <= 5; id += 2) bytes += OpenAndReset(id);  // 3 resets: the burst
  REQUIRE(guard.Consume(bytes, kStart).ok());
  absl::Status fourth = guard.Consume(OpenAndReset(7), kStart).status();
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

TEST_CASE("streams opened past the budget pace the client, only new streams count") {
  H2Guard guard(Small(), kStart);
  std::string bytes = kPreface;
  for (uint32_t id = 1; id <= 19; id += 2) bytes += Frame(kHeaders, kEndHeaders | kEndStream, id);
  REQUIRE(*guard.Consume(bytes, kStart) == bytes.size());  // 10 streams: the burst
  CHECK(guard.ready_at() <= kStart);
  const std::string trailers = Frame(kHeaders, kEndHeaders | kEndStream, 19);  // not a new stream
  REQUIRE(*guard.Consume(trailers, kStart) == trailers.size());
  CHECK(guard.ready_at() <= kStart);
  // Three more at once: the first goes into debt and through; the rest wait, never refused.
  std::string three;
  for (uint32_t id = 21; id <= 25; id += 2) three += Frame(kHeaders, kEndHeaders | kEndStream, id);
  const size_t frame = three.size() / 3;
  CHECK(*guard.Consume(three, kStart) == frame);
  CHECK(guard.ready_at() == kStart + absl::Seconds(1));
  CHECK(*guard.Consume(absl::string_view(three).substr(frame), kStart) == 0);
  CHECK(*guard.Consume(absl::string_view(three).substr(frame), kStart + absl::Seconds(1)) == frame);
  CHECK(*guard.Consume(absl::string_view(three).substr(2 * frame), kStart + absl::Seconds(2)) ==
        frame);
}

TEST_CASE("more than 16 streams left unfinished close the connection") {
  H2Guard open(H2Limits::Agent(), kStart);
  std::string bytes = kPreface;
  for (uint32_t id = 1; id <= 31; id += 2) bytes += Frame(kHeaders, kEndHeaders, id);  // 16
  REQUIRE(open.Consume(bytes, kStart).ok());
  absl::Status seventeenth = open.Consume(Frame(kHeaders, kEndHeaders, 33), kStart).status();
  CHECK(absl::IsResourceExhausted(seventeenth));
  CHECK_THAT(std::string(seventeenth.message()), Catch::Contains("unfinished"));

  // Streams the client ends (END_STREAM on HEADERS or DATA) or resets do not count.
  H2Guard finished(H2Limits::Agent(), kStart);
  std::string calls = kPreface;
  for (uint32_t id = 1; id <= 199; id += 2) {
    calls += Frame(kHeaders, kEndHeaders, id);
    calls += id % 3 == 0 ? Frame(kData, kEndStream, id, 20) : Frame(kHeaders, kEndHeaders | kEndStream, id);
  }
  calls += Frame(kHeaders, kEndHeaders, 201) + Frame(kRstStream, 0, 201);
  CHECK(finished.Consume(calls, kStart).ok());
}

TEST_CASE("a budget with no refill closes the connection once spent") {
  H2Limits limits = Small();
  limits.control = {2, 0};
  H2Guard guard(limits, kStart);
  std::string bytes = kPreface + Frame(kPing, 0, 0, 8) + Frame(kPing, 0, 0, 8);
  REQUIRE(guard.Consume(bytes, kStart).ok());
  CHECK(absl::IsResourceExhausted(guard.Consume(Frame(kPing, 0, 0, 8), kStart).status()));
}

TEST_CASE("a header block may not grow past its bound or be interrupted") {
  H2Guard flood(Small(), kStart);
  REQUIRE(flood.Consume(kPreface + Frame(kHeaders, 0, 1, 400), kStart).ok());
  REQUIRE(flood.Consume(Frame(kContinuation, 0, 1, 400), kStart).ok());
  CHECK(absl::IsResourceExhausted(flood.Consume(Frame(kContinuation, 0, 1, 400), kStart).status()));

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
             Frame(kData, 0, 1, 2000);  // a message's worth of DATA costs nothing
  }
  bytes += Frame(kSettings, 0, 0, 6) + Frame(kPing, 0, 0, 8) + Frame(kPriority, 0, 1, 5) +
           Frame(0x42, 0, 0, 3);  // an extension frame
  REQUIRE(*guard.Consume(bytes, kStart) == bytes.size());
  CHECK(guard.ready_at() <= kStart);  // 4 control frames, 204 frames: within both budgets
  REQUIRE(guard.Consume(Frame(kData, 0, 1, 0), kStart).ok());  // an empty DATA: control
  CHECK(guard.ready_at() == kStart + absl::Seconds(1));

  // Acknowledgements alone run out too: 300 frames, then the next waits.
  H2Guard acks(Small(), kStart);
  std::string flood = kPreface;
  for (int i = 0; i < 300; ++i) flood += Frame(kWindowUpdate, 0, 0, 4);
  REQUIRE(*acks.Consume(flood, kStart) == flood.size());
  CHECK(acks.ready_at() <= kStart);
  const std::string pings = Frame(kPing, kAck, 0, 8) + Frame(kPing, kAck, 0, 8);
  CHECK(*acks.Consume(pings, kStart) == pings.size() / 2);
  CHECK(acks.ready_at() == kStart + absl::Seconds(1));
  // Time repays the debt.
  CHECK(*acks.Consume(absl::string_view(pings).substr(pings.size() / 2), kStart + absl::Seconds(20)) ==
        pings.size() / 2);

  // So do small DATA frames that do not end their stream.
  H2Guard bytes_flood(Small(), kStart);
  std::string small = kPreface;
  for (int i = 0; i < 300; ++i) small += Frame(kData, 0, 1, 1);
  REQUIRE(*bytes_flood.Consume(small, kStart) == small.size());
  CHECK(*bytes_flood.Consume(Frame(kData, 0, 1, 1), kStart) > 0);
  CHECK(bytes_flood.ready_at() > kStart);
}

TEST_CASE("a header block of many empty CONTINUATIONs is cut") {
  H2Guard guard(Small(), kStart);
  std::string bytes = kPreface + Frame(kHeaders, 0, 1, 10);
  for (int i = 1; i < H2Guard::kMaxHeaderBlockFrames; ++i) bytes += Frame(kContinuation, 0, 1, 0);
  REQUIRE(guard.Consume(bytes, kStart).ok());
  CHECK(absl::IsResourceExhausted(guard.Consume(Frame(kContinuation, 0, 1, 0), kStart).status()));
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
// Feeds `bytes` to `guard` as the front does: what it holds back is offered again once it is
// ready. The verdict; `now` ends when the last byte was taken.
absl::Status FeedAll(H2Guard& guard, absl::string_view bytes, absl::Time& now) {
  while (!bytes.empty()) {
    absl::StatusOr<size_t> taken = guard.Consume(bytes, now);
    if (!taken.ok()) return taken.status();
    bytes.remove_prefix(*taken);
    if (!bytes.empty()) now = std::max(now, guard.ready_at());
  }
  return absl::OkStatus();
}

// What a client sends is cut into TLS records wherever it likes: the verdict, and when the
// last byte may pass, must not depend on where. 2,000 random frame sequences (every type, odd
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
    absl::Time whole_now = kStart;
    const absl::Status verdict = FeedAll(whole, bytes, whole_now);

    H2Guard pieces(Small(), kStart);
    absl::Time pieces_now = kStart;
    absl::Status split_verdict;
    for (size_t at = 0; at < bytes.size() && split_verdict.ok();) {
      const size_t n = std::min<size_t>(1 + pick(64), bytes.size() - at);
      split_verdict = FeedAll(pieces, absl::string_view(bytes).substr(at, n), pieces_now);
      at += n;
    }
    INFO("round " << round);
    REQUIRE(verdict == split_verdict);
    if (verdict.ok()) {
      REQUIRE(whole_now == pieces_now);
      REQUIRE(whole.ready_at() == pieces.ready_at());
    }
  }
}

}  // namespace
}  // namespace ovvoc::cp
