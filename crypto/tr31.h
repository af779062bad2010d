#pragma once

// TR-31 key blocks (ANSI X9.143-2022, formerly ASC X9 TR-31:2018), key derivation binding
// methods: version B (TDES key block protection key, TDES-CMAC-derived encryption and MAC keys) and
// version D (AES KBPK, AES-CMAC-derived keys). A key block carries its key's usage, algorithm, mode
// of use and exportability in a MACed header, so unwrapping enforces what the key may be used for.
//
//   KeyBlockHeader h{.version = 'D', .usage = "P0", .algorithm = 'T', .mode_of_use = 'E'};
//   std::string block = WrapKeyBlock(kbpk, h, zpk, SystemRandom()).value();
//   auto key = UnwrapKeyBlock(kbpk, block, {.usage = "P0", .algorithm = 'T', .modes = "EB"});
//
// Optional header blocks are not supported (a block announcing any is refused).

#include <string>
#include <string_view>

#include "crypto/error.h"
#include "crypto/pin_block.h"
#include "crypto/secret_bytes.h"

namespace sy::crypto {

// The fixed 16-character header (X9.143 6.2), less the length, which wrapping computes.
struct KeyBlockHeader {
  char version = 'D';        // 'B' (TDES KBPK) or 'D' (AES KBPK)
  std::string usage = "P0";  // key usage, e.g. P0 PIN encryption, M3 ISO 9797-1 alg 3 MAC,
                             // M6 CMAC, B0 BDK, K0 key encryption (TMK), D0 data encryption
  char algorithm = 'T';      // 'T' TDES, 'A' AES
  char mode_of_use = 'B';    // 'E' encrypt, 'D' decrypt, 'B' both, 'G' MAC generate,
                             // 'V' MAC verify, 'C' MAC both, 'X' key derivation, 'N' none
  std::string key_version = "00";
  char exportability = 'E';  // 'E' exportable under a KEK, 'N' non-exportable, 'S' sensitive
};

// What the caller accepts when unwrapping; empty fields accept anything.
struct KeyBlockPolicy {
  std::string_view usage;          // e.g. "P0"
  char algorithm = 0;              // 'T' or 'A'; 0 = any
  std::string_view modes;          // acceptable mode-of-use characters, e.g. "EB"
  std::string_view exportability;  // acceptable exportability characters, e.g. "EN"
};

struct UnwrappedKey {
  KeyBlockHeader header;
  SecretBytes key;
};

// Wraps `key` under `kbpk` (16/24 bytes TDES for version B; 16/24/32 bytes AES for version D).
// Padding after the key is drawn from `random` (X9.143 requires random padding; tests inject
// zeros to reproduce published blocks). Returns the key block text.
[[nodiscard]] Result<std::string> WrapKeyBlock(const SecretBytes& kbpk,
                                               const KeyBlockHeader& header, const SecretBytes& key,
                                               RandomSource& random);

// Verifies and unwraps a key block: header syntax and length, MAC (kKeyBlockMacMismatch when the
// KBPK is wrong or the block was altered), key length, then `policy`
// (kKeyBlockAttributeMismatch).
[[nodiscard]] Result<UnwrappedKey> UnwrapKeyBlock(const SecretBytes& kbpk, std::string_view block,
                                                  const KeyBlockPolicy& policy);

}  // namespace sy::crypto
