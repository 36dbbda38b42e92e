#include "control-plane/server/listener.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/crypto.h"
#include "common/logging.h"

namespace ovvoc::cp {
namespace {

constexpr int kBacklog = 1024;
constexpr int kFdsPerConnection = 3;  // the client's, ours of the pair, gRPC's of the pair
constexpr size_t kChunk = 16 << 10;   // one TLS record's plaintext
constexpr size_t kMaxToInner = 64 << 10;  // read from the client, not yet taken by gRPC
// Sweeping gRPC's reclaimer queues (see SweepReclaimers): after this many connections gRPC
// served have closed, once none has closed for kSweepQuiet, this many sweeps at a time.
constexpr uint64_t kSweepAfterCloses = 128;
constexpr absl::Duration kSweepQuiet = absl::Seconds(1);
constexpr int kSweepsPerPass = 32;
// epoll tags: a connection's id << 1 | side; these two are no connection's.
constexpr uint64_t kListenerTag = ~uint64_t{0};
constexpr uint64_t kWakeTag = ~uint64_t{0} - 1;

absl::Status Errno(absl::string_view what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// The newest OpenSSL error, for a log line.
std::string TlsError() {
  char text[256] = "unknown error";
  if (const unsigned long e = ERR_get_error(); e != 0) ERR_error_string_n(e, text, sizeof text);
  ERR_clear_error();
  return text;
}

// "HOST:PORT", "[V6]:PORT" -> (host, port).
absl::StatusOr<std::pair<std::string, std::string>> SplitHostPort(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address \"", address, "\" must be HOST:PORT"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::make_pair(host, address.substr(colon + 1));
}

// A client's host: the key its connections are counted under (its address bytes; one IPv6
// host owns a whole /64, with SLAAC and privacy addresses, or one machine could bring 2^64
// addresses; an IPv4 address mapped into IPv6 counts as itself) and its name for logs.
std::pair<std::string, std::string> HostOf(const sockaddr_storage& peer) {
  char text[INET6_ADDRSTRLEN] = "";
  if (peer.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(peer);
    ::inet_ntop(AF_INET, &in.sin_addr, text, sizeof text);
    return {std::string(reinterpret_cast<const char*>(&in.sin_addr), sizeof in.sin_addr),
            absl::StrCat("ipv4:", text)};
  }
  if (peer.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(peer);
    const char* bytes = reinterpret_cast<const char*>(&in6.sin6_addr);
    if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) {
      ::inet_ntop(AF_INET, bytes + 12, text, sizeof text);
      return {std::string(bytes + 12, 4), absl::StrCat("ipv4:", text)};
    }
    ::inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof text);
    return {std::string(bytes, 8), absl::StrCat("ipv6:[", text, "]")};
  }
  return {"", "unknown"};
}

// The server's TLS context: TLS 1.3 only, ALPN "h2", no session resumption (agents keep their
// connections), and a client certificate requested but never a reason to fail the handshake:
// its verification only chooses the guard's budgets.
absl::StatusOr<SSL_CTX*> NewServerContext(const AgentListener::Tls& tls) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()),
                                                        &SSL_CTX_free);
  if (ctx == nullptr) return absl::InternalError("SSL_CTX_new failed");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
  SSL_CTX_set_num_tickets(ctx.get(), 0);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                                  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

  std::unique_ptr<BIO, decltype(&BIO_free)> key_bio(
      BIO_new_mem_buf(tls.key_pem.data(), static_cast<int>(tls.key_pem.size())), &BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  if (key == nullptr || SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("the server key is unusable: ", TlsError()));
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> chain_bio(
      BIO_new_mem_buf(tls.chain_pem.data(), static_cast<int>(tls.chain_pem.size())), &BIO_free);
  bool leaf = true;
  while (X509* cert = PEM_read_bio_X509(chain_bio.get(), nullptr, nullptr, nullptr)) {
    const int ok = leaf ? SSL_CTX_use_certificate(ctx.get(), cert)
                        : SSL_CTX_add1_chain_cert(ctx.get(), cert);
    X509_free(cert);
    if (ok != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("the server certificate chain is unusable: ", TlsError()));
    }
    leaf = false;
  }
  ERR_clear_error();  // the end of the PEM
  if (leaf || SSL_CTX_check_private_key(ctx.get()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the server certificate does not match its key: ", TlsError()));
  }

  std::unique_ptr<BIO, decltype(&BIO_free)> ca_bio(
      BIO_new_mem_buf(tls.ca_pem.data(), static_cast<int>(tls.ca_pem.size())), &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> ca(
      PEM_read_bio_X509(ca_bio.get(), nullptr, nullptr, nullptr), &X509_free);
  if (ca == nullptr || X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), ca.get()) != 1 ||
      SSL_CTX_add_client_CA(ctx.get(), ca.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("the CA certificate is unusable: ", TlsError()));
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
  SSL_CTX_set_alpn_select_cb(
      ctx.get(),
      [](SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
         unsigned int in_length, void*) {
        static const unsigned char kH2[] = {2, 'h', '2'};
        unsigned char* selected = nullptr;
        if (SSL_select_next_proto(&selected, out_length, kH2, sizeof kH2, in, in_length) !=
            OPENSSL_NPN_NEGOTIATED) {
          return SSL_TLSEXT_ERR_ALERT_FATAL;  // gRPC speaks HTTP/2 only
        }
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
      },
      nullptr);
  return ctx.release();
}

