#pragma once

// Message authentication codes:
//  - ISO/IEC 9797-1:2011 MAC algorithm 1 (CBC-MAC) with DES (8-byte key) or TDES (16/24 bytes),
//  - ISO/IEC 9797-1:2011 MAC algorithm 3, the ANSI X9.19 "retail MAC" (16-byte key K || K'),
//  - AES-CMAC (NIST SP 800-38B, RFC 4493),
// with ISO 9797-1 padding method 1 (zeros) or 2 (0x80 then zeros), and constant-time verification.
//
//   auto mac = RetailMac(zak, message, MacPadding::kMethod1);           // 8 bytes
//   Result<void> ok = VerifyRetailMac(zak, message, mac_from_field_64);  // kMacMismatch if wrong

#include <array>
#include <cstdint>
#include <span>

#include "crypto/error.h"
#include "crypto/secret_bytes.h"

namespace sy::crypto {

// ISO/IEC 9797-1:2011 6.1.1 padding method 1 / 6.1.2 padding method 2.
enum class MacPadding { kMethod1 = 1, kMethod2 = 2 };

using Mac8 = std::array<std::uint8_t, 8>;
using Mac16 = std::array<std::uint8_t, 16>;

// ISO/IEC 9797-1 MAC algorithm 1: CBC-MAC, output transformation 1 (none). Key 8 bytes = DES,
// 16/24 bytes = TDES.
[[nodiscard]] Result<Mac8> Iso9797Alg1Mac(const SecretBytes& key,
                                          std::span<const std::uint8_t> data, MacPadding padding);

// ISO/IEC 9797-1 MAC algorithm 3 (ANSI X9.19 retail MAC): DES CBC-MAC under K, then output
// transformation 3: decrypt under K', encrypt under K. Key is 16 bytes K || K'.
[[nodiscard]] Result<Mac8> RetailMac(const SecretBytes& key, std::span<const std::uint8_t> data,
                                     MacPadding padding);

// AES-CMAC (NIST SP 800-38B 6.2, RFC 4493 2.4); key 16, 24 or 32 bytes.
[[nodiscard]] Result<Mac16> AesCmac(const SecretBytes& key, std::span<const std::uint8_t> data);

// TDES-CMAC (NIST SP 800-38B with the 64-bit block, R_64 = 0x1B); key 16 or 24 bytes. Used by
// TR-31 version B key blocks.
[[nodiscard]] Result<Mac8> TdesCmac(const SecretBytes& key, std::span<const std::uint8_t> data);

// Verifies `mac` (the leftmost 4 to 8 bytes of the retail MAC) in constant time.
[[nodiscard]] Result<void> VerifyRetailMac(const SecretBytes& key,
                                           std::span<const std::uint8_t> data,
                                           std::span<const std::uint8_t> mac,
                                           MacPadding padding = MacPadding::kMethod1);

// Verifies `mac` (the leftmost 8 to 16 bytes of the AES-CMAC) in constant time.
[[nodiscard]] Result<void> VerifyAesCmac(const SecretBytes& key, std::span<const std::uint8_t> data,
                                         std::span<const std::uint8_t> mac);

// Validates a padding method number from a user (1 or 2); kBadPaddingMethod otherwise.
[[nodiscard]] Result<MacPadding> MacPaddingFromNumber(int method);

}  // namespace sy::crypto
