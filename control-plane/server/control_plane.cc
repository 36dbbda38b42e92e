#include "control-plane/server/control_plane.h"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>
#include <malloc.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/clock.h"
#include "common/crypto.h"
#include "common/executor.h"
#include "common/files.h"
#include "common/job_text.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "control-plane/audit/audit.h"
#include "control-plane/ca/authority.h"
#include "control-plane/forge_tokens/forge_tokens.h"
#include "control-plane/queue/lease.h"
#include "control-plane/server/admin_service.h"
#include "control-plane/server/agent_service.h"
#include "control-plane/server/dispatcher.h"
#include "control-plane/server/listener.h"
#include "control-plane/store/sqlite/sqlite_store.h"

namespace ovvoc::cp {
namespace {

// Enrollments waiting for the store: a handful is plenty for real registrations, and a flood of
// them is refused at once instead of queued.
constexpr size_t kEnrollQueue = 64;
constexpr int kEnrollsPerHost = 4;
// How often refusals counted in memory are written to the audit log.
constexpr absl::Duration kRefusalFlushInterval = absl::Seconds(2);
// HTTP/2 streams one agent connection may have open: an agent needs three at most (a poll, a
// heartbeat, a result). Each may be buffering a message of up to kMaxAgentMessageBytes before any
// handler (or authentication) sees it, so this times that is what one connection can pin.
constexpr int kMaxStreamsPerConnection = 8;
// (The largest message an agent may send is kMaxAgentMessageBytes, common/job_text.h: whatever
// arrives is bounded again before it is stored.)

// Held for the life of `serve` so that two servers never share a data dir (and its socket).
absl::StatusOr<int> LockDataDir(const DataDir& dir) {
  std::string path = dir.root + "/serve.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return absl::PermissionDeniedError(absl::StrCat("cannot open ", path));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat("another ovvoc-control-plane is already serving ", dir.root));
  }
  return fd;
}

absl::StatusOr<std::unique_ptr<Store>> OpenConfiguredStore(const ServerOptions& options) {
  if (options.store_url.empty()) return OpenSqliteStore(options.data_dir.store_db());
  return OpenStore(options.store_url);
}

class ControlPlaneImpl final : public ControlPlane {
 public:
  ControlPlaneImpl(const ServerOptions& options, const Clock& clock, int lock_fd,
                   std::unique_ptr<Store> store, std::unique_ptr<CertificateAuthority> ca,
                   std::unique_ptr<ForgeTokenSource> forge_tokens)
      : options_(options),
        clock_(clock),
        lock_fd_(lock_fd),
        store_(std::move(store)),
        ca_(std::move(ca)),
        forge_tokens_(std::move(forge_tokens)),
        audit_(*store_, clock_),
        auth_(*ca_, peers_, refusals_, clock_),
        agent_calls_(options.max_calls_per_agent),
        agent_polls_(options.max_polls_per_agent),
        enroll_hosts_(kEnrollsPerHost),
        dispatcher_(clock_),
        ctx_{options_,          *store_,        *ca_,          audit_,
             dispatcher_,       executor_,      enroll_executor_, *forge_tokens_,
             clock_,            auth_,          agent_calls_,  agent_polls_,
             enroll_hosts_},
        agent_service_(ctx_),
        admin_service_(ctx_),
        enroll_executor_(1, kEnrollQueue),
        executor_(options.executor_threads, options.max_queued_calls) {}

  ~ControlPlaneImpl() override {
    Shutdown();
    ::close(lock_fd_);
  }

