#pragma once

// Where a message's MAC goes and what it covers, independent of any MAC algorithm: field 64, or
// 128 when the message has a secondary bitmap; computed over the packed message from the MTI up
// to, not including, the MAC field's own bytes, with the bitmap already showing the MAC bit.
// The caller brings the algorithm (crypto/ for the switch and the simulators); iso8583 stays
// free of cryptography.
//
//   auto mac_fn = [&](std::span<const std::uint8_t> data) { return RetailMac(key, data); };
//   std::string wire;
//   auto r = PackWithMac(dialect, msg, mac_fn, wire);        // msg gains field 64 or 128
//   ...
//   auto input = MacInput(dialect, received_msg, received_wire);  // bytes to verify over
//   Compare(mac_of(*input), received_msg.Get(MacField(received_msg)));

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "iso8583/codec.h"

namespace sy::iso8583 {

// The MAC field for a message: 128 when any field 65-128 other than 128 itself is present
// (the message has a secondary bitmap anyway), else 64.
[[nodiscard]] int MacField(const Message& msg) noexcept;

// The bytes a MAC covers in `wire`, the packed form of `msg` (as Unpack returned it): everything
// before the MAC field. kBitmapFieldMissing (field = the MAC field) when the message has no MAC.
[[nodiscard]] Result<std::string_view> MacInput(const Dialect& dialect, const Message& msg,
                                                std::string_view wire);

// Computes an 8-byte MAC over the given bytes; false when it cannot (key problem).
using MacFunction =
    std::function<bool(std::span<const std::uint8_t>, std::array<std::uint8_t, 8>&)>;

// Sets the MAC field of msg to 8 zero bytes, packs, computes the MAC over the bytes before it,
// stores the MAC in msg and appends the final packed message to out. On error out is unchanged.
// A failing mac function is kFixedLengthMismatch on the MAC field (nothing else can fail there).
[[nodiscard]] Result<void> PackWithMac(const Dialect& dialect, Message& msg, const MacFunction& mac,
                                       std::string& out);

}  // namespace sy::iso8583
