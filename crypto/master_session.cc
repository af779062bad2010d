#include "crypto/master_session.h"

#include "crypto/cipher.h"
#include "crypto/internal/openssl_util.h"
#include "crypto/tr31.h"

namespace sy::crypto {

Result<EncipheredKey> ExportWorkingKey(const SecretBytes& tmk, const SecretBytes& working_key) {
  if (!IsValidKeySize(KeyAlgorithm::kTdes, tmk.size()) ||
      !IsValidKeySize(KeyAlgorithm::kTdes, working_key.size())) {
    return Error::kBadKeyLength;
  }
  EncipheredKey out;
  out.size = working_key.size();
  auto kcv = TdesKcv(working_key);
  if (!kcv) {
    return kcv.error();
  }
  out.kcv = *kcv;
  if (auto r = EncryptEcb(KeyAlgorithm::kTdes, tmk, working_key.view(),
                          std::span(out.bytes).first(out.size));
      !r) {
    return r.error();
  }
  return out;
}

Result<SecretBytes> ImportWorkingKey(const SecretBytes& tmk,
                                     std::span<const std::uint8_t> enciphered_key,
                                     std::span<const std::uint8_t> expected_kcv) {
  if (!IsValidKeySize(KeyAlgorithm::kTdes, tmk.size()) ||
      !IsValidKeySize(KeyAlgorithm::kTdes, enciphered_key.size())) {
    return Error::kBadKeyLength;
  }
  if (expected_kcv.size() != 3) {
    return Error::kBadInputLength;
  }
  SecretBytes key(enciphered_key.size());
  if (auto r = DecryptEcb(KeyAlgorithm::kTdes, tmk, enciphered_key, key.mutable_view()); !r) {
    return r.error();
  }
  auto kcv = TdesKcv(key);
  if (!kcv) {
    return kcv.error();
  }
  if (!internal::ConstantTimeEqual(*kcv, expected_kcv)) {
    return Error::kKcvMismatch;  // `key` is wiped by its destructor
  }
  return key;
}

Result<SessionKeys> ImportSessionKeys(const SecretBytes& tmk, std::span<const std::uint8_t> pin_key,
                                      std::span<const std::uint8_t> pin_kcv,
                                      std::span<const std::uint8_t> mac_key,
                                      std::span<const std::uint8_t> mac_kcv) {
  auto pin = ImportWorkingKey(tmk, pin_key, pin_kcv);
  if (!pin) {
    return pin.error();
  }
  auto mac = ImportWorkingKey(tmk, mac_key, mac_kcv);
  if (!mac) {
    return mac.error();
  }
  return SessionKeys{std::move(*pin), std::move(*mac)};
}

namespace {

char VersionFor(KeyAlgorithm tmk_algorithm) {
  return tmk_algorithm == KeyAlgorithm::kAes ? 'D' : 'B';
}

}  // namespace

Result<std::string> WrapSessionKey(const SecretBytes& tmk, KeyAlgorithm tmk_algorithm,
                                   SessionKeyRole role, KeyAlgorithm key_algorithm,
                                   const SecretBytes& key, RandomSource& random) {
  if (!IsValidKeySize(tmk_algorithm, tmk.size()) || !IsValidKeySize(key_algorithm, key.size())) {
    return Error::kBadKeyLength;
  }
  const bool aes = key_algorithm == KeyAlgorithm::kAes;
  KeyBlockHeader header{.version = VersionFor(tmk_algorithm),
                        .usage = role == SessionKeyRole::kPin ? "P0" : (aes ? "M6" : "M3"),
                        .algorithm = aes ? 'A' : 'T',
                        .mode_of_use = role == SessionKeyRole::kPin ? 'B' : 'C',
                        .key_version = "00",
                        .exportability = 'N'};
  return WrapKeyBlock(tmk, header, key, random);
}

Result<SecretBytes> UnwrapSessionKey(const SecretBytes& tmk, KeyAlgorithm tmk_algorithm,
                                     SessionKeyRole role, std::string_view block,
                                     std::span<const std::uint8_t> expected_kcv) {
  if (!IsValidKeySize(tmk_algorithm, tmk.size())) {
    return Error::kBadKeyLength;
  }
  if (block.empty() || block[0] != VersionFor(tmk_algorithm)) {
    return Error::kKeyBlockUnsupported;  // a TDES TMK protects version B blocks, AES version D
  }
  const char algorithm = block.size() > 7 ? block[7] : 0;
  std::string_view usage;
  if (role == SessionKeyRole::kPin) {
    usage = "P0";
  } else {
    usage = algorithm == 'A' ? "M6" : "M3";
  }
  auto unwrapped = UnwrapKeyBlock(
      tmk, block, {.usage = usage, .modes = role == SessionKeyRole::kPin ? "EDB" : "CGV"});
  if (!unwrapped) {
    return unwrapped.error();
  }
  if (algorithm != 'A' && algorithm != 'T') {
    return Error::kKeyBlockAttributeMismatch;
  }
  const KeyAlgorithm key_algorithm = algorithm == 'A' ? KeyAlgorithm::kAes : KeyAlgorithm::kTdes;
  if (!IsValidKeySize(key_algorithm, unwrapped->key.size())) {
    return Error::kBadKeyLength;
  }
  if (!expected_kcv.empty()) {
    auto kcv =
        key_algorithm == KeyAlgorithm::kAes ? AesKcv(unwrapped->key) : TdesKcv(unwrapped->key);
    if (!kcv) {
      return kcv.error();
    }
    if (!internal::ConstantTimeEqual(*kcv, expected_kcv)) {
      return Error::kKcvMismatch;
    }
  }
  return std::move(unwrapped->key);
}

}  // namespace sy::crypto
