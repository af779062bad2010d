#pragma once

// Errors of merchant onboarding: one enum registered as the error category "sy.onboarding", and
// FieldError, which names the field at fault ("settlement_account.account_number") with one
// sentence saying what is wrong. Messages never repeat the value at fault: ID, licence and
// account numbers are personal data and stay out of logs.

#include <boost/assert/source_location.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <string>
#include <type_traits>

namespace sy::server::onboarding {

enum class Error : int {
  kMissing = 1,         // a required field is empty
  kBadFormat,           // wrong length, character set or shape
  kBadCheckDigit,       // a check digit or check character does not verify
  kBadDate,             // a date (an ID number's birth date, an effective date) is impossible
  kUnknownCode,         // not in the code list (MCC, IBAN country, PRC region)
  kUnsupported,         // a valid value this path cannot take (an IBAN for a country without IBANs)
  kNameMismatch,        // an individual's settlement account is not in the applicant's name
  kOutOfRange,          // a number outside its allowed range (fee rate, cycle, amount)
  kTransitionRefused,   // the review state machine does not allow this step
  kStaleVersion,        // the application changed since the caller read it
  kReasonRequired,      // this step must say why (more information, rejection, withdrawal)
  kInvalidApplication,  // a submission or resubmission whose fields do not validate
  kUnknownBrand,        // a fee schedule without a rate for the card brand
  kNoAgreement,         // no agreement (or no fee schedule for the currency) in force on the date
  kOverflow,            // the result does not fit in int64 minor units
};

// The first and last enumerators, for tests that walk every value.
inline constexpr Error kFirstError = Error::kMissing;
inline constexpr Error kLastError = Error::kOverflow;

// The category named "sy.onboarding"; message(ev) gives one sentence per Error value.
const boost::system::error_category& OnboardingCategory() noexcept;

inline boost::system::error_code make_error_code(Error e) noexcept {
  return {static_cast<int>(e), OnboardingCategory()};
}

// One problem with one field: the rule broken, the field's path and a sentence.
struct FieldError {
  Error code = Error::kMissing;
  std::string field;    // "id_document.number", "fees[156].rates.visa"
  std::string message;  // "check character (position 18) does not match (ISO 7064 MOD 11-2)"

  // "id_document.number: check character (position 18) does not match (ISO 7064 MOD 11-2)"
  [[nodiscard]] std::string Describe() const { return field + ": " + message; }
  [[nodiscard]] boost::system::error_code error_code() const noexcept {
    return make_error_code(code);
  }
  friend bool operator==(const FieldError&, const FieldError&) = default;
};

// Lets result<T, FieldError>::value() throw (for start-up, tests and tools).
[[noreturn]] void throw_exception_from_error(const FieldError& e,
                                             const boost::source_location& loc);

template <class T>
using Result = boost::system::result<T, FieldError>;

}  // namespace sy::server::onboarding

template <>
struct boost::system::is_error_code_enum<sy::server::onboarding::Error> : std::true_type {};
