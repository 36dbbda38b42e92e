// ovvoc-init: PID 1 of a job container.
//
// Two jobs. (1) Reap: every process whose parent dies is reparented to PID 1, so without a
// reaper zombies of an untrusted build would pile up against the pids limit. (2) Run the
// agent's commands: started as `ovvoc-init SOCKET`, it connects once, at start, to the agent's
// SOCK_SEQPACKET socket (bind-mounted read-only into the container) and runs each phase's
// command it is sent, as its own child, reporting the exit status back. Being forked from
// PID 1, a command has the container's uid, capabilities (none), no-new-privileges, seccomp
// filter and limits, exactly as an `exec` into the container would, at a fraction of the cost.
//
// Protocol (one message each way per event; the agent is the only peer):
//   agent -> init  "seccomp\0" BPF  first: the filter init installs on itself, so that every
//                  command inherits it (struct sock_filter[]; no command runs before it)
//   init -> agent  "ready"
//   agent -> init  "exec\0" CWD "\0" ARGC "\0" ARGV... ENV... , with SCM_RIGHTS [output fd]
//   init -> agent  "pid N"   once the command is started
//                  "exit N"  when it ends (N: exit code, or 128 + signal)
//                  "error MESSAGE" when it could not be started
// Contract: exit 0 on SIGTERM/SIGINT from outside the container or when the agent's connection
// closes; never otherwise. Without a SOCKET argument it only reaps. Built with `gcc -static`; no
// dependencies.
//
// The job cannot reach it (DESIGN.md section 5), though the job's commands run as its uid:
//   - it is not dumpable: its /proc/1 entries belong to root, so no job process can open
//     /proc/1/mem, /proc/1/fd/* or /proc/1/environ, nor ptrace it (seccomp denies that too);
//   - its stdio is /dev/null from its first instruction: what the runtime gave it (a pipe to
//     runc's log, dockerd's json log) is closed, so nothing written there lands on the host;
//   - SIGTERM and SIGINT count only when sent with kill(2) from outside its pid namespace
//     (SI_USER, si_pid 0); the kernel already drops every other signal a process of the
//     namespace sends to its init.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_MESSAGE 65536
#define MAX_ARGS 1024

extern char** environ;

static pid_t running = 0;  // the command in flight, if any
static int channel = -1;
static int filtered = 0;  // the agent's seccomp filter is installed: commands may run

static void Send(const char* text) {
  if (channel >= 0) send(channel, text, strlen(text), MSG_NOSIGNAL);
}

// Reaps every exited child; reports the command's own end to the agent.
static void ReapAll(void) {
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == EINTR) continue;
    if (pid <= 0) return;  // 0: children left but none exited; -1/ECHILD: none at all
    if (pid == running) {
      char line[32];
      int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      snprintf(line, sizeof line, "exit %d", code);
      Send(line);
      running = 0;
    }
  }
}

