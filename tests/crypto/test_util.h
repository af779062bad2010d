#pragma once

// Helpers for the crypto tests: hex literals to bytes and keys.

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/hex.h"
#include "crypto/secret_bytes.h"

namespace sy::crypto::testing {

inline std::vector<std::uint8_t> Bytes(std::string_view hex) {
  auto b = FromHex(hex);
  EXPECT_TRUE(b.has_value()) << "bad hex literal in test";
  return b.has_value() ? *b : std::vector<std::uint8_t>{};
}

inline SecretBytes Key(std::string_view hex) {
  auto k = SecretFromHex(hex);
  EXPECT_TRUE(k.has_value()) << "bad key literal in test";
  return k.has_value() ? std::move(*k) : SecretBytes();
}

inline SecretBytes Pin(std::string_view digits) { return SecretBytes::FromString(digits).value(); }

inline std::vector<std::uint8_t> Ascii(std::string_view s) { return {s.begin(), s.end()}; }

template <class Container>
std::string Hex(const Container& c) {
  return ToHex(std::span<const std::uint8_t>(c.data(), c.size()));
}

// Clear key material as hex, for comparing with published vectors in tests only.
inline std::string KeyHex(const SecretBytes& k) { return ToHex(k.view()); }

}  // namespace sy::crypto::testing
