#include "iso8583/tlv.h"

#include <algorithm>
#include <array>

namespace sy::iso8583 {
namespace {

constexpr std::uint8_t kPadding = 0x00;         // EMV 4.4 Book 3 Annex B1
constexpr std::uint8_t kTagNumberMask = 0x1F;   // low 5 bits all ones: more tag bytes follow
constexpr std::uint8_t kConstructedBit = 0x20;  // ISO/IEC 8825-1 8.1.2.5
constexpr std::uint8_t kMoreTagBytes = 0x80;    // ISO/IEC 8825-1 8.1.2.4.2
constexpr std::uint8_t kLongLength = 0x80;      // ISO/IEC 8825-1 8.1.3.5
constexpr std::size_t kMaxTagBytes = 4;         // what a std::uint32_t tag can hold
constexpr std::size_t kMaxLengthBytes = 4;      // 0x84: values up to 4 GiB - 1
constexpr std::uint64_t kMaxValueLength = 0xFFFFFFFF;

std::uint32_t Clamp32(std::size_t n) {
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(n, kMaxValueLength));
}

// Number of bytes in the tag's encoding (leading zero bytes are not part of it).
std::size_t TagSize(std::uint32_t tag) {
  std::size_t n = 1;
  while (n < kMaxTagBytes && (tag >> (8 * n)) != 0) {
    ++n;
  }
  return n;
}

std::uint8_t TagByte(std::uint32_t tag, std::size_t size, std::size_t i) {
  return static_cast<std::uint8_t>(tag >> (8 * (size - 1 - i)));
}

// The shortest BER length encoding of n (ISO/IEC 8825-1 8.1.3.3 and 8.1.3.5): returns its size.
std::size_t EncodeLength(std::uint64_t n, std::array<std::uint8_t, 1 + kMaxLengthBytes>& out) {
  if (n < kLongLength) {
    out[0] = static_cast<std::uint8_t>(n);
    return 1;
  }
  std::size_t bytes = 1;
  while (bytes < kMaxLengthBytes && (n >> (8 * bytes)) != 0) {
    ++bytes;
  }
  out[0] = static_cast<std::uint8_t>(kLongLength | bytes);
  for (std::size_t i = 0; i < bytes; ++i) {
    out[1 + i] = static_cast<std::uint8_t>(n >> (8 * (bytes - 1 - i)));
  }
  return 1 + bytes;
}

void AppendTag(std::uint32_t tag, std::vector<std::uint8_t>& out) {
  const std::size_t size = TagSize(tag);
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(TagByte(tag, size, i));
  }
}

CodecError TlvError(Error code, std::size_t offset, std::size_t actual = 0, std::size_t limit = 0) {
  return CodecError{
      .code = code, .offset = offset, .actual = Clamp32(actual), .limit = Clamp32(limit)};
}

}  // namespace

bool IsValidTlvTag(std::uint32_t tag) {
  if (tag == 0) {
    return false;
  }
  const std::size_t size = TagSize(tag);
  const std::uint8_t first = TagByte(tag, size, 0);
  if (size == 1) {
    return (first & kTagNumberMask) != kTagNumberMask;
  }
  if ((first & kTagNumberMask) != kTagNumberMask) {
    return false;
  }
  for (std::size_t i = 1; i + 1 < size; ++i) {
    if ((TagByte(tag, size, i) & kMoreTagBytes) == 0) {
      return false;
    }
  }
  return (TagByte(tag, size, size - 1) & kMoreTagBytes) == 0;
}

bool IsConstructedTlvTag(std::uint32_t tag) {
  return (TagByte(tag, TagSize(tag), 0) & kConstructedBit) != 0;
}

