#include "common/tls.h"

#include <cstdlib>

namespace ovvoc::tls {

void RestrictGrpcToTls13() {
  // An RSA-authenticated TLS 1.2 suite, which an EC P-256 key can never serve.
  ::setenv("GRPC_SSL_CIPHER_SUITES", "ECDHE-RSA-AES256-GCM-SHA384", /*overwrite=*/1);
}

}  // namespace ovvoc::tls
