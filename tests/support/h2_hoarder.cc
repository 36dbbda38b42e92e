#include "tests/support/h2_hoarder.h"

#include <netdb.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string_view>
#include <vector>

namespace ovvoc::testing {
namespace {

constexpr int64_t kInitialWindow = 65535;  // RFC 9113 6.9.2, for the connection and each stream
constexpr int64_t kMaxFramePayload = 16384;
constexpr size_t kMaxQueued = 64 << 10;  // framed bytes kept ahead of what TLS has taken
constexpr uint8_t kData = 0, kHeaders = 1, kRstStream = 3, kSettings = 4, kPing = 6, kGoAway = 7,
                  kWindowUpdate = 8;
constexpr uint8_t kAck = 1, kEndHeaders = 4;
constexpr uint32_t kCancel = 8;  // RST_STREAM error code
constexpr uint16_t kSettingsInitialWindowSize = 4;

uint32_t BigEndian(std::string_view bytes) {
  uint32_t value = 0;
  for (unsigned char c : bytes) value = value << 8 | c;
  return value;
}

void AppendBigEndian(std::string& out, uint32_t value, int bytes) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8)
    out.push_back(static_cast<char>(value >> shift));
}

void AppendFrame(std::string& out, uint8_t type, uint8_t flags, uint32_t stream,
                 std::string_view payload) {
  AppendBigEndian(out, static_cast<uint32_t>(payload.size()) << 8 | type, 4);  // 24-bit length
  out.push_back(static_cast<char>(flags));
  AppendBigEndian(out, stream, 4);
  out.append(payload);
}

// A gRPC call's HEADERS block: HPACK literals without indexing, new names (RFC 7541 6.2.2),
// every string under 127 bytes.
std::string RequestHeaders(std::string_view path) {
  const std::string_view fields[][2] = {{":method", "POST"},
                                        {":scheme", "https"},
                                        {":path", path},
                                        {":authority", "x"},
                                        {"content-type", "application/grpc"},
                                        {"te", "trailers"}};
  std::string out;
  for (const auto& [name, value] : fields) {
    out.push_back(0);
    out.push_back(static_cast<char>(name.size()));
    out.append(name);
    out.push_back(static_cast<char>(value.size()));
    out.append(value);
  }
  return out;
}

// A non-blocking TCP connection to HOST:PORT, still connecting; -1 if it cannot even start.
int ConnectNonBlocking(const std::string& address, int receive_buffer = 0) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return -1;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(address.substr(0, colon).c_str(), address.substr(colon + 1).c_str(), &hints,
                    &found) != 0) {
    return -1;
  }
  int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd >= 0 && receive_buffer > 0) {  // before connect(), so that the window is small too
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  }
  if (fd >= 0 && ::connect(fd, found->ai_addr, found->ai_addrlen) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(found);
  return fd;
}

// A TLS 1.3 client context offering "h2" and verifying nothing, with a client identity if given.
std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ClientContext(const std::string& key_pem = "",
                                                                const std::string& cert_pem = "") {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        &SSL_CTX_free);
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  static const unsigned char kAlpn[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof kAlpn);
  if (!key_pem.empty()) {
    BIO* key = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
    BIO* cert = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
    EVP_PKEY* pkey = PEM_read_bio_PrivateKey(key, nullptr, nullptr, nullptr);
    X509* x509 = PEM_read_bio_X509(cert, nullptr, nullptr, nullptr);
    SSL_CTX_use_certificate(ctx.get(), x509);
    SSL_CTX_use_PrivateKey(ctx.get(), pkey);
    X509_free(x509);
    EVP_PKEY_free(pkey);
    BIO_free(cert);
    BIO_free(key);
  }
  return ctx;
}

// A write to a connection the server closed must fail with EPIPE, not kill the test.
void BlockSigpipe() {
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
}

