// Registration: turns a one-time enrollment token into an agent identity.
//
// The token carries the SHA-256 pin of the control plane's CA. Before anything is sent, the
// agent opens a TLS 1.3 connection, takes the certificate chain the server presents, and
// accepts it only if it holds a CA certificate with that pin which signed the server's
// certificate for the host being dialled. That CA, and no system CA, is then the only root the
// gRPC channel trusts. The private key is generated here and never leaves the machine; only a
// CSR travels.
#ifndef OVVOC_AGENT_ENROLL_ENROLL_H_
#define OVVOC_AGENT_ENROLL_ENROLL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/config/config.h"

namespace ovvoc::agent {

// The CA certificate (PEM) the server at `server` ("HOST:PORT") proves it holds, if its SPKI
// SHA-256 equals `pin`. PermissionDenied for an impostor, Unavailable when unreachable.
absl::StatusOr<std::string> FetchPinnedCa(const std::string& server, absl::string_view pin,
                                          absl::Duration timeout = absl::Seconds(10));

struct RegisterOptions {
  std::string server;
  std::string token;
  std::string hostname;  // empty: gethostname()
};

// Enrolls and returns the identity; the caller saves it.
absl::StatusOr<AgentIdentity> Register(const RegisterOptions& options);

}  // namespace ovvoc::agent

#endif  // OVVOC_AGENT_ENROLL_ENROLL_H_
