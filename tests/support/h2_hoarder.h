// Hostile HTTP/2 clients below gRPC. Test support only.
//
// PartialMessages: a hostile HTTP/2 client that makes a gRPC server buffer partly sent messages
// before any handler or authentication runs. It opens TLS connections (ALPN "h2", no
// certificate either way) and on each opens streams that declare an L-byte gRPC message and
// send all of it but the last byte, as fast as HTTP/2 flow control allows, and never end the
// stream. What the server does not shed it must hold. Test support only.
//
// Thread safety: Start() and Stop() from one thread; the accessors from any thread.
#ifndef OVVOC_TESTS_SUPPORT_H2_HOARDER_H_
#define OVVOC_TESTS_SUPPORT_H2_HOARDER_H_

#include <atomic>
#include <memory>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>

namespace ovvoc::testing {

class PartialMessages {
 public:
  struct Options {
    std::string address;  // HOST:PORT
    std::string path;     // e.g. "/ovvoc.v1.AgentService/Enroll"; under 127 bytes
    int connections = 1;
    int streams = 1;                     // per connection
    uint32_t message_bytes = 1'000'000;  // the L declared in each gRPC length prefix
  };

  explicit PartialMessages(Options options) : options_(std::move(options)) {}
  ~PartialMessages() { Stop(); }
  PartialMessages(const PartialMessages&) = delete;
  PartialMessages& operator=(const PartialMessages&) = delete;

  // Connects and sends on a thread of its own until Stop(). Connections that fail, are reset
  // or are sent a GOAWAY are counted in connections_lost() and not reopened.
  void Start();
  // Closes every connection and joins the thread. Idempotent.
  void Stop();

  // Message bytes framed across all streams (length prefixes and framing excluded); each
  // connection runs at most 64 KiB ahead of what TLS has taken.
  uint64_t bytes_sent() const { return bytes_sent_.load(); }
  int resets() const { return resets_.load(); }          // RST_STREAM frames received
  int connections_open() const { return open_.load(); }  // handshaken and not yet lost
  int connections_lost() const { return lost_.load(); }

 private:
  void Run();

  const Options options_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> bytes_sent_{0};
  std::atomic<int> resets_{0};
  std::atomic<int> open_{0};
  std::atomic<int> lost_{0};
};

// How one attacking connection (below) ended.
struct AttackOutcome {
  bool connected = false;  // the TLS handshake succeeded
  int sent = 0;            // streams (key updates) handed to TLS before the server closed
  bool closed = false;     // the server closed the connection
  bool stalled = false;    // the server stopped reading, or fell silent, for 10 s
};

// ResetStreams: HTTP/2 "rapid reset" (CVE-2023-44487) on one TLS connection: HEADERS for a
// new stream on `path`, RST_STREAM(CANCEL) right after, in batches of 100, until `streams`
// went out or the server closed the connection. Presents a client certificate if `key_pem`
// is set. Blocking; every socket wait is bounded (10 s).
AttackOutcome ResetStreams(const std::string& address, const std::string& path, int streams,
                           const std::string& key_pem = "", const std::string& cert_pem = "");

// LeaveStreamsOpen: one TLS connection (no certificate) that never acknowledges the server's
// SETTINGS (gRPC 1.51 enforces no stream limit until it does) and opens `streams` streams on
// `path` in one go, ending none of them; then waits, reading, for the server to close the
// connection or fall silent for 10 s.
AttackOutcome LeaveStreamsOpen(const std::string& address, const std::string& path, int streams);

// StalledReader: one TLS connection (no certificate, a small receive buffer) that makes one
// call on `path` and then never reads a byte: whatever the server answers piles up in its
// send buffers. Holds the connection until destroyed.
class StalledReader {
 public:
  // Null if it could not connect or finish TLS within 10 s.
  static std::unique_ptr<StalledReader> Open(const std::string& address, const std::string& path);
  ~StalledReader();
  StalledReader(const StalledReader&) = delete;
  StalledReader& operator=(const StalledReader&) = delete;

 private:
  StalledReader(int fd, void* ssl, void* ctx) : fd_(fd), ssl_(ssl), ctx_(ctx) {}
  int fd_;
  void* ssl_;  // SSL*
  void* ctx_;  // SSL_CTX*
};

// RequestKeyUpdates: one TLS connection (no certificate) that sends HTTP/2's preface, then
// asks for `count` TLS 1.3 key updates, reading all the while; `closed` if the server closed
// the connection (else it answered them all and fell silent for 10 s).
AttackOutcome RequestKeyUpdates(const std::string& address, int count);

}  // namespace ovvoc::testing

#endif  // OVVOC_TESTS_SUPPORT_H2_HOARDER_H_
