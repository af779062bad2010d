#pragma once

// Master/session key management: working keys (PIN and MAC) delivered to a terminal enciphered
// under its terminal master key (TMK), each with its key check value. TDES keys enciphered
// TDES-ECB under a TDES TMK (ANSI X9.17 / ISO 11568-2 key encipherment). TR-31 key blocks are the
// stronger form (see docs); this is the legacy form many terminals still use.
//
//   EncipheredKey wire = ExportWorkingKey(tmk, pin_key).value();   // to the terminal
//   SecretBytes key = ImportWorkingKey(tmk, wire.key, wire.kcv).value();

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "crypto/cipher.h"
#include "crypto/error.h"
#include "crypto/kcv.h"
#include "crypto/pin_block.h"
#include "crypto/secret_bytes.h"

namespace sy::crypto {

struct EncipheredKey {
  std::array<std::uint8_t, 24> bytes{};
  std::size_t size = 0;
  Kcv kcv{};  // TDES KCV of the clear key
  [[nodiscard]] std::span<const std::uint8_t> key() const noexcept { return {bytes.data(), size}; }
};

// Enciphers a TDES working key (16 or 24 bytes) under a TDES TMK, with the key's KCV.
[[nodiscard]] Result<EncipheredKey> ExportWorkingKey(const SecretBytes& tmk,
                                                     const SecretBytes& working_key);

// Deciphers a working key and checks it against `expected_kcv` (3 bytes): kKcvMismatch when the
// TMK or the key is not the one the sender used.
[[nodiscard]] Result<SecretBytes> ImportWorkingKey(const SecretBytes& tmk,
                                                   std::span<const std::uint8_t> enciphered_key,
                                                   std::span<const std::uint8_t> expected_kcv);

struct SessionKeys {
  SecretBytes pin_key;
  SecretBytes mac_key;
};

// Imports the PIN and MAC working keys of a key change (0810 to 001 / 101), both checked.
[[nodiscard]] Result<SessionKeys> ImportSessionKeys(const SecretBytes& tmk,
                                                    std::span<const std::uint8_t> pin_key,
                                                    std::span<const std::uint8_t> pin_kcv,
                                                    std::span<const std::uint8_t> mac_key,
                                                    std::span<const std::uint8_t> mac_kcv);

// The TR-31 form the terminal interface uses (docs: INTERFACE.md, 0810 field 48): each working key
// as a key block under the TMK — version B for a TDES TMK, version D for an AES TMK — whose header
// binds it to its role: P0 (PIN encryption, mode E/D/B) or M3 (TDES retail MAC) / M6 (AES CMAC),
// mode C/G/V. `tmk_algorithm` says which the TMK is (a 24-byte key could be either).
enum class SessionKeyRole { kPin, kMac };

[[nodiscard]] Result<std::string> WrapSessionKey(const SecretBytes& tmk, KeyAlgorithm tmk_algorithm,
                                                 SessionKeyRole role, KeyAlgorithm key_algorithm,
                                                 const SecretBytes& key, RandomSource& random);

// Unwraps a working key block and checks it is a key for `role` (kKeyBlockAttributeMismatch
// otherwise: a MAC key offered as a PIN key is refused) and, if `expected_kcv` is not empty, its
// KCV (kKcvMismatch).
[[nodiscard]] Result<SecretBytes> UnwrapSessionKey(const SecretBytes& tmk,
                                                   KeyAlgorithm tmk_algorithm, SessionKeyRole role,
                                                   std::string_view block,
                                                   std::span<const std::uint8_t> expected_kcv = {});

}  // namespace sy::crypto
