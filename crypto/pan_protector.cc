#include "crypto/pan_protector.h"

#include "crypto/internal/openssl_aead.h"
#include "crypto/internal/openssl_util.h"

namespace sy::crypto {
namespace {

std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

bool IsPan(std::string_view pan) {
  if (pan.size() < 8 || pan.size() > 19) {
    return false;
  }
  for (char c : pan) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<PanProtector> PanProtector::Create(std::string key_id, const SecretBytes& data_key) {
  if (data_key.size() != 32) {
    return make_error_code(Error::kBadKeyLength);
  }
  PanProtector p;
  p.key_id_ = std::move(key_id);
  p.data_key_ = data_key.Clone();
  // A separate key for the look-up hash, so the hash reveals nothing about the cipher key.
  p.lookup_key_ = SecretBytes(32);
  static constexpr std::string_view kLabel = "sy.pan.lookup.v1";
  internal::HmacSha256(data_key.view(), Bytes(kLabel),
                       std::span<std::uint8_t, 32>(p.lookup_key_.data(), 32));
  return p;
}

Result<PanProtector::Sealed> PanProtector::Seal(std::string_view pan) const {
  if (!IsPan(pan)) {
    return make_error_code(Error::kBadPan);
  }
  Sealed s;
  s.nonce.resize(internal::kGcmNonceSize);
  internal::RandomBytes({reinterpret_cast<std::uint8_t*>(s.nonce.data()), s.nonce.size()});
  if (!internal::Aes256GcmSeal(data_key_.view(), Bytes(s.nonce), Bytes(key_id_), Bytes(pan),
                               s.ciphertext)) {
    return make_error_code(Error::kCipherFailure);
  }
  s.lookup_hash = LookupHash(pan);
  return s;
}

Result<std::string> PanProtector::Open(std::string_view ciphertext, std::string_view nonce) const {
  std::string pan;
  if (!internal::Aes256GcmOpen(data_key_.view(), Bytes(nonce), Bytes(key_id_), Bytes(ciphertext),
                               pan)) {
    return make_error_code(Error::kMacMismatch);
  }
  return pan;
}

std::string PanProtector::LookupHash(std::string_view pan) const {
  std::string out(32, '\0');
  internal::HmacSha256(
      lookup_key_.view(), Bytes(pan),
      std::span<std::uint8_t, 32>(reinterpret_cast<std::uint8_t*>(out.data()), 32));
  return out;
}

}  // namespace sy::crypto