std::string CertificatePem(X509* cert) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (cert == nullptr || PEM_write_bio_X509(bio.get(), cert) != 1) return "";
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

}  // namespace

// One client connection: its TLS session, the guard over what it sends, and (once it sent
// HTTP/2's preface) our end of the socket pair gRPC serves.
struct AgentListener::Connection {
  enum class State { kHandshake, kPreface, kOpen };

  uint64_t id;
  std::string host_key;
  std::shared_ptr<Peer> peer;
  UniqueFd client;
  UniqueFd inner;
  std::string inner_name;  // its abstract name, under which peers_ lists it
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl{nullptr, &SSL_free};
  State state = State::kHandshake;
  std::optional<H2Guard> guard;
  std::string held;          // from the client, not yet let through by the guard (<= kChunk)
  std::string to_inner;      // from the client, not yet taken by gRPC
  std::string to_client;     // from gRPC, not yet taken by TLS (retried as is)
  bool inner_eof = false;    // gRPC closed its end: deliver to_client, then close
  bool inner_hup = false;    // the kernel said so: inner is out of the epoll set
  bool tls_wants_write = false;  // the last TLS call waits for the socket to take bytes
  absl::Time stalled_since = absl::InfiniteFuture();  // tls_wants_write since
  bool paused = false;       // not read until the guard is ready (a pacing budget overspent)
  int key_updates = 0;       // TLS 1.3 KeyUpdates the client sent
  uint32_t client_events = 0;
  uint32_t inner_events = 0;
};

long RaiseOpenFileLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    ::getrlimit(RLIMIT_NOFILE, &limit);
  }
  return static_cast<long>(limit.rlim_cur);
}

absl::StatusOr<std::unique_ptr<AgentListener>> AgentListener::Bind(const std::string& address) {
  auto host_port = SplitHostPort(address);
  if (!host_port.ok()) return host_port.status();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const char* host = host_port->first.empty() ? nullptr : host_port->first.c_str();
  if (int rc = ::getaddrinfo(host, host_port->second.c_str(), &hints, &found); rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve listen address ", address, ": ", ::gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, ::freeaddrinfo);
  absl::Status last = absl::UnavailableError(absl::StrCat("cannot listen on ", address));
  for (addrinfo* ai = addresses.get(); ai != nullptr; ai = ai->ai_next) {
    UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) {
      last = Errno("socket");
      continue;
    }
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd.get(), kBacklog) != 0) {
      last = Errno(absl::StrCat("cannot listen on ", address));
      continue;
    }
    sockaddr_storage bound{};
    socklen_t length = sizeof bound;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &length);
    const int port = ntohs(bound.ss_family == AF_INET6
                               ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                               : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    UniqueFd wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!wake.valid()) return Errno("eventfd");
    UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll.valid()) return Errno("epoll_create1");
    return std::unique_ptr<AgentListener>(
        new AgentListener(std::move(fd), port, std::move(wake), std::move(epoll)));
  }
  return last;
}

