#include "crypto/error.h"

#include <string>

namespace sy::crypto {
namespace {

class Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "sy.crypto"; }

  std::string message(int ev) const override {
    switch (static_cast<Error>(ev)) {
      case Error::kBadKeyLength:
        return "key length not accepted by the algorithm";
      case Error::kBadInputLength:
        return "input length is not a whole number of blocks or not the expected size";
      case Error::kBadHex:
        return "hex text has an odd length or a non-hex character";
      case Error::kCipherFailure:
        return "the cipher library refused the operation";
      case Error::kBadPinLength:
        return "PIN length outside 4 to 12 digits";
      case Error::kBadPinDigit:
        return "PIN contains a character other than 0-9";
      case Error::kBadPan:
        return "PAN is not 8 to 19 decimal digits";
      case Error::kUnsupportedPinFormat:
        return "PIN block format not supported (use ISO 9564 format 0, 1, 3 or 4)";
      case Error::kPinBlockFormatMismatch:
        return "PIN block control field or fill does not match the format";
      case Error::kPinBlockPanMismatch:
        return "PIN block PAN mismatch (or enciphered under another key)";
      case Error::kBadPaddingMethod:
        return "ISO 9797-1 padding method must be 1 or 2";
      case Error::kBadMacLength:
        return "MAC length outside the allowed range";
      case Error::kMacMismatch:
        return "MAC does not verify";
      case Error::kBadKsnLength:
        return "KSN length wrong for the DUKPT scheme";
      case Error::kKsnCounterZero:
        return "KSN counter is zero";
      case Error::kKsnCounterExhausted:
        return "KSN counter exhausted (too many one-bits or past the last valid value)";
      case Error::kKeyTypeNotAllowed:
        return "working key type not allowed for this derivation key";
      case Error::kKcvMismatch:
        return "key check value mismatch";
      case Error::kBadKeyUsage:
        return "key usage does not allow this operation";
      case Error::kBadKeyBlock:
        return "TR-31 key block malformed (header, length or payload)";
      case Error::kKeyBlockUnsupported:
        return "TR-31 key block version or optional blocks not supported";
      case Error::kKeyBlockMacMismatch:
        return "TR-31 key block MAC does not verify (wrong key block protection key or altered)";
      case Error::kKeyBlockAttributeMismatch:
        return "TR-31 key block usage, algorithm, mode of use or exportability not allowed here";
      case Error::kBadKeyFile:
        return "key file line is not '<id> <kind> <kcv> <key block>' with a known kind";
      case Error::kUnknownKeyId:
        return "no key with this id in the key store";
    }
    return "unknown sy.crypto error " + std::to_string(ev);
  }
};

}  // namespace

const boost::system::error_category& CryptoCategory() noexcept {
  static const Category category;
  return category;
}

}  // namespace sy::crypto