  absl::Status StartServers() {
    OVVOC_ASSIGN_OR_RETURN(listener_, AgentListener::Bind(options_.listen));
    port_ = listener_->port();
    grpc::ServerBuilder agent_builder;
    // Plaintext: only the TLS front (server/listener.h) can reach this server, over socket
    // pairs it makes, and it tells Authenticator who is behind each.
    std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor =
        agent_builder.experimental().AddExternalConnectionAcceptor(
            grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD,
            grpc::InsecureServerCredentials());
    agent_builder.RegisterService(&agent_service_);
    // A connection that carries no call for a while is closed: idle sockets are what an
    // attacker would hold to starve agents. An agent always has a poll or a heartbeat going,
    // far more often than this. (The front bounds the TLS handshake.)
    agent_builder.AddChannelArgument(
        GRPC_ARG_MAX_CONNECTION_IDLE_MS,
        static_cast<int>(absl::ToInt64Milliseconds(options_.idle_timeout)));
    agent_builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, kMaxStreamsPerConnection);
    agent_builder.SetMaxReceiveMessageSize(static_cast<int>(kMaxAgentMessageBytes));
    // Every connection is replaced now and then (agents reconnect on their own; a call in
    // progress gets the grace to finish), so nothing an anonymous caller opens lives forever,
    // not even a call it never finishes sending.
    agent_builder.AddChannelArgument(
        GRPC_ARG_MAX_CONNECTION_AGE_MS,
        static_cast<int>(absl::ToInt64Milliseconds(options_.connection_max_age)));
    agent_builder.AddChannelArgument(
        GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
        static_cast<int>(absl::ToInt64Milliseconds(options_.poll_hold + absl::Seconds(30))));
    // What all agent connections together may buffer: past it gRPC sheds connections rather
    // than let partly sent messages take the machine's memory.
    grpc::ResourceQuota quota("agent-connections");
    quota.Resize(options_.connection_memory_mib << 20);
    agent_builder.SetResourceQuota(quota);
    agent_builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    agent_builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
    agent_server_ = agent_builder.BuildAndStart();
    if (agent_server_ == nullptr) {
      return absl::UnavailableError(absl::StrCat("cannot serve on ", options_.listen));
    }

    const std::string socket = options_.data_dir.admin_socket();
    ::unlink(socket.c_str());  // a stale socket of a crashed server; the lock proves it is ours
    grpc::ServerBuilder admin_builder;
    admin_builder.AddListeningPort(absl::StrCat("unix:", socket),
                                   grpc::InsecureServerCredentials());
    admin_builder.RegisterService(&admin_service_);
    admin_server_ = admin_builder.BuildAndStart();
    if (admin_server_ == nullptr)
      return absl::UnavailableError(absl::StrCat("cannot bind ", socket));
    if (::chmod(socket.c_str(), 0600) != 0) {
      return absl::PermissionDeniedError(absl::StrCat("cannot chmod ", socket));
    }
    AgentListener::Limits limits;
    limits.max_connections = options_.max_connections;
    limits.max_per_host = options_.max_connections_per_host;
    limits.handshake_timeout = options_.handshake_timeout;
    limits.write_stall_timeout = options_.write_stall_timeout;
    AgentListener::Callbacks callbacks;
    callbacks.on_fatal = [this](const absl::Status& why) { Fail(why); };
    callbacks.on_refused = [this](const std::string& host, const absl::Status& why) {
      refusals_.Count({absl::StrCat("anonymous@", host), "connection.refused", "HTTP/2",
                       std::string(why.message()), ""},
                      clock_.Now());
    };
    OVVOC_RETURN_IF_ERROR(listener_->Start(
        std::move(acceptor),
        {ca_->server_key_pem(), ca_->server_chain_pem(), ca_->ca_pem()}, limits, peers_,
        socket, std::move(callbacks)));
    reaper_ = std::thread([this] { ReapLoop(); });
    return absl::OkStatus();
  }

  int port() const override { return port_; }

  absl::Status Health() override {
    absl::MutexLock lock(&mu_);
    return failure_;
  }