// A blocking TCP + TLS connection to `address` whose every wait is bounded (10 s), with
// `receive_buffer` bytes of socket receive buffer if set; -1 if it cannot be made.
int ConnectBlocking(const std::string& address, SSL_CTX* ctx,
                    std::unique_ptr<SSL, decltype(&SSL_free)>& ssl, int receive_buffer = 0) {
  const int fd = ConnectNonBlocking(address, receive_buffer);
  if (fd < 0) return -1;
  pollfd connecting{fd, POLLOUT, 0};
  ::poll(&connecting, 1, 10'000);
  ::fcntl(fd, F_SETFL, 0);  // blocking from here
  timeval bound{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof bound);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof bound);
  ssl.reset(SSL_new(ctx));
  SSL_set_fd(ssl.get(), fd);
  if (SSL_connect(ssl.get()) != 1) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// HTTP/2's client preface and an empty SETTINGS frame.
std::string Preface() {
  std::string out = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  AppendFrame(out, kSettings, 0, 0, "");
  return out;
}

// What all the connections of one PartialMessages share.
struct Shared {
  const PartialMessages::Options& options;
  SSL_CTX* ctx;
  std::string headers;  // RequestHeaders(options.path)
  std::atomic<uint64_t>& bytes_sent;
  std::atomic<int>& resets;
};

// One connection's HTTP/2 state. Pump() returns false once the connection is over.
class Connection {
 public:
  Connection(int fd, Shared& shared)
      : fd_(fd), shared_(shared), ssl_(SSL_new(shared.ctx), &SSL_free) {
    SSL_set_fd(ssl_.get(), fd_);
    SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    out_ = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    AppendFrame(out_, kSettings, 0, 0, "");
    for (int i = 0; i < shared_.options.streams; ++i) {
      streams_.push_back({kInitialWindow, shared_.options.message_bytes - 1, false, false});
      AppendFrame(out_, kHeaders, kEndHeaders, StreamId(i), shared_.headers);
    }
  }
  ~Connection() { ::close(fd_); }

  int fd() const { return fd_; }
  bool open() const { return open_; }
  bool wants_write() const { return !open_ || !out_.empty(); }

  bool Pump() {
    if (!open_) {
      const int done = SSL_connect(ssl_.get());
      if (done != 1) return Retriable(done);  // (a gRPC server refuses a peer without "h2")
      open_ = true;
    }
    if (!Read()) return false;
    Fill();
    return Flush();
  }

 private:
  struct Stream {
    int64_t window;
    uint64_t left;  // message bytes still to send
    bool prefixed;  // the 5-byte gRPC length prefix went out
    bool reset;
  };
  static uint32_t StreamId(size_t index) { return static_cast<uint32_t>(1 + 2 * index); }

  bool Retriable(int result) {
    const int error = SSL_get_error(ssl_.get(), result);
    return error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE;
  }

  bool Read() {
    char buffer[64 << 10];
    int n;
    while ((n = SSL_read(ssl_.get(), buffer, sizeof buffer)) > 0) in_.append(buffer, n);
    if (!Retriable(n)) return false;  // EOF, reset, TLS alert
    size_t at = 0;
    while (in_.size() - at >= 9) {
      const size_t size = BigEndian(std::string_view(in_).substr(at, 3));
      if (in_.size() - at < 9 + size) break;
      const std::string_view frame = std::string_view(in_).substr(at, 9 + size);
      at += 9 + size;
      if (!OnFrame(frame[3], frame[4], BigEndian(frame.substr(5, 4)) & 0x7fffffff,
                   frame.substr(9))) {
        return false;
      }
    }
    in_.erase(0, at);
    return true;
  }

  Stream* Find(uint32_t id) {
    const size_t index = (id - 1) / 2;
    return id % 2 == 1 && index < streams_.size() ? &streams_[index] : nullptr;
  }

  bool OnFrame(uint8_t type, uint8_t flags, uint32_t id, std::string_view payload) {
    if (type == kGoAway) return false;
    if (type == kSettings && !(flags & kAck)) {
      for (size_t i = 0; i + 6 <= payload.size(); i += 6) {
        if (BigEndian(payload.substr(i, 2)) != kSettingsInitialWindowSize) continue;
        const int64_t initial = BigEndian(payload.substr(i + 2, 4));
        for (Stream& stream : streams_) stream.window += initial - initial_window_;
        initial_window_ = initial;
      }
      AppendFrame(out_, kSettings, kAck, 0, "");
    } else if (type == kPing && !(flags & kAck)) {
      AppendFrame(out_, kPing, kAck, 0, payload);
    } else if (type == kWindowUpdate && payload.size() == 4) {
      const int64_t increment = BigEndian(payload) & 0x7fffffff;
      if (id == 0) window_ += increment;
      if (Stream* stream = Find(id)) stream->window += increment;
    } else if (type == kRstStream) {
      Stream* stream = Find(id);
      if (stream != nullptr && !stream->reset) {
        stream->reset = true;
        shared_.resets.fetch_add(1);
      }
    }
    return true;
  }

  // Frames as much of every stream's message as the windows allow, never ending a stream.
  void Fill() {
    static const std::string kFiller(kMaxFramePayload, 'A');
    for (size_t i = 0; i < streams_.size(); ++i) {
      Stream& s = streams_[i];
      while (!s.reset && s.left > 0 && out_.size() < kMaxQueued) {
        const int64_t prefix = s.prefixed ? 0 : 5;
        const int64_t n = std::min({kMaxFramePayload - prefix, static_cast<int64_t>(s.left),
                                    window_ - prefix, s.window - prefix});
        if (n <= 0) break;
        std::string payload;
        if (!s.prefixed) {
          payload.push_back(0);  // not compressed
          AppendBigEndian(payload, shared_.options.message_bytes, 4);
          s.prefixed = true;
        }
        payload.append(kFiller, 0, static_cast<size_t>(n));
        AppendFrame(out_, kData, 0, StreamId(i), payload);
        s.left -= static_cast<uint64_t>(n);
        window_ -= n + prefix;
        s.window -= n + prefix;
        shared_.bytes_sent.fetch_add(static_cast<uint64_t>(n));
      }
    }
  }

  bool Flush() {
    while (!out_.empty()) {
      const int n = SSL_write(ssl_.get(), out_.data(),
                              static_cast<int>(std::min<size_t>(out_.size(), 1 << 30)));
      if (n <= 0) return Retriable(n);
      out_.erase(0, static_cast<size_t>(n));
    }
    return true;
  }

  const int fd_;
  Shared& shared_;
  const std::unique_ptr<SSL, decltype(&SSL_free)> ssl_;
  bool open_ = false;  // handshake done
  std::string in_;     // received, not yet parsed
  std::string out_;    // framed, not yet taken by TLS
  int64_t window_ = kInitialWindow;
  int64_t initial_window_ = kInitialWindow;
  std::vector<Stream> streams_;
};

}  // namespace

