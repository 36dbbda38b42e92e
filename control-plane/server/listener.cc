#include "control-plane/server/listener.h"

#include <dirent.h>
#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/logging.h"

namespace ovvoc::cp {
namespace {

constexpr int kBacklog = 1024;

absl::Status Errno(absl::string_view what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(errno)));
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

// One more descriptor would leave fewer than kReservedFds below the soft limit? accept4()
// returns the lowest free number, so the number it returned says how full the table is.
bool AtLimit(int fd, int max_connections) {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  const long ceiling = static_cast<long>(limit.rlim_cur) - AgentListener::kReservedFds;
  return fd >= ceiling || fd >= max_connections + AgentListener::kReservedFds;
}

// A connection we counted was closed by gRPC: its descriptor is gone, or now names another
// socket (sockets all live on one sockfs device, so the inode alone tells them apart).
bool Closed(const std::pair<int, ino_t>& connection) {
  struct stat now {};
  return ::fstat(connection.first, &now) != 0 || !S_ISSOCK(now.st_mode) ||
         now.st_ino != connection.second;
}

}  // namespace

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
    return std::unique_ptr<AgentListener>(new AgentListener(std::move(fd), port, std::move(wake)));
  }
  return last;
}

AgentListener::~AgentListener() { Stop(); }

void AgentListener::Start(std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor,
                          Limits limits, std::string admin_socket,
                          std::function<void(const absl::Status&)> on_fatal) {
  acceptor_ = std::move(acceptor);
  limits_ = limits;
  admin_socket_ = std::move(admin_socket);
  on_fatal_ = std::move(on_fatal);
  thread_ = std::thread([this] { Loop(); });
}

void AgentListener::Stop() {
  if (!thread_.joinable()) return;
  const uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
  thread_.join();
  fd_.reset();
}

void AgentListener::Loop() {
  absl::Time next_check = absl::Now() + absl::Seconds(1);
  for (;;) {
    pollfd fds[2] = {{fd_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    const int ready = ::poll(fds, 2, 1000);
    if (ready < 0 && errno != EINTR) {
      on_fatal_(Errno("poll on the agent listener"));
      return;
    }
    if (fds[1].revents != 0) return;  // Stop()
    if ((fds[0].revents & (POLLERR | POLLNVAL)) != 0) {
      on_fatal_(absl::UnavailableError("the agent listener failed"));
      return;
    }
    if ((fds[0].revents & POLLIN) != 0 && !AcceptAll()) return;
    if (absl::Now() >= next_check) {
      next_check = absl::Now() + absl::Seconds(1);
      SweepHosts();
      if (!admin_socket_.empty() && !AdminSocketListening()) {
        on_fatal_(absl::UnavailableError(
            absl::StrCat("the admin socket ", admin_socket_, " no longer listens")));
        return;
      }
    }
  }
}

bool AgentListener::AcceptAll() {
  for (;;) {
    sockaddr_storage peer{};
    socklen_t peer_length = sizeof peer;
    const int fd = ::accept4(fd_.get(), reinterpret_cast<sockaddr*>(&peer), &peer_length,
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
          on_fatal_(Errno("accept on the agent listener"));
          return false;
      }
    }
    if (AtLimit(fd, limits_.max_connections) || !AdmitHost(fd, peer)) {
      ::close(fd);
      if (refused_.fetch_add(1) % 1000 == 0) {
        log::Warning("at the connection limit: closing new connections (%llu so far)",
                     static_cast<unsigned long long>(refused_.load()));
      }
      continue;
    }
    grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters connection;
    connection.listener_fd = fd_.get();
    connection.fd = fd;
    acceptor_->HandleNewConnection(&connection);
  }
}

bool AgentListener::AdmitHost(int fd, const sockaddr_storage& peer) {
  std::string host;
  if (peer.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(peer);
    host.assign(reinterpret_cast<const char*>(&in.sin_addr), sizeof in.sin_addr);
  } else if (peer.ss_family == AF_INET6) {
    // One IPv6 host owns a whole /64 (SLAAC, privacy addresses): count the prefix, or a single
    // machine could bring 2^64 addresses. An IPv4 address mapped into IPv6 counts as itself.
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(peer);
    const bool mapped = IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr);
    const char* bytes = reinterpret_cast<const char*>(&in6.sin6_addr);
    host = mapped ? std::string(bytes + 12, 4) : std::string(bytes, 8);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  std::vector<std::pair<int, ino_t>>& open = by_host_[host];
  std::erase_if(open, [](const std::pair<int, ino_t>& c) { return Closed(c); });
  if (static_cast<int>(open.size()) >= limits_.max_per_host) return false;
  open.emplace_back(fd, st.st_ino);
  return true;
}

void AgentListener::SweepHosts() {
  for (auto it = by_host_.begin(); it != by_host_.end();) {
    std::erase_if(it->second, [](const std::pair<int, ino_t>& c) { return Closed(c); });
    if (it->second.empty()) {
      by_host_.erase(it++);
    } else {
      ++it;
    }
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
