#pragma once

// Masking of card data for anything a person or a log can see. The dialect's per-field
// Sensitivity decides what is masked; these functions decide how.

#include <string>
#include <string_view>

#include "iso8583/dialect.h"

namespace sy::iso8583 {

// Keeps the first 6 digits (8 when bin_digits is 8 and the PAN has 16 or more digits) and the
// last 4 of a PAN of 13 or more digits; of a shorter one only the last 4 (none below 8 digits).
// Every other character becomes '*'.
[[nodiscard]] std::string MaskPan(std::string_view pan, int bin_digits = 6);

// Masks track 1, 2 or 3 data: any leading format code or sentinel stays, the PAN is masked as by
// MaskPan, and everything after it (name, expiry, service code, discretionary data) becomes '*'.
[[nodiscard]] std::string MaskTrack(std::string_view track);

// The value of a field as safe to show: PAN and track fields as above; PIN blocks and other
// secrets entirely replaced by '*' of the same length; other fields unchanged.
[[nodiscard]] std::string MaskValue(const FieldSpec& spec, std::string_view value);

}  // namespace sy::iso8583
