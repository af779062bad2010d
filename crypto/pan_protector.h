#pragma once

// PanProtector: how a PAN is kept at rest. AES-256-GCM with a fresh random 96-bit nonce under the
// key store's data key (the key id is bound as associated data, so a record cannot be decrypted
// under another key), and HMAC-SHA-256 under a look-up key derived from the data key, so equal
// PANs can be found without decrypting anything.
//
//   auto p = PanProtector::Create("data-1", data_key).value();
//   auto sealed = p.Seal("4761739001010010").value();   // {ciphertext, nonce, lookup_hash}
//   std::string pan = p.Open(sealed.ciphertext, sealed.nonce).value();  // caller wipes it
//
// Random nonces are safe for about 2^32 PANs per key: rotate the data key well before that.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "crypto/error.h"
#include "crypto/secret_bytes.h"

namespace sy::crypto {

class PanProtector {
 public:
  struct Sealed {
    std::string ciphertext;   // ciphertext || GCM tag
    std::string nonce;        // 12 bytes
    std::string lookup_hash;  // 32 bytes
  };

  // data_key must be 32 bytes (AES-256); kBadKeyLength otherwise.
  [[nodiscard]] static Result<PanProtector> Create(std::string key_id, const SecretBytes& data_key);

  [[nodiscard]] const std::string& key_id() const noexcept { return key_id_; }

  // kBadPan unless pan is 8 to 19 digits.
  [[nodiscard]] Result<Sealed> Seal(std::string_view pan) const;
  // kMacMismatch when the ciphertext, nonce or key id was tampered with or the key is wrong.
  [[nodiscard]] Result<std::string> Open(std::string_view ciphertext, std::string_view nonce) const;
  // The keyed hash used as a look-up key.
  [[nodiscard]] std::string LookupHash(std::string_view pan) const;

 private:
  PanProtector() = default;
  std::string key_id_;
  SecretBytes data_key_;
  SecretBytes lookup_key_;
};

}  // namespace sy::crypto
