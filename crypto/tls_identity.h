#pragma once

// A TLS identity for the embedded demo: a self-signed certificate and its private key (ECDSA
// P-256), made once in the data directory at first start. Production configurations name their
// own certificate and key files.

#include <string>
#include <vector>

#include "crypto/error.h"

namespace sy::crypto {

// Writes a new P-256 private key (PEM, mode 0600) and a self-signed certificate (PEM) for
// `common_name`, valid for `days` days, with 127.0.0.1, localhost and `dns_names` as subject
// alternative names (a terminal's certificate for mutual TLS names its TID there).
// kCipherFailure when libcrypto or the file system refuses, or a name has a ',' or ':'.
[[nodiscard]] Result<void> WriteSelfSignedCertificate(
    const std::string& certificate_path, const std::string& key_path,
    const std::string& common_name, int days, const std::vector<std::string>& dns_names = {});

}  // namespace sy::crypto