void PartialMessages::Start() {
  stopping_ = false;
  thread_ = std::thread([this] { Run(); });
}

void PartialMessages::Stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void PartialMessages::Run() {
  BlockSigpipe();
  auto ctx = ClientContext();
  Shared shared{options_, ctx.get(), RequestHeaders(options_.path), bytes_sent_, resets_};

  std::vector<std::unique_ptr<Connection>> connections;
  for (int i = 0; i < options_.connections; ++i) {
    const int fd = ConnectNonBlocking(options_.address);
    if (fd < 0) lost_.fetch_add(1);
    if (fd >= 0) connections.push_back(std::make_unique<Connection>(fd, shared));
  }
  std::vector<pollfd> fds;
  while (!stopping_.load() && !connections.empty()) {
    fds.clear();
    for (const auto& c : connections) {
      fds.push_back({c->fd(), static_cast<short>(POLLIN | (c->wants_write() ? POLLOUT : 0)), 0});
    }
    ::poll(fds.data(), fds.size(), 10);
    std::erase_if(connections, [&](const std::unique_ptr<Connection>& c) {
      const bool was_open = c->open();
      if (c->Pump()) {
        if (!was_open && c->open()) open_.fetch_add(1);
        return false;
      }
      if (was_open) open_.fetch_sub(1);
      lost_.fetch_add(1);
      return true;
    });
  }
  open_ = 0;
}

namespace {

// One blocking attacker connection (TLS done, every wait bounded) and how it ended.
class Attacker {
 public:
  Attacker(const std::string& address, const std::string& key_pem = "",
           const std::string& cert_pem = "")
      : ctx_(ClientContext(key_pem, cert_pem)), ssl_(nullptr, &SSL_free) {
    BlockSigpipe();
    fd_ = ConnectBlocking(address, ctx_.get(), ssl_);
    outcome.connected = fd_ >= 0;
  }
  ~Attacker() {
    if (fd_ >= 0) ::close(fd_);
  }

  bool over() const { return outcome.closed || outcome.stalled; }

  // False (and the outcome says why) if the server did not take `bytes`.
  bool Write(const std::string& bytes) {
    const int n = SSL_write(ssl_.get(), bytes.data(), static_cast<int>(bytes.size()));
    if (n <= 0) Ended(n);
    return n > 0;
  }
  // Asks for a TLS 1.3 key update, sent at once.
  bool KeyUpdate() {
    if (SSL_key_update(ssl_.get(), SSL_KEY_UPDATE_REQUESTED) != 1) return false;
    const int n = SSL_do_handshake(ssl_.get());
    if (n <= 0) Ended(n);
    return n > 0;
  }
  // Reads whatever the server has said so far (its SETTINGS, answers, ...).
  void Drain() {
    pollfd readable{fd_, POLLIN, 0};
    while (!over() && ::poll(&readable, 1, 0) > 0) Read();
  }
  // Reads until the server closes the connection or falls silent for 10 s.
  void WaitForEnd() {
    while (!over()) Read();
  }

