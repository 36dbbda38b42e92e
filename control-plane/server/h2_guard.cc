#include "control-plane/server/h2_guard.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace ovvoc::cp {
namespace {


// RFC 9113 section 6.
enum FrameType : uint8_t {
  kData = 0,
  kHeaders = 1,
  kPriority = 2,
  kRstStream = 3,
  kSettings = 4,
  kPushPromise = 5,
  kPing = 6,
  kGoAway = 7,
  kWindowUpdate = 8,
  kContinuation = 9,
};
constexpr uint8_t kEndStream = 0x1;
constexpr uint8_t kAck = 0x1;
constexpr uint8_t kEndHeaders = 0x4;

}  // namespace

void H2Guard::Bucket::Refill(absl::Time now) {
  if (now <= at_) return;
  tokens_ = std::min(budget_.burst, tokens_ + budget_.per_second * absl::ToDoubleSeconds(now - at_));
  at_ = now;
}

bool H2Guard::Bucket::Take(absl::Time now) {
  Refill(now);
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

void H2Guard::Bucket::Spend(absl::Time now) {
  Refill(now);
  tokens_ -= 1;
}

absl::Time H2Guard::Bucket::ReadyAt() const {
  if (tokens_ >= 0) return at_;
  if (budget_.per_second <= 0) return absl::InfiniteFuture();
  return at_ + absl::Seconds(-tokens_ / budget_.per_second);
}

absl::Time H2Guard::ready_at() const {
  return std::max({streams_.ReadyAt(), control_.ReadyAt(), frames_.ReadyAt()});
}

H2Guard::H2Guard(const H2Limits& limits, absl::Time now)
    : max_header_block_(limits.max_header_block),
      streams_(limits.streams, now),
      resets_(limits.resets, now),
      control_(limits.control, now),
      frames_(limits.frames, now),
      preface_left_(kHttp2Preface.size()) {}

absl::StatusOr<size_t> H2Guard::Consume(absl::string_view bytes, absl::Time now) {
  const size_t offered = bytes.size();
  while (!bytes.empty()) {
    if (preface_left_ > 0) {
      const size_t n = std::min(preface_left_, bytes.size());
      if (bytes.substr(0, n) != kHttp2Preface.substr(kHttp2Preface.size() - preface_left_, n)) {
        return absl::InvalidArgumentError("not an HTTP/2 client (wrong connection preface)");
      }
      preface_left_ -= n;
      bytes.remove_prefix(n);
    } else if (payload_left_ > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(payload_left_, bytes.size()));
      payload_left_ -= n;
      bytes.remove_prefix(n);
    } else {
      // Between frames: a client in debt waits here, before its next frame.
      if (header_have_ == 0 && ready_at() > now) break;
      const size_t n = std::min(sizeof header_ - header_have_, bytes.size());
      std::memcpy(header_ + header_have_, bytes.data(), n);
      header_have_ += n;
      bytes.remove_prefix(n);
      if (header_have_ == sizeof header_) {
        header_have_ = 0;
        if (absl::Status frame = OnFrameHeader(now); !frame.ok()) return frame;
      }
    }
  }
  return offered - bytes.size();
}

absl::Status H2Guard::OnFrameHeader(absl::Time now) {
  const uint32_t length = uint32_t{header_[0]} << 16 | uint32_t{header_[1]} << 8 | header_[2];
  const uint8_t type = header_[3];
  const uint8_t flags = header_[4];
  const uint32_t stream = (uint32_t{header_[5]} << 24 | uint32_t{header_[6]} << 16 |
                           uint32_t{header_[7]} << 8 | header_[8]) &
                          0x7fffffff;
  payload_left_ = length;

  // A header block is HEADERS, then CONTINUATIONs up to END_HEADERS, nothing in between.
  if (in_header_block_ != (type == kContinuation)) {
    return absl::InvalidArgumentError(in_header_block_
                                          ? "a header block was interrupted"
                                          : "CONTINUATION outside a header block");
  }
  if (type == kHeaders || type == kContinuation) {
    header_block_ = (type == kHeaders ? 0 : header_block_) + length;
    header_block_frames_ = (type == kHeaders ? 0 : header_block_frames_) + 1;
    in_header_block_ = (flags & kEndHeaders) == 0;
    if (header_block_ > max_header_block_ || header_block_frames_ > kMaxHeaderBlockFrames) {
      return absl::ResourceExhaustedError(absl::StrCat("a header block passed ", max_header_block_,
                                                       " bytes or ", kMaxHeaderBlockFrames,
                                                       " frames"));
    }
  }
  // Frames that cost the server work and the client next to nothing: all but DATA that
  // carries a message's worth of bytes, or ends its stream.
  if (type != kData || (length < kSmallData && (flags & kEndStream) == 0)) frames_.Spend(now);
  switch (type) {
    case kHeaders:
      if (stream > last_stream_) {  // a new stream (else trailers, or gRPC's protocol error)
        last_stream_ = stream;
        streams_.Spend(now);
        if ((flags & kEndStream) == 0) unfinished_.insert(stream);
      } else if ((flags & kEndStream) != 0) {
        unfinished_.erase(stream);
      }
      if (unfinished_.size() > kMaxUnfinishedStreams) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "more than ", kMaxUnfinishedStreams, " streams opened and left unfinished"));
      }
      break;
    case kRstStream:
      unfinished_.erase(stream);
      if (!resets_.Take(now)) {
        return absl::ResourceExhaustedError(
            "streams reset faster than this client may (HTTP/2 rapid reset)");
      }
      break;
    case kData:
      if ((flags & kEndStream) != 0) unfinished_.erase(stream);
      if (length == 0 && (flags & kEndStream) == 0) control_.Spend(now);
      break;
    case kPing:
    case kSettings:
      if ((flags & kAck) == 0) control_.Spend(now);
      break;
    case kContinuation:
    case kWindowUpdate:
    case kGoAway:
      break;
    case kPriority:
    case kPushPromise:  // a client never sends one; gRPC refuses it
    default:            // extension frames, which gRPC ignores
      control_.Spend(now);
      break;
  }
  if (ready_at() == absl::InfiniteFuture()) {  // a budget with no rate: spent for good
    return absl::ResourceExhaustedError("a budget with no refill was spent");
  }
  return absl::OkStatus();
}

}  // namespace ovvoc::cp
