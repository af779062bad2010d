#pragma once

// The key-derivation path shared by TDES (ANSI X9.24-1:2009 A.3) and AES (ANSI X9.24-3:2017 6.1)
// DUKPT: the key for counter c is derived from the key for c with its lowest one-bit cleared,
// down to the initial key at counter 0. A host walks the path from the most significant one-bit.
// PathCache remembers the keys along the last path so that the next counter of the same terminal
// (which almost always shares a prefix) costs one or two derivation steps instead of up to 16.

#include <array>
#include <bit>
#include <cstdint>

#include "crypto/error.h"
#include "crypto/secret_bytes.h"

namespace sy::crypto::internal {

class PathCache {
 public:
  static constexpr int kMaxDepth = 16;

  // Derives the key for `counter` (nonzero, at most kMaxDepth one-bits) from `root`, reusing the
  // cached path when it starts the same way. `step(parent, prefix)` derives the child key for the
  // counter prefix `prefix`. `root_changed` discards the cache (another initial key).
  template <class Step>
  [[nodiscard]] Result<SecretBytes> Derive(const SecretBytes& root, std::uint32_t counter,
                                           bool root_changed, Step&& step) {
    if (root_changed) {
      Clear();
    }
    std::array<std::uint32_t, kMaxDepth> prefixes{};
    int depth = 0;
    std::uint32_t prefix = 0;
    for (int bit = 31; bit >= 0; --bit) {
      const std::uint32_t mask = std::uint32_t{1} << bit;
      if ((counter & mask) != 0) {
        if (depth == kMaxDepth) {
          return Error::kKsnCounterExhausted;
        }
        prefix |= mask;
        prefixes[depth++] = prefix;
      }
    }
    int reuse = 0;
    while (reuse < depth && reuse < depth_ && prefixes_[reuse] == prefixes[reuse]) {
      ++reuse;
    }
    for (int i = reuse; i < depth; ++i) {
      const SecretBytes& parent = i == 0 ? root : keys_[i - 1];
      auto child = step(parent, prefixes[i]);
      if (!child) {
        Clear();
        return child.error();
      }
      keys_[i] = std::move(*child);
      prefixes_[i] = prefixes[i];
      depth_ = i + 1;
    }
    for (int i = depth; i < depth_; ++i) {
      keys_[i].Wipe();
    }
    depth_ = depth;
    return depth == 0 ? root.Clone() : keys_[depth - 1].Clone();
  }

  void Clear() noexcept {
    for (auto& k : keys_) {
      k.Wipe();
    }
    depth_ = 0;
  }

 private:
  std::array<std::uint32_t, kMaxDepth> prefixes_{};
  std::array<SecretBytes, kMaxDepth> keys_;
  int depth_ = 0;
};

}  // namespace sy::crypto::internal
