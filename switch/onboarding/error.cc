#include "switch/onboarding/error.h"

#include <stdexcept>

namespace sy::server::onboarding {
namespace {

class Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "sy.onboarding"; }

  std::string message(int ev) const override {
    switch (static_cast<Error>(ev)) {
      case Error::kMissing:
        return "required field is empty";
      case Error::kBadFormat:
        return "field has the wrong length, characters or shape";
      case Error::kBadCheckDigit:
        return "check digit does not verify";
      case Error::kBadDate:
        return "date is impossible";
      case Error::kUnknownCode:
        return "code is not in its code list";
      case Error::kUnsupported:
        return "value is valid but not accepted here";
      case Error::kNameMismatch:
        return "settlement account is not in the applicant's name";
      case Error::kOutOfRange:
        return "number is outside its allowed range";
      case Error::kTransitionRefused:
        return "application review does not allow this step from the current state";
      case Error::kStaleVersion:
        return "application changed since it was read";
      case Error::kReasonRequired:
        return "this review step needs a reason";
      case Error::kInvalidApplication:
        return "application fields do not validate";
      case Error::kUnknownBrand:
        return "fee schedule has no rate for the card brand";
      case Error::kNoAgreement:
        return "no agreement or fee schedule in force";
      case Error::kOverflow:
        return "amount does not fit in 64-bit minor units";
    }
    return "unknown sy.onboarding error " + std::to_string(ev);
  }
};

}  // namespace

const boost::system::error_category& OnboardingCategory() noexcept {
  static const Category category;
  return category;
}

void throw_exception_from_error(const FieldError& e, const boost::source_location&) {
  throw std::runtime_error(e.Describe());
}

}  // namespace sy::server::onboarding
