#include "routing/error.h"

#include <stdexcept>
#include <string>

namespace sy::routing {
namespace {

class Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "sy.routing"; }

  std::string message(int ev) const override {
    switch (static_cast<Error>(ev)) {
      case Error::kBinNotDigits:
        return "BIN bound contains a character other than 0-9";
      case Error::kBadBinLength:
        return "BIN bound is not 6 to 11 digits long";
      case Error::kBinLengthMismatch:
        return "BIN range bounds differ in length";
      case Error::kLowAboveHigh:
        return "BIN range low bound is above its high bound";
      case Error::kMissingBrand:
        return "BIN entry has no card brand";
      case Error::kUnknownRoute:
        return "BIN entry names an issuer route that is not configured";
      case Error::kOverlappingRanges:
        return "BIN ranges of the same length overlap";
      case Error::kDuplicateRange:
        return "BIN range appears twice";
      case Error::kLinkDown:
        return "issuer link is down or its circuit breaker is open";
      case Error::kLinkFull:
        return "issuer link has the maximum number of requests in flight";
      case Error::kIssuerTimeout:
        return "issuer did not answer in time";
      case Error::kDuplicateStan:
        return "a request with this STAN and MTI class is already in flight";
      case Error::kConnectionLost:
        return "issuer connection closed with the request in flight";
      case Error::kBadLinkRequest:
        return "request cannot be sent to the issuer (MTI, STAN, packing or MAC)";
    }
    return "unknown sy.routing error " + std::to_string(ev);
  }
};

}  // namespace

const boost::system::error_category& RoutingCategory() noexcept {
  static const Category category;
  return category;
}

void throw_exception_from_error(const BinTableError& e, const boost::source_location&) {
  throw std::runtime_error(e.Describe());
}

}  // namespace sy::routing