AgentListener::AgentListener(UniqueFd fd, int port, UniqueFd wake, UniqueFd epoll)
    : fd_(std::move(fd)), port_(port), wake_(std::move(wake)), epoll_(std::move(epoll)) {}

AgentListener::~AgentListener() { Stop(); }

absl::Status AgentListener::Start(
    std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor, const Tls& tls,
    Limits limits, PeerDirectory& peers, std::string admin_socket, Callbacks callbacks) {
  absl::StatusOr<SSL_CTX*> ctx = NewServerContext(tls);
  if (!ctx.ok()) return ctx.status();
  tls_.reset(*ctx);
  acceptor_ = std::move(acceptor);
  limits_ = limits;
  peers_ = &peers;
  admin_socket_ = std::move(admin_socket);
  callbacks_ = std::move(callbacks);
  // Unique for the process's life (a name is never reused, so a call gRPC still reads from a
  // closed connection can never be taken for a later one's), and not guessable by a local
  // process that would squat on it.
  name_prefix_ = absl::StrCat("ovvoc-cp.", ::getpid(), ".", crypto::HexEncode(crypto::RandomBytes(8)), ".");
  epoll_event listener{EPOLLIN, {.u64 = kListenerTag}};
  epoll_event wake{EPOLLIN, {.u64 = kWakeTag}};
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd_.get(), &listener) != 0 ||
      ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &wake) != 0) {
    return Errno("epoll_ctl");
  }
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void AgentListener::Stop() {
  if (!thread_.joinable()) return;
  const uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
  thread_.join();
  while (!connections_.empty()) Close(*connections_.begin()->second);
  fd_.reset();
}

void AgentListener::Loop() {
  // OpenSSL writes to clients with write(): one that has gone must give EPIPE, not kill the
  // process. (SIGPIPE is sent to the writing thread; blocked here, it stays pending, harmless.)
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  absl::Time next_check = absl::Now() + absl::Seconds(1);
  epoll_event events[256];
  for (;;) {
    // Wake for the next paced client too (other deadlines are seconds long: 250 ms will do).
    int wait_ms = 250;
    if (!pauses_.empty()) {
      const absl::Duration until = pauses_.top().first - absl::Now();
      if (until < absl::Milliseconds(250)) {
        wait_ms = static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(until) + 1));
      }
    }
    const int ready = ::epoll_wait(epoll_.get(), events, 256, wait_ms);
    if (ready < 0 && errno != EINTR) {
      callbacks_.on_fatal(Errno("epoll_wait on the agent listener"));
      return;
    }
    for (int i = 0; i < ready; ++i) {
      const uint64_t tag = events[i].data.u64;
      if (tag == kWakeTag) return;  // Stop()
      if (tag == kListenerTag) {
        if ((events[i].events & EPOLLERR) != 0) {
          callbacks_.on_fatal(absl::UnavailableError("the agent listener failed"));
          return;
        }
        if (!AcceptAll()) return;
        continue;
      }
      // A connection closed earlier in this batch is gone; ids are never reused.
      if (auto it = connections_.find(tag >> 1); it != connections_.end()) {
        OnEvents(*it->second, (tag & 1) != 0, events[i].events);
      }
    }
    const absl::Time now = absl::Now();
    CloseExpired(now);
    Resume(now);
    SweepReclaimers(now);
    if (now >= next_check) {
      next_check = now + absl::Seconds(1);
      if (!admin_socket_.empty() && !AdminSocketListening()) {
        callbacks_.on_fatal(absl::UnavailableError(
            absl::StrCat("the admin socket ", admin_socket_, " no longer listens")));
        return;
      }
    }
  }
}

