// TLS 1.3 only, for gRPC's TLS clients: the agent, and tests and benchmarks that act as one.
// (The control plane does not use gRPC's TLS: its agent port is its own OpenSSL front,
// control-plane/server/listener.h, held to TLS 1.3 there.)
//
// gRPC 1.51 has no public API for a minimum TLS version. It does read the TLS 1.2 cipher list
// from GRPC_SSL_CIPHER_SUITES when it first initialises. Our keys are EC P-256, so restricting
// that list to an RSA-authenticated suite leaves TLS 1.2 with nothing to negotiate, while
// TLS 1.3 suites (configured separately by OpenSSL) are unaffected. tests/integration proves it
// with a TLS 1.2 client that is refused.
#ifndef OVVOC_COMMON_TLS_H_
#define OVVOC_COMMON_TLS_H_

namespace ovvoc::tls {

// Call first thing in main(), before anything touches gRPC.
void RestrictGrpcToTls13();

}  // namespace ovvoc::tls

#endif  // OVVOC_COMMON_TLS_H_
