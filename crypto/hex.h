#pragma once

// Hex text <-> bytes, for keys and blocks that travel as hex (KSN in field 62, CLI arguments).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/error.h"
#include "crypto/secret_bytes.h"

namespace sy::crypto {

// Upper-case hex of `bytes`.
[[nodiscard]] std::string ToHex(std::span<const std::uint8_t> bytes);
// Decodes hex (either case); kBadHex on an odd length or a non-hex character.
[[nodiscard]] Result<std::vector<std::uint8_t>> FromHex(std::string_view hex);
// Decodes hex straight into SecretBytes, so clear key bytes never sit in an unwiped vector.
[[nodiscard]] Result<SecretBytes> SecretFromHex(std::string_view hex);

}  // namespace sy::crypto
