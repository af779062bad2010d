#pragma once

// SHA-256 (FIPS 180-4), for fingerprints that must not reveal what they fingerprint: the switch
// keeps the digest of a request frame, never the frame, to recognize an exact retransmission.
//
//   std::array<std::uint8_t, 32> d = sy::crypto::Sha256(bytes);

#include <array>
#include <cstdint>
#include <span>

namespace sy::crypto {

[[nodiscard]] std::array<std::uint8_t, 32> Sha256(std::span<const std::uint8_t> data);

}  // namespace sy::crypto
