#pragma once

// Key check values: the first 3 bytes (6 hex digits) of a known computation under the key, so two
// parties can confirm they hold the same key without revealing it.
//
//   Kcv kcv = TdesKcv(zpk).value();       // e.g. "08D7B4" for 0123456789ABCDEFFEDCBA9876543210
//   std::string shown = ToHex(kcv);

#include <array>
#include <cstdint>

#include "crypto/error.h"
#include "crypto/secret_bytes.h"

namespace sy::crypto {

using Kcv = std::array<std::uint8_t, 3>;

// TDES: encrypt 8 zero bytes under the key (ANSI X9.24-1:2009, "check value"), first 3 bytes.
[[nodiscard]] Result<Kcv> TdesKcv(const SecretBytes& key);

// AES: AES-CMAC of 16 zero bytes under the key, first 3 bytes (ANSI X9.24-1:2017 / X9.143 CMAC
// KCV method), the form AES key blocks and AES DUKPT key loading use.
[[nodiscard]] Result<Kcv> AesKcv(const SecretBytes& key);

// AES, legacy form: encrypt 16 zero bytes under the key (ECB), first 3 bytes.
[[nodiscard]] Result<Kcv> AesKcvLegacy(const SecretBytes& key);

}  // namespace sy::crypto