static int Connect(const char* path) {
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (fd < 0 || strlen(path) >= sizeof addr.sun_path) return -1;
  strcpy(addr.sun_path, path);
  for (int attempt = 0; attempt < 50; ++attempt) {
    if (connect(fd, (struct sockaddr*)&addr, sizeof addr) == 0) return fd;
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
  close(fd);
  return -1;
}

// The child's side of "exec": never returns.
static void RunCommand(char** fields, int count, int out, const sigset_t* blocked) {
  sigprocmask(SIG_UNBLOCK, blocked, NULL);
  setsid();
  int devnull = open("/dev/null", O_RDONLY);
  dup2(devnull, 0);
  dup2(out, 1);
  dup2(out, 2);
  if (chdir(fields[1]) != 0) {
    dprintf(2, "ovvoc-init: cannot enter %s: %s\n", fields[1], strerror(errno));
    _exit(126);
  }
  int argc = atoi(fields[2]);
  if (argc <= 0 || 3 + argc > count) _exit(126);
  static char* argv[MAX_ARGS + 1];
  static char* envp[MAX_ARGS + 1];
  for (int i = 0; i < argc && i < MAX_ARGS; ++i) argv[i] = fields[3 + i];
  argv[argc < MAX_ARGS ? argc : MAX_ARGS] = NULL;
  int envc = 0;
  for (int i = 3 + argc; i < count && envc < MAX_ARGS; ++i) envp[envc++] = fields[i];
  envp[envc] = NULL;
  environ = envp;  // execvp searches the command's own PATH
  execvp(argv[0], argv);
  dprintf(2, "ovvoc-init: cannot run %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

// Reads one request and starts its command.
static void HandleRequest(const sigset_t* blocked) {
  static char buffer[MAX_MESSAGE + 1] __attribute__((aligned(8)));
  char control[CMSG_SPACE(sizeof(int))];
  struct iovec iov = {.iov_base = buffer, .iov_len = MAX_MESSAGE};
  struct msghdr msg = {
      .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  ssize_t n = recvmsg(channel, &msg, MSG_CMSG_CLOEXEC);
  if (n <= 0) exit(0);  // the agent is gone: so is the container
  buffer[n] = '\0';
  int out = -1;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (c != NULL && c->cmsg_type == SCM_RIGHTS) memcpy(&out, CMSG_DATA(c), sizeof out);
  if (!filtered && n > 8 && memcmp(buffer, "seccomp", 8) == 0) {
    struct sock_fprog program = {.len = (unsigned short)((n - 8) / sizeof(struct sock_filter)),
                                 .filter = (struct sock_filter*)(buffer + 8)};
    if ((n - 8) % sizeof(struct sock_filter) != 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0) {
      Send("error cannot install the seccomp filter");
      exit(1);  // fail closed: no command may run unfiltered
    }
    filtered = 1;
    Send("ready");
    return;
  }
  static char* fields[2 * MAX_ARGS + 3];
  int count = 0;
  for (char* p = buffer; p < buffer + n && count < 2 * MAX_ARGS + 3; p += strlen(p) + 1) {
    fields[count++] = p;
  }
  if (!filtered || out < 0 || count < 4 || strcmp(fields[0], "exec") != 0 || running != 0) {
    Send("error malformed request");
    if (out >= 0) close(out);
    return;
  }
  pid_t pid = fork();
  if (pid == 0) RunCommand(fields, count, out, blocked);
  close(out);
  if (pid < 0) {
    Send("error fork failed");
    return;
  }
  running = pid;
  char line[32];
  snprintf(line, sizeof line, "pid %d", (int)pid);
  Send(line);
}

// Before anything else: no process of the job may read or write this one's memory or fds, and
// the runtime's stdio (a pipe whose other end writes to the host's disk) is let go.
static int Seal(void) {
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return -1;
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) return -1;
  for (int fd = 0; fd <= 2; ++fd) {
    if (dup2(null, fd) < 0) return -1;  // dup2 clears close-on-exec on the copy
  }
  if (null > 2) close(null);
  return 0;
}

int main(int argc, char** argv) {
  if (Seal() != 0) return 1;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) return 1;
  int signals = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signals < 0) return 1;
  if (argc > 1) channel = Connect(argv[1]);

  for (;;) {
    struct pollfd fds[2] = {{signals, POLLIN, 0}, {channel, POLLIN, 0}};
    // A timeout as well: SIGCHLDs coalesce, and a periodic sweep costs nothing.
    if (poll(fds, channel >= 0 ? 2 : 1, 30000) < 0 && errno != EINTR) return 1;
    if (fds[0].revents & POLLIN) {
      struct signalfd_siginfo info;
      while (read(signals, &info, sizeof info) == sizeof info) {
        // Only kill(2) from outside the namespace: there the sender's pid reads 0 (from a job
        // process, its pid). A signal the kernel raises for a job (F_SETOWN + F_SETSIG on a
        // pipe, say) also reads pid 0, but its code is not SI_USER.
        if ((info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT) && info.ssi_pid == 0 &&
            info.ssi_code == SI_USER) {
          ReapAll();
          return 0;
        }
      }
    }
    ReapAll();
    if (channel >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) HandleRequest(&set);
  }
}
