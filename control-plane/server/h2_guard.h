// H2Guard: reads what an agent connection's client sends, as HTTP/2 frames, and says when the
// connection must wait or be closed. It never changes a byte: the TLS front
// (server/listener.h) passes the bytes on to gRPC unchanged, stops reading the client until
// ready_at(), and closes the connection the moment Consume() refuses.
//
// Why: gRPC 1.51 (Debian 12) predates the fix for HTTP/2 "rapid reset" (CVE-2023-44487). A
// client that opens streams and resets them at once is never held back by the 8-stream limit,
// since each reset frees its slot, and the server's memory for calls it has not yet matched
// grows without bound: 4 anonymous connections took a control plane from 0.5 to 8.4 GB in 20 s.
//
// Each connection has budgets (token buckets: a burst, then a rate), one token per frame.
// Overspending these closes the connection:
//   - streams reset by the client (RST_STREAM; an agent resets only a call it gives up on),
//   - streams the client opened and left unfinished (no END_STREAM, no reset), more than
//     kMaxUnfinishedStreams at once: gRPC holds each such call, and before the client
//     acknowledges its SETTINGS it enforces no stream limit at all (~12 KB a call),
//   - a header block (HEADERS and its CONTINUATIONs) past max_header_block bytes or
//     kMaxHeaderBlockFrames frames (the CONTINUATION flood),
// and overspending these only paces the client: Consume() takes no frame past the one that
// went into debt, and the client is not read until the debt is repaid (so a busy agent is
// slowed, never cut off, and a flood costs no TLS handshakes to reconnect):
//   - streams opened (HEADERS on a new stream id),
//   - control frames (PING, SETTINGS, PRIORITY, frame types gRPC ignores, empty DATA frames
//     that do not end their stream),
//   - frames of any kind but DATA that carries kSmallData bytes or ends its stream
//     (acknowledgements, WINDOW_UPDATE, GOAWAY, empty CONTINUATIONs, a byte of DATA: each
//     costs the server work and the client next to nothing).
// A client that is not a verified agent gets far smaller budgets: it can only enroll. The
// first bytes must be HTTP/2's client preface.
//
// Not thread-safe: one per connection, on the front's thread.
#ifndef OVVOC_CONTROL_PLANE_SERVER_H2_GUARD_H_
#define OVVOC_CONTROL_PLANE_SERVER_H2_GUARD_H_

#include <cstddef>
#include <cstdint>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ovvoc::cp {

// What every HTTP/2 client sends first (RFC 9113 section 3.4), before its SETTINGS.
inline constexpr absl::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// A token bucket: `burst` at first, refilled at `per_second`.
struct Budget {
  double burst = 0;
  double per_second = 0;
};

struct H2Limits {
  Budget streams;  // paces
  Budget resets;   // closes
  Budget control;  // paces
  Budget frames;   // paces
  uint32_t max_header_block = 64 << 10;

  // A client whose certificate our CA issued: an agent polls, heartbeats and reports; its
  // resets are calls it gave up on (a deadline, a shutdown).
  static H2Limits Agent() { return {{256, 64}, {32, 2}, {64, 8}, {4096, 1024}}; }
  // Anyone else can only enroll (`register` asks again while the server is busy), and resets
  // almost nothing.
  static H2Limits Anonymous() { return {{16, 4}, {4, 0.5}, {16, 2}, {256, 64}}; }
};

class H2Guard {
 public:
  static constexpr int kMaxHeaderBlockFrames = 32;
  static constexpr size_t kMaxUnfinishedStreams = 16;
  static constexpr uint32_t kSmallData = 1024;

  H2Guard(const H2Limits& limits, absl::Time now);

  // The next bytes the client sent, in order: how many of them may go on now (all, unless the
  // client must wait until ready_at(): then up to a frame boundary, and the rest is offered
  // again later), or why the connection must close (our words, never the client's bytes).
  absl::StatusOr<size_t> Consume(absl::string_view bytes, absl::Time now);

  // When the client may be read again: by then the pacing budgets it overspent are repaid.
  // In the past if it may be read now.
  absl::Time ready_at() const;

  // The whole client preface has arrived (and was right).
  bool preface_done() const { return preface_left_ == 0; }

 private:
  class Bucket {
   public:
    Bucket(Budget budget, absl::Time now) : budget_(budget), tokens_(budget.burst), at_(now) {}
    // Takes one token; false (and none taken) if none is left.
    bool Take(absl::Time now);
    // Takes one token, into debt if need be.
    void Spend(absl::Time now);
    // When the tokens are no longer in debt.
    absl::Time ReadyAt() const;

   private:
    void Refill(absl::Time now);

    Budget budget_;
    double tokens_;
    absl::Time at_;
  };

  absl::Status OnFrameHeader(absl::Time now);

  const uint32_t max_header_block_;
  Bucket streams_;
  Bucket resets_;
  Bucket control_;
  Bucket frames_;
  size_t preface_left_;
  unsigned char header_[9];
  size_t header_have_ = 0;
  uint64_t payload_left_ = 0;  // of the current frame, still to come
  uint32_t last_stream_ = 0;   // highest stream id the client opened
  bool in_header_block_ = false;  // HEADERS seen, END_HEADERS not yet
  uint64_t header_block_ = 0;     // its bytes so far
  int header_block_frames_ = 0;   // and frames
  absl::flat_hash_set<uint32_t> unfinished_;  // streams opened, not ended or reset
};

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_SERVER_H2_GUARD_H_
