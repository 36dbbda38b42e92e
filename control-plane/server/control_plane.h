// ControlPlane: the running `serve` process. Opens the store and the CA from the data dir and
// serves AgentService on the TCP address (TLS 1.3, client certificates checked per call) and
// AdminService on DATA_DIR/admin.sock. A background loop requeues jobs whose lease expired.
// Leases, parked polls, certificates and the audit log go by `clock` (the real one in `serve`).
#ifndef OVVOC_CONTROL_PLANE_SERVER_CONTROL_PLANE_H_
#define OVVOC_CONTROL_PLANE_SERVER_CONTROL_PLANE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "control-plane/server/options.h"

namespace ovvoc::cp {

class ControlPlane {
 public:
  // `clock` must outlive the control plane.
  static absl::StatusOr<std::unique_ptr<ControlPlane>> Start(const ServerOptions& options,
                                                             const Clock& clock);
  virtual ~ControlPlane() = default;

  // The TCP port AgentService is bound to (useful with port 0).
  virtual int port() const = 0;
  // OK while serving; once a listener failed for good, why (the process should then exit
  // non-zero so that its supervisor restarts it). Non-blocking.
  virtual absl::Status Health() = 0;
  // Answers waiting polls, stops both servers (in-flight calls get a few seconds) and the
  // background loop. Idempotent.
  virtual void Shutdown() = 0;
};

}  // namespace ovvoc::cp

#endif  // OVVOC_CONTROL_PLANE_SERVER_CONTROL_PLANE_H_
