#pragma once

// A TLS identity for the embedded demo: a self-signed certificate and its private key (ECDSA
// P-256), made once in the data directory at first start. Production configurations name their
// own certificate and key files.

#include <string>

#include "crypto/error.h"

namespace sy::crypto {

// Writes a new P-256 private key (PEM, mode 0600) and a self-signed certificate (PEM) for
// `common_name`, valid for `days` days, with 127.0.0.1 and localhost as subject alternative
// names. kCipherFailure when libcrypto or the file system refuses.
[[nodiscard]] Result<void> WriteSelfSignedCertificate(const std::string& certificate_path,
                                                      const std::string& key_path,
                                                      const std::string& common_name, int days);

}  // namespace sy::crypto
