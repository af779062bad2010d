// Fuzz target for Unpack. Byte 0 picks the dialect; the rest is the message. Property: whatever
// Unpack accepts, Pack gives back byte for byte, and unpacking that again gives the same fields.

#include <cstdint>
#include <cstdlib>
#include <string>

#include "iso8583/codec.h"

namespace {

const sy::iso8583::Dialect& Pick(std::uint8_t b) {
  static const auto kDialects = [] {
    std::array<std::shared_ptr<const sy::iso8583::Dialect>, 4> d;
    for (std::size_t i = 0; i < d.size(); ++i) {
      d[i] = sy::iso8583::LoadDialect(sy::iso8583::BuiltinDialectNames()[i]).value();
    }
    return d;
  }();
  return *kDialects[b % kDialects.size()];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const sy::iso8583::Dialect& dialect = Pick(data[0]);
  const std::string input(reinterpret_cast<const char*>(data + 1), size - 1);
  sy::iso8583::Message msg;
  if (!sy::iso8583::Unpack(dialect, input, msg)) {
    return 0;
  }
  std::string packed;
  if (!sy::iso8583::Pack(dialect, msg, packed) || packed != input) {
    std::abort();  // accepted input must pack back to itself
  }
  sy::iso8583::Message again;
  if (!sy::iso8583::Unpack(dialect, packed, again) || again.field_count() != msg.field_count()) {
    std::abort();
  }
  for (int n : msg.present_fields()) {
    if (again.Get(n) != msg.Get(n)) {
      std::abort();
    }
  }
  return 0;
}