  AttackOutcome outcome;

 private:
  void Read() {
    char buffer[16 << 10];
    if (const int n = SSL_read(ssl_.get(), buffer, sizeof buffer); n <= 0) Ended(n);
  }
  // A TLS call failed: a socket wait that timed out is a server that stopped reading or
  // talking, not one that closed.
  void Ended(int result) {
    const int error = SSL_get_error(ssl_.get(), result);
    (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE ? outcome.stalled
                                                                   : outcome.closed) = true;
  }

  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx_;
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl_;
  int fd_ = -1;
};

}  // namespace

AttackOutcome ResetStreams(const std::string& address, const std::string& path, int streams,
                           const std::string& key_pem, const std::string& cert_pem) {
  Attacker attacker(address, key_pem, cert_pem);
  AttackOutcome& outcome = attacker.outcome;
  if (!outcome.connected) return outcome;
  std::string out = Preface();
  const std::string headers = RequestHeaders(path);
  std::string cancel;
  AppendBigEndian(cancel, kCancel, 4);
  uint32_t id = 1;
  while (!attacker.over() && outcome.sent < streams) {
    const int batch = std::min(100, streams - outcome.sent);
    for (int i = 0; i < batch; ++i, id += 2) {
      AppendFrame(out, kHeaders, kEndHeaders, id, headers);
      AppendFrame(out, kRstStream, 0, id, cancel);
    }
    if (!attacker.Write(out)) break;
    out.clear();
    outcome.sent += batch;
    attacker.Drain();
  }
  // All went out (the kernel may hold megabytes the server has not read yet).
  attacker.WaitForEnd();
  return outcome;
}
std::unique_ptr<StalledReader> StalledReader::Open(const std::string& address,
                                                   const std::string& path) {
  BlockSigpipe();
  auto ctx = ClientContext();
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(nullptr, &SSL_free);
  const int fd = ConnectBlocking(address, ctx.get(), ssl, /*receive_buffer=*/1024);
  if (fd < 0) return nullptr;
  // Windows as large as HTTP/2 allows: the server may send everything it has at once.
  std::string out = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  std::string settings;
  AppendBigEndian(settings, kSettingsInitialWindowSize, 2);
  AppendBigEndian(settings, 0x7fffffff, 4);
  AppendFrame(out, kSettings, 0, 0, settings);
  std::string increment;
  AppendBigEndian(increment, 0x7fffffff - kInitialWindow, 4);
  AppendFrame(out, kWindowUpdate, 0, 0, increment);
  AppendFrame(out, kHeaders, kEndHeaders, 1, RequestHeaders(path));
  AppendFrame(out, kData, /*END_STREAM*/ 1, 1, std::string(5, '\0'));  // an empty message
  if (SSL_write(ssl.get(), out.data(), static_cast<int>(out.size())) <= 0) {
    ::close(fd);
    return nullptr;
  }
  return std::unique_ptr<StalledReader>(new StalledReader(fd, ssl.release(), ctx.release()));
}

StalledReader::~StalledReader() {
  SSL_free(static_cast<SSL*>(ssl_));
  SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
  ::close(fd_);
}

AttackOutcome RequestKeyUpdates(const std::string& address, int count) {
  Attacker attacker(address);
  AttackOutcome& outcome = attacker.outcome;
  if (!outcome.connected || !attacker.Write(Preface())) return outcome;
  for (int i = 0; i < count && !attacker.over(); ++i) {
    // Sent with the next handshake call; the server must answer each with one of its own.
    if (!attacker.KeyUpdate()) break;
    ++outcome.sent;
    attacker.Drain();
  }
  attacker.WaitForEnd();
  return outcome;
}
AttackOutcome LeaveStreamsOpen(const std::string& address, const std::string& path, int streams) {
  Attacker attacker(address);
  AttackOutcome& outcome = attacker.outcome;
  if (!outcome.connected) return outcome;
  std::string out = Preface();
  const std::string headers = RequestHeaders(path);
  for (int i = 0; i < streams; ++i) {
    AppendFrame(out, kHeaders, kEndHeaders, static_cast<uint32_t>(1 + 2 * i), headers);
  }
  if (attacker.Write(out)) outcome.sent = streams;
  attacker.WaitForEnd();
  return outcome;
}
}  // namespace ovvoc::testing