bool AgentListener::AtLimit(int fd) const {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  const long spare = static_cast<long>(limit.rlim_cur) - kReservedFds;
  const long needed = (static_cast<long>(connections_.size()) + 1) * kFdsPerConnection;
  // accept4() returns the lowest free number, so `fd` also says how full the table is.
  return static_cast<int>(connections_.size()) >= limits_.max_connections || needed > spare ||
         fd + kFdsPerConnection > spare;
}

bool AgentListener::AcceptAll() {
  for (;;) {
    sockaddr_storage address{};
    socklen_t address_length = sizeof address;
    const int fd = ::accept4(fd_.get(), reinterpret_cast<sockaddr*>(&address), &address_length,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      switch (errno) {
        case EAGAIN:
        case EINTR:
        case ECONNABORTED:
        case EPROTO:
        case EPERM:
          return true;
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
          // Out of descriptors or memory: the waiting connection stays in the backlog; wait
          // a little for some to close rather than spin.
          ++refused_;
          absl::SleepFor(absl::Milliseconds(50));
          return true;
        default:
          callbacks_.on_fatal(Errno("accept on the agent listener"));
          return false;
      }
    }
    UniqueFd client(fd);
    auto [host_key, host_name] = HostOf(address);
    int& host_open = hosts_[host_key];
    if (AtLimit(fd) || host_open >= limits_.max_per_host) {
      if (host_open == 0) hosts_.erase(host_key);
      if (refused_.fetch_add(1) % 1000 == 0) {
        log::Warning("at the connection limit: closing new connections (%llu so far)",
                     static_cast<unsigned long long>(refused_.load()));
      }
      continue;
    }
    ++host_open;
    auto c = std::make_unique<Connection>();
    c->id = next_id_++;
    c->host_key = std::move(host_key);
    c->peer = std::make_shared<Peer>();
    c->peer->host = std::move(host_name);
    c->ssl.reset(SSL_new(tls_.get()));
    if (c->ssl == nullptr || SSL_set_fd(c->ssl.get(), fd) != 1) {
      log::Error("cannot start TLS on a connection: %s", TlsError());
      if (--host_open == 0) hosts_.erase(c->host_key);
      continue;
    }
    SSL_set_accept_state(c->ssl.get());
    // Counts the client's KeyUpdates (handshake messages a TLS 1.3 client may send once the
    // handshake is done, and only then).
    SSL_set_msg_callback(c->ssl.get(), [](int write, int, int type, const void* message,
                                          size_t length, SSL*, void* arg) {
      if (write == 0 && type == SSL3_RT_HANDSHAKE && length > 0 &&
          static_cast<const unsigned char*>(message)[0] == SSL3_MT_KEY_UPDATE) {
        ++static_cast<Connection*>(arg)->key_updates;
      }
    });
    SSL_set_msg_callback_arg(c->ssl.get(), c.get());
    // The kernel gives up on a peer that acknowledges nothing we sent for a minute (a zero
    // window included).
    const unsigned int user_timeout_ms = 60'000;
    ::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms);
    // Answers are small and go out whole: Nagle would hold one back for the last one's ACK.
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->client = std::move(client);
    Connection& added = *c;
    connections_.emplace(added.id, std::move(c));
    ++open_;
    epoll_event event{EPOLLIN | EPOLLRDHUP, {.u64 = added.id << 1}};
    added.client_events = EPOLLIN | EPOLLRDHUP;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, added.client.get(), &event) != 0) {
      Close(added);
      continue;
    }
    handshakes_.emplace_back(absl::Now() + limits_.handshake_timeout, added.id);
  }
}

void AgentListener::OnEvents(Connection& c, bool inner, uint32_t events) {
  // A client that sent its FIN is leaving (gRPC clients never half-close): close it now, even
  // while it is paced and not being read.
  if (!inner && (events & EPOLLRDHUP) != 0) {
    Close(c);
    return;
  }
  if ((events & (EPOLLHUP | EPOLLERR)) != 0) {
    if (!inner) {  // the client is gone: nothing more to deliver either way
      Close(c);
      return;
    }
    // gRPC closed its end. The kernel reports that until the socket is closed, whatever it was
    // asked to watch: stop watching, and read what gRPC left whenever the client makes room.
    if (!c.inner_hup) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.inner.get(), nullptr);
    c.inner_hup = true;
  }
  Drive(c);
}

