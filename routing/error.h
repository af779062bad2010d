#pragma once

// Errors of the routing module: one enum registered as the error category "sy.routing" (BIN table
// validation and issuer link outcomes), and a BinTableError value that names the configuration
// entry at fault (its 0-based index and, once its bounds are known to be BINs, its range).
// Messages never contain a PAN: a bound that is not a 6..11-digit BIN is described by its length
// and the position of the bad character only.

#include <boost/assert/source_location.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <cstddef>
#include <string>
#include <type_traits>

namespace sy::routing {

enum class Error : int {
  kBinNotDigits = 1,   // a BIN bound with a character other than 0-9
  kBadBinLength,       // a BIN bound shorter than 6 or longer than 11 digits
  kBinLengthMismatch,  // the low and high bounds of one entry differ in length
  kLowAboveHigh,       // the low bound is above the high bound
  kMissingBrand,       // an entry without a card brand
  kUnknownRoute,       // an entry whose route is not a configured issuer route
  kOverlappingRanges,  // two entries of the same length share some but not all prefixes
  kDuplicateRange,     // two entries of the same length with the same range
  // Issuer links (routing/issuer_link.h). kIssuerTimeout and kConnectionLost mean the request may
  // have reached the issuer: the caller reverses it. The others mean it was never sent.
  kLinkDown,        // no connection carries traffic, or the circuit breaker is open
  kLinkFull,        // the link's cap on requests in flight is reached
  kIssuerTimeout,   // no answer within the route's timeout
  kDuplicateStan,   // a request with the same STAN and MTI class is already in flight
  kConnectionLost,  // the connection closed while the request was in flight
  kBadLinkRequest,  // not a request MTI, no STAN, or the message does not pack (or MAC)
};

// The first and last enumerators, for tests that walk every value.
inline constexpr Error kFirstError = Error::kBinNotDigits;
inline constexpr Error kLastError = Error::kBadLinkRequest;

// The category named "sy.routing"; message(ev) gives one sentence per Error value.
const boost::system::error_category& RoutingCategory() noexcept;

inline boost::system::error_code make_error_code(Error e) noexcept {
  return {static_cast<int>(e), RoutingCategory()};
}

// Why a BIN table was refused: the rule broken, the entry at fault and a sentence for the log.
struct BinTableError {
  static constexpr std::size_t kNoEntry = static_cast<std::size_t>(-1);

  Error code = Error::kBinNotDigits;
  std::size_t entry = kNoEntry;  // 0-based index of the offending entry in the configuration
  std::size_t other = kNoEntry;  // the entry it collides with (overlaps and duplicates only)
  std::string message;  // "BIN entry 4 (41234500-41234599): overlaps entry 1 (41234550-41234650)"

  [[nodiscard]] const std::string& Describe() const noexcept { return message; }
  [[nodiscard]] boost::system::error_code error_code() const noexcept {
    return make_error_code(code);
  }
};

// Lets result<T, BinTableError>::value() throw (for start-up, tests and tools).
[[noreturn]] void throw_exception_from_error(const BinTableError& e,
                                             const boost::source_location& loc);

template <class T>
using Result = boost::system::result<T, BinTableError>;

}  // namespace sy::routing

template <>
struct boost::system::is_error_code_enum<sy::routing::Error> : std::true_type {};
