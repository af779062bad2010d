#include "storage/error.h"

#include <string>

namespace sy::storage {
namespace {

class Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "sy.storage"; }
  std::string message(int ev) const override {
    switch (static_cast<Error>(ev)) {
      case Error::kIo:
        return "storage I/O error";
      case Error::kCorruption:
        return "stored data is corrupt";
      case Error::kNotFound:
        return "no such record";
      case Error::kOverloaded:
        return "journal writer overloaded";
      case Error::kClosed:
        return "store is closed";
      case Error::kInvalidArgument:
        return "invalid argument to the store";
      case Error::kPanProtection:
        return "PAN could not be sealed or opened";
    }
    return "unknown sy.storage error " + std::to_string(ev);
  }
};

}  // namespace

const boost::system::error_category& StorageCategory() noexcept {
  static const Category category;
  return category;
}

}  // namespace sy::storage