bool AgentListener::Drive(Connection& c) {
  if (c.state == Connection::State::kHandshake) {
    if (!Handshake(c)) return false;
    if (c.state == Connection::State::kHandshake) {
      Watch(c);
      return true;
    }
  }
  // Both directions, each as far as the other side takes: what TLS already decrypted is read
  // here too, since epoll cannot see it.
  if (!ToInner(c) || !FromClient(c) || !ToInner(c) || !ToClient(c) || !FromInner(c)) {
    return false;
  }
  if (c.inner_eof && c.to_client.empty()) {  // gRPC is done with it, and its last words sent
    SSL_shutdown(c.ssl.get());
    Close(c);
    return false;
  }
  Watch(c);
  return true;
}

bool AgentListener::TlsWaits(Connection& c, int result) {
  const int error = SSL_get_error(c.ssl.get(), result);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
    c.tls_wants_write = error == SSL_ERROR_WANT_WRITE;
    return true;
  }
  // The client left, broke TLS, or never spoke it (an old version, not ours): nothing to log.
  // gRPC's end closes with ours, ending the connection's calls.
  ERR_clear_error();
  Close(c);
  return false;
}

bool AgentListener::Handshake(Connection& c) {
  const int done = SSL_do_handshake(c.ssl.get());
  if (done != 1) return TlsWaits(c, done);
  c.tls_wants_write = false;
  const unsigned char* protocol = nullptr;
  unsigned int protocol_length = 0;
  SSL_get0_alpn_selected(c.ssl.get(), &protocol, &protocol_length);
  if (absl::string_view(reinterpret_cast<const char*>(protocol), protocol_length) != "h2") {
    Close(c);  // gRPC speaks HTTP/2 only, and says so
    return false;
  }
  X509* cert = SSL_get0_peer_certificate(c.ssl.get());
  const bool agent = cert != nullptr && SSL_get_verify_result(c.ssl.get()) == X509_V_OK;
  c.peer->cert_pem = CertificatePem(cert);
  c.guard.emplace(agent ? limits_.agent : limits_.anonymous, absl::Now());
  c.state = Connection::State::kPreface;
  return true;
}

bool AgentListener::FromClient(Connection& c) {
  char buffer[kChunk];
  while (!c.paused && c.to_inner.size() < kMaxToInner && !c.inner_eof) {
    // What the guard held back last time goes first; then the next TLS record.
    if (c.held.empty()) {
      const int n = SSL_read(c.ssl.get(), buffer, sizeof buffer);
      if (c.key_updates > kMaxKeyUpdates) {
        Refuse(c, absl::ResourceExhaustedError("more TLS key updates than a client may ask for"));
        return false;
      }
      if (n <= 0) return TlsWaits(c, n);
      c.tls_wants_write = false;
      c.held.assign(buffer, static_cast<size_t>(n));
    }
    const absl::Time now = absl::Now();
    absl::StatusOr<size_t> taken = c.guard->Consume(c.held, now);
    if (!taken.ok()) {
      Refuse(c, taken.status());
      return false;
    }
    c.to_inner.append(c.held, 0, *taken);
    c.held.erase(0, *taken);
    if (c.held.empty() && c.held.capacity() > kChunk) std::string().swap(c.held);
    if (const absl::Time ready = c.guard->ready_at(); ready > now) {
      c.paused = true;  // until its debt is repaid: paced, not cut off
      pauses_.emplace(ready, c.id);
    }
    if (c.state == Connection::State::kPreface && c.guard->preface_done() && !OpenInner(c)) {
      return false;
    }
  }
  return true;
}

void AgentListener::Refuse(Connection& c, const absl::Status& why) {
  if (callbacks_.on_refused) callbacks_.on_refused(c.peer->host, why);
  Close(c);
}