Result<std::optional<Tlv>> TlvReader::Next() {
  if (failed_) {
    return *failed_;
  }
  const std::size_t size = data_.size();
  while (pos_ < size && data_[pos_] == kPadding) {
    ++pos_;
  }
  if (pos_ == size) {
    return std::optional<Tlv>();
  }

  // Tag: ISO/IEC 8825-1 8.1.2; EMV 4.4 Book 3 Annex B1.
  const std::size_t tag_at = pos_;
  const std::uint8_t first = data_[pos_++];
  std::uint32_t tag = first;
  if ((first & kTagNumberMask) == kTagNumberMask) {
    std::size_t tag_bytes = 1;
    while (true) {
      if (pos_ == size) {
        failed_ = TlvError(Error::kTruncated, base_ + tag_at);
        return *failed_;
      }
      if (tag_bytes == kMaxTagBytes) {
        failed_ = TlvError(Error::kBadTlv, base_ + tag_at, tag_bytes + 1, kMaxTagBytes);
        return *failed_;
      }
      const std::uint8_t b = data_[pos_++];
      ++tag_bytes;
      tag = (tag << 8) | b;
      if ((b & kMoreTagBytes) == 0) {
        break;
      }
    }
  }

  // Length: ISO/IEC 8825-1 8.1.3; EMV 4.4 Book 3 Annex B2 (definite form only).
  const std::size_t length_at = pos_;
  if (pos_ == size) {
    failed_ = TlvError(Error::kTruncated, base_ + length_at);
    return *failed_;
  }
  const std::uint8_t l0 = data_[pos_++];
  std::uint64_t length = l0;
  if (l0 == kLongLength) {
    // Indefinite form: not allowed in EMV data.
    failed_ = TlvError(Error::kBadTlv, base_ + length_at);
    return *failed_;
  }
  if (l0 > kLongLength) {
    const std::size_t length_bytes = l0 & ~kLongLength;
    if (length_bytes > kMaxLengthBytes) {
      failed_ = TlvError(Error::kBadTlv, base_ + length_at, length_bytes, kMaxLengthBytes);
      return *failed_;
    }
    if (size - pos_ < length_bytes) {
      failed_ = TlvError(Error::kTruncated, base_ + length_at, length_bytes, size - pos_);
      return *failed_;
    }
    length = 0;
    for (std::size_t i = 0; i < length_bytes; ++i) {
      length = (length << 8) | data_[pos_++];
    }
  }

  const std::size_t value_at = pos_;
  if (length > size - pos_) {
    failed_ = TlvError(Error::kTruncated, base_ + value_at, length, size - pos_);
    return *failed_;
  }
  pos_ += length;
  return std::optional<Tlv>(Tlv{.tag = tag,
                                .constructed = (first & kConstructedBit) != 0,
                                .value = data_.subspan(value_at, length),
                                .offset = base_ + tag_at});
}

Result<std::optional<Tlv>> FindTlv(std::span<const std::uint8_t> data, std::uint32_t tag,
                                   int max_depth) {
  std::optional<Tlv> found;
  Result<void> walked = WalkTlv(
      data,
      [&](const Tlv& tlv, int /*depth*/) {
        if (tlv.tag == tag) {
          found = tlv;
          return false;
        }
        return true;
      },
      max_depth);
  if (!walked) {
    return walked.error();
  }
  return found;
}

Result<void> TlvWriter::Add(std::uint32_t tag, std::span<const std::uint8_t> value) {
  if (!IsValidTlvTag(tag)) {
    return TlvError(Error::kBadTlv, out_->size());
  }
  if (value.size() > kMaxValueLength) {
    return TlvError(Error::kBadTlv, out_->size(), value.size(), kMaxValueLength);
  }
  std::array<std::uint8_t, 1 + kMaxLengthBytes> length;
  const std::size_t length_size = EncodeLength(value.size(), length);
  AppendTag(tag, *out_);
  out_->insert(out_->end(), length.begin(), length.begin() + length_size);
  out_->insert(out_->end(), value.begin(), value.end());
  return {};
}

Result<void> TlvWriter::Begin(std::uint32_t tag) {
  if (!IsValidTlvTag(tag) || !IsConstructedTlvTag(tag)) {
    return TlvError(Error::kBadTlv, out_->size());
  }
  if (depth_ == kTlvMaxDepth) {
    return TlvError(Error::kTlvTooDeep, out_->size(), depth_ + 1, kTlvMaxDepth);
  }
  AppendTag(tag, *out_);
  open_[depth_++] = out_->size();
  out_->push_back(0);  // the length, rewritten by End
  return {};
}

Result<void> TlvWriter::End() {
  if (depth_ == 0) {
    return TlvError(Error::kBadTlv, out_->size());
  }
  const std::size_t length_at = open_[depth_ - 1];
  const std::size_t value_size = out_->size() - length_at - 1;
  if (value_size > kMaxValueLength) {
    return TlvError(Error::kBadTlv, out_->size(), value_size, kMaxValueLength);
  }
  std::array<std::uint8_t, 1 + kMaxLengthBytes> length;
  const std::size_t length_size = EncodeLength(value_size, length);
  // One byte was reserved; a long-form length needs room for the rest. Inner objects closed
  // earlier sit after length_at, so shifting them keeps their own lengths right.
  out_->insert(out_->begin() + static_cast<std::ptrdiff_t>(length_at + 1), length_size - 1, 0);
  std::copy(length.begin(), length.begin() + length_size,
            out_->begin() + static_cast<std::ptrdiff_t>(length_at));
  --depth_;
  return {};
}

}  // namespace sy::iso8583
