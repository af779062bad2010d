#include "iso8583/error.h"

#include <stdexcept>

namespace sy::iso8583 {
namespace {

class Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "sy.iso8583"; }

  std::string message(int ev) const override {
    switch (static_cast<Error>(ev)) {
      case Error::kTruncated:
        return "input ends before the element it announces";
      case Error::kBadBcdNibble:
        return "BCD nibble is not a decimal digit or the expected pad";
      case Error::kLengthOverMax:
        return "length over the field's maximum";
      case Error::kNonDigit:
        return "non-digit character in a numeric field";
      case Error::kBadCharacter:
        return "character outside the field type's character set";
      case Error::kBadLengthPrefix:
        return "length prefix is not a number";
      case Error::kBitmapFieldMissing:
        return "bitmap announces a field but no bytes are left for it";
      case Error::kUndefinedField:
        return "field is not defined by the dialect";
      case Error::kBadMti:
        return "MTI is not four decimal digits";
      case Error::kBadBitmap:
        return "bitmap is not valid hexadecimal";
      case Error::kTrailingBytes:
        return "bytes left after the last field";
      case Error::kFixedLengthMismatch:
        return "fixed-length value has the wrong length";
      case Error::kBadHex:
        return "hex-encoded field has a non-hex character";
      case Error::kBadSign:
        return "amount sign is not C or D";
      case Error::kMissingMti:
        return "message has no MTI";
      case Error::kOutputTooSmall:
        return "output buffer too small for the packed message";
      case Error::kFrameTooLarge:
        return "frame length over the configured maximum";
      case Error::kBadFrameLength:
        return "frame length is malformed or too short for its header";
      case Error::kBadTlv:
        return "malformed BER-TLV data";
      case Error::kTlvTooDeep:
        return "BER-TLV nested too deeply";
    }
    return "unknown sy.iso8583 error " + std::to_string(ev);
  }
};

}  // namespace

const boost::system::error_category& Iso8583Category() noexcept {
  static const Category category;
  return category;
}

std::string CodecError::Describe() const {
  std::string out;
  if (field == kMtiField) {
    out = "MTI";
  } else if (field == kBitmapField) {
    out = "bitmap";
  } else if (field > 0) {
    out = "field " + std::to_string(field);
  } else {
    out = "message";
  }
  out += " at byte " + std::to_string(offset) + ": " +
         Iso8583Category().message(static_cast<int>(code));
  if (actual != 0 || limit != 0) {
    out += " (" + std::to_string(actual) + " vs " + std::to_string(limit) + ")";
  }
  return out;
}

void throw_exception_from_error(const CodecError& e, const boost::source_location& /*loc*/) {
  throw std::runtime_error(e.Describe());
}

}  // namespace sy::iso8583
