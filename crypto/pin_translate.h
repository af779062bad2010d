#pragma once

// PIN translation as one operation: decipher a terminal's PIN block under the terminal's key and
// re-encipher it in ISO 9564 format 0 under a zone PIN key (ZPK, TDES) for the issuer. The clear
// PIN never leaves these functions and is wiped before they return.
//
//   PinBlock out = TranslatePinFromTdesDukpt(cache, bdk, ksn, PinBlockFormat::kIso0, block, pan,
//                                            zpk).value();

#include <cstdint>
#include <span>
#include <string_view>

#include "crypto/dukpt_aes.h"
#include "crypto/dukpt_tdes.h"
#include "crypto/error.h"
#include "crypto/pin_block.h"
#include "crypto/secret_bytes.h"

namespace sy::crypto {

// From a PIN block under `source_key` (TDES for formats 0/1/3 — a session PIN key or an already
// derived DUKPT PIN variant; AES for format 4) to format 0 under `zpk` (TDES, 16 or 24 bytes).
[[nodiscard]] Result<PinBlock> TranslatePin(PinBlockFormat source_format,
                                            const SecretBytes& source_key,
                                            std::span<const std::uint8_t> block,
                                            std::string_view pan, const SecretBytes& zpk);

// TDES DUKPT terminal: derives the PIN variant of the KSN's transaction key (X9.24-1:2009 A.4.1)
// through the terminal's cache, then translates. The derived key is wiped before returning.
[[nodiscard]] Result<PinBlock> TranslatePinFromTdesDukpt(
    TdesDukptHostCache& cache, const SecretBytes& bdk, std::span<const std::uint8_t> ksn,
    PinBlockFormat source_format, std::span<const std::uint8_t> block, std::string_view pan,
    const SecretBytes& zpk);

// AES DUKPT terminal: derives the PIN encryption working key (usage 0x1000, X9.24-3:2017 6.6) of
// `pek_type` (AES for format 4 blocks; TDES types for format 0/1/3 blocks), then translates.
[[nodiscard]] Result<PinBlock> TranslatePinFromAesDukpt(
    AesDukptHostCache& cache, const SecretBytes& bdk, std::span<const std::uint8_t> ksn,
    PinBlockFormat source_format, std::span<const std::uint8_t> block, std::string_view pan,
    const SecretBytes& zpk, AesDukptKeyType pek_type = AesDukptKeyType::kAes128);

}  // namespace sy::crypto