  void Shutdown() override {
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      stopping_ = true;
      stopped_ = true;
    }
    if (reaper_.joinable()) reaper_.join();
    if (listener_) listener_->Stop();
    dispatcher_.Shutdown();  // idle polls answer "no job" at once
    const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(5);
    if (agent_server_) agent_server_->Shutdown(deadline);
    if (admin_server_) admin_server_->Shutdown(deadline);
    ::unlink(options_.data_dir.admin_socket().c_str());
  }

 private:
  // A listener failed for good: Health() says why, so that `serve` exits non-zero and its
  // supervisor starts a new process instead of this one running deaf.
  void Fail(const absl::Status& why) {
    log::Error("%s; stopping so that a supervisor can restart the control plane", why.message());
    absl::MutexLock lock(&mu_);
    if (failure_.ok()) failure_ = why;
  }

  // Requeues (or fails) jobs whose agent stopped heartbeating, and writes what was refused
  // since the last flush to the audit log.
  void ReapLoop() {
    absl::MutexLock lock(&mu_);
    absl::Time next_flush = clock_.Now() + kRefusalFlushInterval;
    while (!clock_.AwaitWithDeadline(mu_, absl::Condition(&stopping_),
                                     clock_.Now() + options_.reap_interval)) {
      mu_.Unlock();
      ReapExpiredLeases();
      if (const absl::Time now = clock_.Now(); now >= next_flush) {
        refusals_.Flush(audit_, now);
        next_flush = now + kRefusalFlushInterval;
        // Hand freed heap back to the system rather than keep a flood's peak.
        ::malloc_trim(0);
      }
      mu_.Lock();
    }
    mu_.Unlock();
    refusals_.Flush(audit_, clock_.Now(), /*final=*/true);
    mu_.Lock();
  }

  void ReapExpiredLeases() {
    const absl::Time now = clock_.Now();
    absl::StatusOr<std::vector<std::string>> expired = store_->ExpiredLeases(now);
    if (!expired.ok()) {
      log::Error("cannot look for expired leases: %s", expired.status().ToString());
      return;
    }
    for (const std::string& id : *expired) {
      queue::ExpireOutcome outcome = queue::ExpireOutcome::kNotExpired;
      absl::StatusOr<JobRecord> job = store_->UpdateJob(id, [&](JobRecord& j) {
        outcome = queue::ExpireIfDue(j, now);
        return absl::OkStatus();
      });
      if (!job.ok() || outcome == queue::ExpireOutcome::kNotExpired) continue;
      log::Warning("job %s: %s", id, job->status_reason);
      audit_.Record({"system",
                     "job.lease.expire",
                     id,
                     {{"attempt", job->attempt}, {"state", ovvoc::v1::JobState_Name(job->state)}}});
      if (outcome == queue::ExpireOutcome::kRequeued) dispatcher_.Notify(job->org_id, job->pool);
    }
  }

  const ServerOptions options_;
  const Clock& clock_;
  const int lock_fd_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<CertificateAuthority> ca_;
  std::unique_ptr<ForgeTokenSource> forge_tokens_;
  StoreAuditLog audit_;
  RefusalLog refusals_;
  PeerDirectory peers_;
  Authenticator auth_;
  CallLimiter agent_calls_;
  CallLimiter agent_polls_;
  CallLimiter enroll_hosts_;
  Dispatcher dispatcher_;
  ServiceContext ctx_;
  AgentServiceImpl agent_service_;
  AdminServiceImpl admin_service_;
  std::unique_ptr<AgentListener> listener_;
  std::unique_ptr<grpc::Server> agent_server_;
  std::unique_ptr<grpc::Server> admin_server_;
  int port_ = 0;
  std::thread reaper_;
  // Last, so they are destroyed first: they run what the shutdown queued while everything
  // those tasks touch is still alive.
  Executor enroll_executor_;
  Executor executor_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

