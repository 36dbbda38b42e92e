// ShutdownSignals: SIGINT and SIGTERM for a command that runs jobs. Construct it first thing,
// before any thread exists: it blocks both signals, so every thread started later inherits the
// mask and none (gRPC's, libcurl's) is ever killed by them. Watch() then hands each arriving
// signal to a callback on a thread of its own; the destructor ends that thread.
#ifndef OVVOC_AGENT_CLI_SHUTDOWN_SIGNALS_H_
#define OVVOC_AGENT_CLI_SHUTDOWN_SIGNALS_H_

#include <signal.h>

#include <atomic>
#include <functional>
#include <thread>

namespace ovvoc::agent::cli {

class ShutdownSignals {
 public:
  ShutdownSignals();
  ~ShutdownSignals();
  ShutdownSignals(const ShutdownSignals&) = delete;
  ShutdownSignals& operator=(const ShutdownSignals&) = delete;

  // Calls `on_signal(signal_number, count)` (count 1 for the first) for up to `max` signals.
  void Watch(std::function<void(int, int)> on_signal, int max);
  // Ends the watching thread: call before what the callback touches goes away. Idempotent.
  void Stop();

 private:
  sigset_t signals_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace ovvoc::agent::cli

#endif  // OVVOC_AGENT_CLI_SHUTDOWN_SIGNALS_H_
