// Work inside a container's network namespace from the agent.
#ifndef OVVOC_AGENT_PROCESS_NETNS_H_
#define OVVOC_AGENT_PROCESS_NETNS_H_

#include <functional>
#include <string>

#include "absl/status/status.h"

namespace ovvoc::agent {

// Runs `work` on a fresh thread that has joined the network namespace at `netns_path`
// ("/proc/PID/ns/net"); the thread ends with it, so no other thread ever changes namespace.
absl::Status RunInNetns(const std::string& netns_path, const std::function<absl::Status()>& work);

// Sets `lo` up in that namespace: test suites listen on localhost, and the registry gateway
// listens there.
absl::Status BringLoopbackUp(const std::string& netns_path);

}  // namespace ovvoc::agent

#endif  // OVVOC_AGENT_PROCESS_NETNS_H_