bool AgentListener::ToInner(Connection& c) {
  if (!c.inner.valid()) return true;
  size_t sent = 0;
  while (sent < c.to_inner.size()) {
    const ssize_t n = ::send(c.inner.get(), c.to_inner.data() + sent, c.to_inner.size() - sent,
                             MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      break;
    } else {
      c.inner_eof = true;  // gRPC closed its end
      break;
    }
  }
  c.to_inner.erase(0, sent);
  if (c.to_inner.empty() && c.to_inner.capacity() > kChunk) std::string().swap(c.to_inner);
  if (c.inner_eof) c.to_inner.clear();
  return true;
}

bool AgentListener::FromInner(Connection& c) {
  char buffer[kChunk];
  while (c.inner.valid() && !c.inner_eof && c.to_client.empty()) {
    const ssize_t n = ::recv(c.inner.get(), buffer, sizeof buffer, 0);
    if (n > 0) {
      c.to_client.assign(buffer, static_cast<size_t>(n));
      if (!ToClient(c)) return false;
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      break;
    } else {
      c.inner_eof = true;
    }
  }
  return true;
}

bool AgentListener::ToClient(Connection& c) {
  while (!c.to_client.empty()) {
    const int n = SSL_write(c.ssl.get(), c.to_client.data(), static_cast<int>(c.to_client.size()));
    if (n <= 0) return TlsWaits(c, n);
    c.tls_wants_write = false;
    c.to_client.erase(0, static_cast<size_t>(n));
  }
  if (c.to_client.capacity() > kChunk) std::string().swap(c.to_client);
  return true;
}

bool AgentListener::OpenInner(Connection& c) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) {
    log::Warning("cannot open a connection to gRPC: %s", std::strerror(errno));
    Close(c);
    return false;
  }
  c.inner.reset(pair[0]);
  UniqueFd grpc_end(pair[1]);
  // gRPC's peer string for its end names ours: bind ours to a name of our own.
  // Unguessable as well as unique: a local process that reads /proc/net/unix must not be able
  // to take the next name first and so refuse every new connection.
  const std::string name =
      absl::StrCat(name_prefix_, c.id, ".", crypto::HexEncode(crypto::RandomBytes(8)));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path + 1, name.data(), name.size());  // abstract: sun_path[0] == 0
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  if (::bind(c.inner.get(), reinterpret_cast<sockaddr*>(&address), length) != 0) {
    log::Warning("cannot name a connection to gRPC: %s", std::strerror(errno));
    Close(c);
    return false;
  }
  c.inner_name = name;
  peers_->Add(name, c.peer);
  epoll_event event{0, {.u64 = c.id << 1 | 1}};
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c.inner.get(), &event) != 0) {
    Close(c);
    return false;
  }
  c.state = Connection::State::kOpen;
  grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters connection;
  connection.listener_fd = fd_.get();
  connection.fd = grpc_end.release();  // gRPC's now
  acceptor_->HandleNewConnection(&connection);
  return true;
}

void AgentListener::Watch(Connection& c) {
  // While TLS waits to write, it waits for nothing else: reading on would only find the same
  // records waiting (a client that asks for KeyUpdates and never reads would spin us).
  uint32_t client = EPOLLRDHUP | EPOLLOUT;
  if (!c.tls_wants_write) {
    const bool room = c.to_inner.size() < kMaxToInner && !c.inner_eof && !c.paused;
    client = EPOLLRDHUP | (c.state == Connection::State::kHandshake || room ? uint32_t{EPOLLIN} : 0);
  }
  if (client != c.client_events) {
    epoll_event event{client, {.u64 = c.id << 1}};
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.client.get(), &event);
    c.client_events = client;
  }
  // A client that takes none of our bytes is closed after write_stall_timeout.
  if (!c.tls_wants_write) {
    c.stalled_since = absl::InfiniteFuture();
  } else if (c.stalled_since == absl::InfiniteFuture()) {
    c.stalled_since = absl::Now();
    stalls_.emplace_back(c.stalled_since + limits_.write_stall_timeout, c.id);
  }
  if (!c.inner.valid() || c.inner_hup) return;
  uint32_t inner = 0;
  if (!c.inner_eof && c.to_client.empty()) inner |= EPOLLIN;
  if (!c.inner_eof && !c.to_inner.empty()) inner |= EPOLLOUT;
  if (inner != c.inner_events) {
    epoll_event event{inner, {.u64 = c.id << 1 | 1}};
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.inner.get(), &event);
    c.inner_events = inner;
  }
}

