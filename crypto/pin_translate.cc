#include "crypto/pin_translate.h"

#include "crypto/cipher.h"

namespace sy::crypto {

Result<PinBlock> TranslatePin(PinBlockFormat source_format, const SecretBytes& source_key,
                              std::span<const std::uint8_t> block, std::string_view pan,
                              const SecretBytes& zpk) {
  if (!IsValidKeySize(KeyAlgorithm::kTdes, zpk.size())) {
    return Error::kBadKeyLength;
  }
  // `pin` is a SecretBytes: wiped when this function returns, on every path.
  auto pin = DecipherPinBlock(source_format, source_key, block, pan);
  if (!pin) {
    return pin.error();
  }
  // Format 0 uses no random fill; SystemRandom is never consulted.
  return EncipherPinBlock(PinBlockFormat::kIso0, zpk, *pin, pan, SystemRandom());
}

Result<PinBlock> TranslatePinFromTdesDukpt(TdesDukptHostCache& cache, const SecretBytes& bdk,
                                           std::span<const std::uint8_t> ksn,
                                           PinBlockFormat source_format,
                                           std::span<const std::uint8_t> block,
                                           std::string_view pan, const SecretBytes& zpk) {
  if (source_format == PinBlockFormat::kIso4) {
    return Error::kUnsupportedPinFormat;  // format 4 needs an AES key
  }
  auto key = cache.WorkingKey(bdk, ksn, TdesDukptVariant::kPin);
  if (!key) {
    return key.error();
  }
  return TranslatePin(source_format, *key, block, pan, zpk);
}

Result<PinBlock> TranslatePinFromAesDukpt(AesDukptHostCache& cache, const SecretBytes& bdk,
                                          std::span<const std::uint8_t> ksn,
                                          PinBlockFormat source_format,
                                          std::span<const std::uint8_t> block, std::string_view pan,
                                          const SecretBytes& zpk, AesDukptKeyType pek_type) {
  const bool aes_type = pek_type == AesDukptKeyType::kAes128 ||
                        pek_type == AesDukptKeyType::kAes192 ||
                        pek_type == AesDukptKeyType::kAes256;
  if ((source_format == PinBlockFormat::kIso4) != aes_type) {
    return Error::kKeyTypeNotAllowed;  // format 4 needs an AES key, formats 0/1/3 a TDES key
  }
  auto key = cache.WorkingKey(bdk, ksn, AesDukptKeyUsage::kPinEncryption, pek_type);
  if (!key) {
    return key.error();
  }
  return TranslatePin(source_format, *key, block, pan, zpk);
}

}  // namespace sy::crypto
