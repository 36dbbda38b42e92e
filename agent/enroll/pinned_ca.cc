// FetchPinnedCa: a raw OpenSSL TLS 1.3 handshake to learn (and check) the server's CA.
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/enroll/enroll.h"
#include "common/pki.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"

namespace ovvoc::agent {
namespace {

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};

absl::Status SplitHostPort(const std::string& server, std::string& host, std::string& port) {
  auto colon = server.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == server.size()) {
    return absl::InvalidArgumentError(absl::StrCat("--server \"", server, "\" must be HOST:PORT"));
  }
  host = server.substr(0, colon);
  port = server.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return absl::OkStatus();
}

// Connects with a timeout to the first address of `host`:`port` that answers.
absl::StatusOr<int> Connect(const std::string& host, const std::string& port,
                            absl::Duration timeout) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", host, ": ", gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, ::freeaddrinfo);
  std::string last_error = "no address";
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last_error = std::strerror(errno);
      ::close(fd);
      continue;
    }
    pollfd p{fd, POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof err;
    if (::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) != 1 ||
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      last_error = err != 0 ? std::strerror(err) : "timed out";
      ::close(fd);
      continue;
    }
    // Back to blocking with timeouts for the handshake.
    timeval tv{static_cast<time_t>(absl::ToInt64Seconds(timeout)), 0};
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
  }
  return absl::UnavailableError(
      absl::StrCat("cannot connect to ", host, ":", port, ": ", last_error));
}

std::string OpenSslError() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "handshake failed";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

// The server's certificate chain from a TLS 1.3 handshake that verifies nothing itself.
absl::StatusOr<std::vector<pki::Certificate>> PeerChain(int fd, const std::string& host) {
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return absl::InternalError("SSL_CTX_new failed");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);  // checked below against the pin
  std::unique_ptr<SSL, SslFree> ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd);
  SSL_set_tlsext_host_name(ssl.get(), host.c_str());
  SSL_set_alpn_protos(ssl.get(), reinterpret_cast<const unsigned char*>("\x02h2"), 3);
  if (SSL_connect(ssl.get()) != 1) {
    return absl::UnavailableError(
        absl::StrCat("TLS 1.3 handshake with ", host, " failed: ", OpenSslError()));
  }
  std::vector<pki::Certificate> chain;
  STACK_OF(X509)* peer = SSL_get_peer_cert_chain(ssl.get());  // leaf first
  for (int i = 0; peer != nullptr && i < sk_X509_num(peer); ++i) {
    X509* cert = sk_X509_value(peer, i);
    unsigned char* der = nullptr;
    int len = i2d_X509(cert, &der);
    if (len <= 0) continue;
    absl::StatusOr<pki::Certificate> parsed = pki::Certificate::FromDer(
        std::string(reinterpret_cast<char*>(der), static_cast<size_t>(len)));
    OPENSSL_free(der);
    if (parsed.ok()) chain.push_back(*std::move(parsed));
  }
  SSL_shutdown(ssl.get());
  if (chain.empty()) return absl::UnavailableError("the server presented no certificate");
  return chain;
}

bool CertificateMatchesHost(const pki::Certificate& cert, const std::string& host) {
  return X509_check_host(cert.get(), host.c_str(), host.size(), 0, nullptr) == 1 ||
         X509_check_ip_asc(cert.get(), host.c_str(), 0) == 1;
}

}  // namespace

absl::StatusOr<std::string> FetchPinnedCa(const std::string& server, absl::string_view pin,
                                          absl::Duration timeout) {
  std::string host, port;
  OVVOC_RETURN_IF_ERROR(SplitHostPort(server, host, port));
  OVVOC_ASSIGN_OR_RETURN(int raw_fd, Connect(host, port, timeout));
  UniqueFd fd(raw_fd);
  OVVOC_ASSIGN_OR_RETURN(std::vector<pki::Certificate> chain, PeerChain(fd.get(), host));

  const pki::Certificate& leaf = chain.front();
  const absl::Time now = absl::Now();
  for (const pki::Certificate& candidate : chain) {
    if (candidate.SpkiSha256() != pin) continue;
    if (absl::Status s = leaf.VerifySignedBy(candidate, now); !s.ok()) {
      return absl::PermissionDeniedError(absl::StrCat(
          "the server at ", server, " presents the pinned CA but a certificate it did not sign: ",
          s.message(), "; refusing to enroll"));
    }
    if (!CertificateMatchesHost(leaf, host)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "the control plane's certificate is not valid for \"", host,
          "\"; dial a name it was initialised with, or re-run `ovvoc-control-plane init` with "
          "--san ",
          host));
    }
    return candidate.ToPem();
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "the server at ", server,
      " is not the control plane this token was issued by (its CA does not match the token's "
      "pin); refusing to enroll"));
}

}  // namespace ovvoc::agent
