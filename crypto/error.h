#pragma once

// Errors of the crypto module: one enum registered as the error category "sy.crypto". Every
// message says why an operation failed and never contains key, PIN, PAN or PIN block bytes.

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <type_traits>

namespace sy::crypto {

enum class Error : int {
  kBadKeyLength = 1,        // a key whose length the algorithm does not accept
  kBadInputLength,          // data that is not a whole number of cipher blocks, or the wrong size
  kBadHex,                  // hex text with an odd length or a non-hex character
  kCipherFailure,           // libcrypto refused an operation (should not happen with valid input)
  kBadPinLength,            // a PIN shorter than 4 or longer than 12 digits
  kBadPinDigit,             // a PIN with a character other than 0-9
  kBadPan,                  // a PAN that is not 8 to 19 decimal digits
  kUnsupportedPinFormat,    // a PIN block format this module does not implement
  kPinBlockFormatMismatch,  // control field names another format, or fill the format forbids
  kPinBlockPanMismatch,     // the block does not decode under this PAN
  kBadPaddingMethod,        // an ISO 9797-1 padding method other than 1 or 2
  kBadMacLength,            // a MAC to verify that is shorter or longer than allowed
  kMacMismatch,             // the MAC does not verify
  kBadKsnLength,            // a KSN of the wrong length for the DUKPT scheme
  kKsnCounterZero,          // a KSN whose transaction counter is zero (the initial key's own KSN)
  kKsnCounterExhausted,  // a KSN counter with more one-bits than the scheme allows, or past its end
  kKeyTypeNotAllowed,    // a working key type stronger than its derivation key, or not allowed
  kKcvMismatch,          // a key whose check value differs from the expected one
  kBadKeyUsage,          // a key used for something its usage does not allow
  kBadKeyBlock,          // a TR-31 key block with a malformed header, length or payload
  kKeyBlockUnsupported,  // a TR-31 version or feature (optional blocks) not implemented
  kKeyBlockMacMismatch,  // a TR-31 key block whose MAC does not verify
  kKeyBlockAttributeMismatch,  // a TR-31 header whose usage, algorithm, mode or export is refused
  kBadKeyFile,                 // a key file line that is not <id> <kind> <kcv> <key block>
  kUnknownKeyId,               // no key with this id in the key store
};

// The category named "sy.crypto"; message(ev) gives one sentence per Error value.
const boost::system::error_category& CryptoCategory() noexcept;

inline boost::system::error_code make_error_code(Error e) noexcept {
  return {static_cast<int>(e), CryptoCategory()};
}

template <class T>
using Result = boost::system::result<T>;

// The first and last enumerators, for tests that walk every value.
inline constexpr Error kFirstError = Error::kBadKeyLength;
inline constexpr Error kLastError = Error::kUnknownKeyId;

}  // namespace sy::crypto

template <>
struct boost::system::is_error_code_enum<sy::crypto::Error> : std::true_type {};
