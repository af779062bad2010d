#include "iso8583/mac_slot.h"

namespace sy::iso8583 {

int MacField(const Message& msg) noexcept {
  for (int n : msg.present_fields()) {
    if (n > 64 && n != 128) {
      return 128;
    }
  }
  return msg.Has(128) ? 128 : 64;
}

Result<std::string_view> MacInput(const Dialect& dialect, const Message& msg,
                                  std::string_view wire) {
  const int field = MacField(msg);
  if (!msg.Has(field)) {
    return CodecError{Error::kBitmapFieldMissing, field, wire.size()};
  }
  // The MAC field is the last one present (64 is the last of the primary bitmap's fields when
  // there is no secondary bitmap; 128 is the last of all), and it is fixed-length, so its wire
  // bytes are the message's last bytes.
  const FieldSpec& spec = dialect.field(field);
  const std::size_t mac_wire =
      spec.encoding == Encoding::kHex ? 2U * spec.max_length : spec.max_length;
  if (!spec.is_fixed() || wire.size() < mac_wire) {
    return CodecError{Error::kFixedLengthMismatch, field, wire.size()};
  }
  return wire.substr(0, wire.size() - mac_wire);
}

Result<void> PackWithMac(const Dialect& dialect, Message& msg, const MacFunction& mac,
                         std::string& out) {
  const int field = MacField(msg);
  const FieldSpec& spec = dialect.field(field);
  if (!spec.defined || !spec.is_fixed() || spec.max_length != 8) {
    return CodecError{Error::kUndefinedField, field, out.size()};
  }
  static constexpr char kZeros[8] = {};
  msg.Set(field, std::string_view(kZeros, 8));
  const std::size_t base = out.size();
  if (auto r = Pack(dialect, msg, out); !r) {
    return r;
  }
  const std::string_view wire(out.data() + base, out.size() - base);
  auto input = MacInput(dialect, msg, wire);
  std::array<std::uint8_t, 8> value{};
  if (!input ||
      !mac({reinterpret_cast<const std::uint8_t*>(input->data()), input->size()}, value)) {
    out.resize(base);
    return CodecError{Error::kFixedLengthMismatch, field, base};
  }
  msg.Set(field, std::string_view(reinterpret_cast<const char*>(value.data()), value.size()));
  out.resize(base);
  return Pack(dialect, msg, out);
}

}  // namespace sy::iso8583
