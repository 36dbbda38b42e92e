// ovvoc-init: PID 1 of a job container.
//
// The agent runs each phase with `exec` into the container; this process only has to exist and
// reap. Every process whose parent dies is reparented to PID 1, so without a reaper zombies of
// an untrusted build would pile up against the pids limit. Contract: reap every child, exit 0
// on SIGTERM or SIGINT, never exit otherwise. Built with `gcc -static`; no dependencies.
//
// The signals are blocked and taken with sigwaitinfo(), not caught: PID 1 of a PID namespace
// gets no default-action signals from inside it, and a blocked signal stays pending either way.
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void ReapAll(void) {
  for (;;) {
    pid_t pid = waitpid(-1, NULL, WNOHANG);
    if (pid > 0) continue;
    if (pid < 0 && errno == EINTR) continue;
    return;  // 0: children left but none exited; -1/ECHILD: no children at all.
  }
}

int main(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) return 1;

  // A timeout rather than a bare wait: SIGCHLDs coalesce, and a periodic sweep costs nothing.
  const struct timespec sweep = {.tv_sec = 30, .tv_nsec = 0};
  for (;;) {
    int sig = sigtimedwait(&set, NULL, &sweep);
    if (sig == SIGTERM || sig == SIGINT) {
      ReapAll();
      return 0;
    }
    ReapAll();  // SIGCHLD, timeout (EAGAIN) or EINTR.
  }
}
