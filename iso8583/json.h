#pragma once

// A message as JSON, in the shape of the jPOS golden corpus:
//   {"0": "0200", "2": "4761739001010010", "4": "000000001000", "52": {"bin": "A1B2..."}}
// Numeric, track and amount fields as digit strings, text as text (ISO-8859-1 bytes as Unicode
// code points), binary fields as {"bin": upper-case hex}. This is how operators read and write
// captured messages (`switchyard iso8583 decode|encode`), and how the differential tests compare
// against jPOS.

#include <boost/json/object.hpp>
#include <boost/system/result.hpp>
#include <string>

#include "iso8583/dialect.h"
#include "iso8583/message.h"

namespace sy::iso8583 {

struct JsonOptions {
  // Show PAN, track and PIN block fields in clear. Default: false (masked).
  bool unmask = false;
  // Add a read-only "55_tlv" tree when field 55 is present and parses as BER-TLV. Default: true.
  bool tlv = true;
};

[[nodiscard]] boost::json::object ToJson(const Dialect& dialect, const Message& msg,
                                         const JsonOptions& options = {});

struct JsonError {
  std::string message;  // names the key at fault
};
[[noreturn]] void throw_exception_from_error(const JsonError& e, const boost::source_location&);

// Fills msg (Reset first) from the corpus shape. Keys are "0" (the MTI) and field numbers 2-192;
// a value is a string, or {"bin": HEX} for raw bytes; "<n>_tlv" keys are ignored (they are
// derived). Checks the shape only: Pack checks each value against its field.
[[nodiscard]] boost::system::result<void, JsonError> FromJson(const boost::json::object& json,
                                                              Message& msg);

// Upper-case hex of bytes, and back (accepting either case); false on odd length or a non-hex
// character.
[[nodiscard]] std::string ToHex(std::string_view bytes);
[[nodiscard]] bool FromHex(std::string_view hex, std::string& out);

}  // namespace sy::iso8583
