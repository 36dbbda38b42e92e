#include "agent/cli/shutdown_signals.h"

#include <pthread.h>

namespace ovvoc::agent::cli {

ShutdownSignals::ShutdownSignals() {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
}

void ShutdownSignals::Watch(std::function<void(int, int)> on_signal, int max) {
  thread_ = std::thread([this, on_signal = std::move(on_signal), max] {
    for (int count = 1; count <= max; ++count) {
      int signal_number = 0;
      if (sigwait(&signals_, &signal_number) != 0 || done_) return;
      on_signal(signal_number, count);
    }
  });
}

ShutdownSignals::~ShutdownSignals() { Stop(); }

void ShutdownSignals::Stop() {
  if (!thread_.joinable()) return;
  done_ = true;
  // Wakes the thread if it still waits: the signal is blocked everywhere, so only sigwait
  // takes it, and done_ makes it a no-op.
  pthread_kill(thread_.native_handle(), SIGTERM);
  thread_.join();
}

}  // namespace ovvoc::agent::cli