namespace {

// "nobody (uid 65534)", or "uid 1234" for a uid without a name.
std::string DescribeUid(uid_t uid) {
  struct passwd entry {};
  struct passwd* found = nullptr;
  char buffer[4096];
  if (::getpwuid_r(uid, &entry, buffer, sizeof buffer, &found) == 0 && found != nullptr) {
    return absl::StrCat(found->pw_name, " (uid ", uid, ")");
  }
  return absl::StrCat("uid ", uid);
}

// The data dir will hold the CA key: whoever else owns it, or may write in it, or may repoint
// it, holds the CA. A missing one is created 0700 by `init`; an existing one must be a real
// directory of the user running `init` that no one else may write in. Read and search bits for
// group and other (a `mkdir` under umask 022) are taken away by `init` itself.
absl::Status CheckDataDirForInit(const std::string& root) {
  struct stat st {};
  if (::lstat(root.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return absl::PermissionDeniedError(
        absl::StrCat("cannot inspect ", root, ": ", std::strerror(errno)));
  }
  if (S_ISLNK(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        root, " is a symbolic link; give the directory it points to as --data-dir, or a new path: "
              "the data dir holds the CA key and must not be a link someone could repoint"));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(root, " exists and is not a directory"));
  }
  if (st.st_uid != ::geteuid()) {
    return absl::FailedPreconditionError(absl::StrCat(
        root, " is owned by ", DescribeUid(st.st_uid), ", not by ", DescribeUid(::geteuid()),
        " who runs init; its owner could read or replace the CA key. Give a new path as "
        "--data-dir, or have its owner hand it over (chown) first"));
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s is writable by its group or by others (mode %04o): they could have placed files in "
        "it. Give a new path as --data-dir, or `chmod 700` it and check what it holds first",
        root, st.st_mode & 07777));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status InitDataDir(const DataDir& dir, const std::vector<std::string>& extra_names) {
  OVVOC_RETURN_IF_ERROR(CheckDataDirForInit(dir.root));
  const CaFiles ca_files = CaFiles::In(dir.root);
  if (files::Exists(ca_files.ca_key)) {
    return absl::AlreadyExistsError(
        absl::StrCat(dir.root, " is already initialised (it holds ca.key); refusing to overwrite"));
  }
  OVVOC_RETURN_IF_ERROR(files::EnsureDir(dir.root, 0700));  // 0700 also when it existed
  OVVOC_RETURN_IF_ERROR(CertificateAuthority::Create(ca_files, extra_names, absl::Now()));
  OVVOC_RETURN_IF_ERROR(
      files::WriteFileAtomic(dir.master_key(), crypto::HexEncode(crypto::RandomBytes(32)), 0600));
  OVVOC_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, OpenSqliteStore(dir.store_db()));
  store.reset();
  for (std::string suffix : {"", "-wal", "-shm"}) {
    std::string path = dir.store_db() + suffix;
    if (files::Exists(path)) ::chmod(path.c_str(), 0600);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ControlPlane>> ControlPlane::Start(const ServerOptions& options,
                                                                  const Clock& clock) {
  if (!files::Exists(CaFiles::In(options.data_dir.root).ca_key)) {
    return absl::FailedPreconditionError(absl::StrCat(
        options.data_dir.root, " is not initialised; run `ovvoc-control-plane init --data-dir ",
        options.data_dir.root, "` first"));
  }
  ::umask(077);  // the store's WAL files and the admin socket are created 0600
  OVVOC_ASSIGN_OR_RETURN(int lock_fd, LockDataDir(options.data_dir));
  auto fail = [lock_fd](absl::Status s) {
    ::close(lock_fd);
    return s;
  };
  absl::StatusOr<std::unique_ptr<Store>> store = OpenConfiguredStore(options);
  if (!store.ok()) return fail(store.status());
  absl::StatusOr<std::unique_ptr<CertificateAuthority>> ca =
      CertificateAuthority::Load(CaFiles::In(options.data_dir.root));
  if (!ca.ok()) return fail(ca.status());
  absl::StatusOr<std::unique_ptr<ForgeTokenSource>> tokens =
      options.git_credentials_file.empty() ? NoForgeTokens()
                                           : StaticForgeTokens(options.git_credentials_file);
  if (!tokens.ok()) return fail(tokens.status());

  auto server = std::make_unique<ControlPlaneImpl>(options, clock, lock_fd, *std::move(store),
                                                   *std::move(ca), *std::move(tokens));
  OVVOC_RETURN_IF_ERROR(server->StartServers());
  return server;
}

}  // namespace ovvoc::cp
