#include "iso8583/mask.h"

#include <algorithm>

namespace sy::iso8583 {

std::string MaskPan(std::string_view pan, int bin_digits) {
  std::string out(pan.size(), '*');
  const std::size_t n = pan.size();
  std::size_t head = 0;
  std::size_t tail = 0;
  if (n >= 13) {
    head = bin_digits == 8 && n >= 16 ? 8 : 6;
    tail = 4;
  } else if (n >= 8) {
    tail = 4;
  }
  std::copy_n(pan.begin(), head, out.begin());
  std::copy(pan.end() - static_cast<std::ptrdiff_t>(tail), pan.end(),
            out.end() - static_cast<std::ptrdiff_t>(tail));
  return out;
}

std::string MaskTrack(std::string_view track) {
  std::size_t start = 0;
  while (start < track.size() && (track[start] < '0' || track[start] > '9')) {
    ++start;  // a format code ('B') or start sentinel (';', '%')
  }
  std::size_t end = start;
  while (end < track.size() && track[end] >= '0' && track[end] <= '9') {
    ++end;
  }
  std::string out(track.substr(0, start));
  out += MaskPan(track.substr(start, end - start));
  if (end < track.size()) {
    out += track[end];  // the separator stays so the shape is readable
    out.append(track.size() - end - 1, '*');
  }
  return out;
}

std::string MaskValue(const FieldSpec& spec, std::string_view value) {
  switch (spec.sensitivity) {
    case Sensitivity::kPan:
      return MaskPan(value);
    case Sensitivity::kTrack:
      return MaskTrack(value);
    case Sensitivity::kPinBlock:
    case Sensitivity::kSecret:
      return std::string(value.size(), '*');
    case Sensitivity::kNone:
      break;
  }
  return std::string(value);
}

}  // namespace sy::iso8583