void AgentListener::Close(Connection& c) {
  if (!c.inner_name.empty()) {
    peers_->Remove(c.inner_name);
    ++closed_since_sweep_;
    last_close_ = absl::Now();
  }
  if (auto host = hosts_.find(c.host_key); host != hosts_.end() && --host->second <= 0) {
    hosts_.erase(host);
  }
  // Closing a descriptor takes it out of the epoll set.
  connections_.erase(c.id);  // destroys `c`
  --open_;
}

void AgentListener::SweepReclaimers(absl::Time now) {
  if (sweeps_left_ == 0) {
    if (closed_since_sweep_ < kSweepAfterCloses || now - last_close_ < kSweepQuiet) return;
    // One sweep moves each queue past one live connection's record: enough for every
    // connection open, and a few more; never more than closed (each cost its client a TLS
    // handshake, far more than a sweep costs us), so that closing connections cannot make us
    // work for many that stay open.
    sweeps_left_ = static_cast<int>(
        std::min<uint64_t>(connections_.size() + 16, closed_since_sweep_));
    closed_since_sweep_ = 0;
  }
  // HTTP/2's client preface and an empty SETTINGS frame: gRPC builds a whole transport for
  // it, then finds the connection closed and drops it, sweeping as it goes.
  static const std::string kHello =
      absl::StrCat(kHttp2Preface, absl::string_view("\0\0\0\4\0\0\0\0\0", 9));
  for (int i = 0; i < kSweepsPerPass && sweeps_left_ > 0; ++i, --sweeps_left_) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) {
      sweeps_left_ = 0;  // out of descriptors: not worth a connection; the next flood will tell
      return;
    }
    UniqueFd ours(pair[0]);
    (void)!::write(ours.get(), kHello.data(), kHello.size());
    ours.reset();
    grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters connection;
    connection.listener_fd = fd_.get();
    connection.fd = pair[1];  // gRPC's now
    acceptor_->HandleNewConnection(&connection);
  }
}

void AgentListener::Resume(absl::Time now) {
  while (!pauses_.empty() && pauses_.top().first <= now) {
    auto it = connections_.find(pauses_.top().second);
    pauses_.pop();
    if (it == connections_.end() || !it->second->paused) continue;
    Connection& c = *it->second;
    if (const absl::Time ready = c.guard->ready_at(); ready > now) {
      pauses_.emplace(ready, c.id);
      continue;
    }
    c.paused = false;
    Drive(c);
  }
}

void AgentListener::CloseExpired(absl::Time now) {
  while (!handshakes_.empty() && handshakes_.front().first <= now) {
    auto it = connections_.find(handshakes_.front().second);
    handshakes_.pop_front();
    if (it != connections_.end() && it->second->state != Connection::State::kOpen) {
      Close(*it->second);
    }
  }
  while (!stalls_.empty() && stalls_.front().first <= now) {
    const absl::Time since = stalls_.front().first - limits_.write_stall_timeout;
    auto it = connections_.find(stalls_.front().second);
    stalls_.pop_front();
    // Still stalled since then (a stall that ended and began again has its own entry).
    if (it != connections_.end() && it->second->stalled_since <= since) Close(*it->second);
  }
}

// /proc/self/net/unix lists every unix socket of this network namespace: "Num RefCount
// Protocol Flags Type St Inode Path"; a listening one has __SO_ACCEPTCON (0x10000) in Flags.
bool AgentListener::AdminSocketListening() const {
  std::ifstream table("/proc/self/net/unix");
  if (!table) return true;  // cannot tell: do not kill a healthy server on a guess
  std::string line;
  while (std::getline(table, line)) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() < 8 || fields[7] != admin_socket_) continue;
    uint32_t flags = 0;
    if (absl::SimpleHexAtoi(fields[3], &flags) && (flags & 0x10000) != 0) return true;
  }
  return false;
}

}  // namespace ovvoc::cp
