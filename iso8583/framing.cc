#include "iso8583/framing.h"

#include <algorithm>
#include <cstring>

namespace sy::iso8583 {
namespace {

constexpr std::size_t kNacPrefixSize = 2;
constexpr std::size_t kAscii4PrefixSize = 4;
constexpr std::size_t kNacMaxLength = 0xFFFF;
constexpr std::size_t kAscii4MaxLength = 9999;

bool HasTpdu(const FramingOptions& options) {
  return options.kind == FrameKind::kNac && options.tpdu;
}

// The largest length value the options allow: max_frame, capped by what the prefix can express.
std::size_t MaxLength(const FramingOptions& options) {
  const std::size_t prefix_max = options.kind == FrameKind::kNac ? kNacMaxLength : kAscii4MaxLength;
  return std::min(options.max_frame, prefix_max);
}

// The smallest length value with a non-empty message.
std::size_t MinLength(const FramingOptions& options) {
  return HasTpdu(options) ? Tpdu::kSize + 1 : 1;
}

std::uint32_t Clamp32(std::size_t n) {
  return static_cast<std::uint32_t>(std::min<std::size_t>(n, UINT32_MAX));
}

template <class Out>
Result<void> AppendFrameTo(const FramingOptions& options, std::span<const std::uint8_t> tpdu,
                           std::span<const std::uint8_t> message, Out& out) {
  const std::size_t at = out.size();
  const std::size_t tpdu_size = HasTpdu(options) ? Tpdu::kSize : 0;
  if (tpdu.size() != tpdu_size) {
    return CodecError{.code = Error::kBadFrameLength,
                      .offset = at,
                      .actual = Clamp32(tpdu.size()),
                      .limit = static_cast<std::uint32_t>(tpdu_size)};
  }
  if (message.empty()) {
    return CodecError{.code = Error::kBadFrameLength,
                      .offset = at,
                      .actual = static_cast<std::uint32_t>(tpdu.size()),
                      .limit = static_cast<std::uint32_t>(MinLength(options))};
  }
  const std::size_t max = MaxLength(options);
  if (tpdu.size() > max || message.size() > max - tpdu.size()) {
    return CodecError{.code = Error::kFrameTooLarge,
                      .offset = at,
                      .actual = Clamp32(tpdu.size() + message.size()),
                      .limit = Clamp32(max)};
  }
  const std::size_t length = tpdu.size() + message.size();
  using Byte = typename Out::value_type;
  if (options.kind == FrameKind::kNac) {
    out.push_back(static_cast<Byte>(length >> 8));
    out.push_back(static_cast<Byte>(length & 0xFF));
  } else {
    std::size_t rest = length;
    char digits[kAscii4PrefixSize];
    for (std::size_t i = kAscii4PrefixSize; i-- > 0;) {
      digits[i] = static_cast<char>('0' + rest % 10);
      rest /= 10;
    }
    for (char d : digits) {
      out.push_back(static_cast<Byte>(d));
    }
  }
  out.insert(out.end(), tpdu.begin(), tpdu.end());
  out.insert(out.end(), message.begin(), message.end());
  return {};
}

}  // namespace

Result<Tpdu> Tpdu::FromBytes(std::span<const std::uint8_t> bytes) {
  if (bytes.size() != kSize) {
    return CodecError{.code = Error::kBadFrameLength,
                      .actual = Clamp32(bytes.size()),
                      .limit = static_cast<std::uint32_t>(kSize)};
  }
  Tpdu tpdu;
  std::copy(bytes.begin(), bytes.end(), tpdu.bytes_.begin());
  return tpdu;
}

std::size_t LengthPrefixSize(FrameKind kind) {
  return kind == FrameKind::kNac ? kNacPrefixSize : kAscii4PrefixSize;
}

FrameReader::FrameReader(FramingOptions options) : options_(options) {}

void FrameReader::Reserve(std::size_t n) {
  prepared_ = 0;
  if (buffer_.size() - end_ >= n) {
    return;
  }
  // Compact: move the unread tail to the front. Cheap in steady state, where the tail is at most
  // one partial frame.
  if (begin_ > 0) {
    const std::size_t unread = end_ - begin_;
    if (unread > 0) {
      std::memmove(buffer_.data(), buffer_.data() + begin_, unread);
    }
    begin_ = 0;
    end_ = unread;
  }
  if (buffer_.size() - end_ < n) {
    buffer_.resize(std::max(end_ + n, buffer_.size() * 2));
  }
}

void FrameReader::Append(std::span<const std::uint8_t> bytes) {
  if (bytes.empty()) {
    prepared_ = 0;
    return;
  }
  Reserve(bytes.size());
  std::memcpy(buffer_.data() + end_, bytes.data(), bytes.size());
  end_ += bytes.size();
}

std::span<std::uint8_t> FrameReader::Prepare(std::size_t n) {
  Reserve(n);
  prepared_ = n;
  return std::span<std::uint8_t>(buffer_.data() + end_, n);
}

void FrameReader::Commit(std::size_t n) {
  // A caller committing more than it prepared is a bug; never read past the prepared area.
  end_ += std::min(n, prepared_);
  prepared_ = 0;
}

Result<std::optional<Frame>> FrameReader::Next() {
  prepared_ = 0;
  if (failed_) {
    return *failed_;
  }
  if (begin_ == end_) {
    // Everything returned: start over at the front so the next read needs no compaction.
    begin_ = end_ = 0;
    return std::optional<Frame>();
  }
  const std::size_t prefix = LengthPrefixSize(options_.kind);
  const std::size_t available = end_ - begin_;
  if (available < prefix) {
    return std::optional<Frame>();
  }
  const std::uint8_t* const head = buffer_.data() + begin_;
  std::size_t length = 0;
  if (options_.kind == FrameKind::kNac) {
    length = (static_cast<std::size_t>(head[0]) << 8) | head[1];
  } else {
    for (std::size_t i = 0; i < prefix; ++i) {
      if (head[i] < '0' || head[i] > '9') {
        failed_ = CodecError{.code = Error::kBadFrameLength, .offset = consumed_ + i};
        return *failed_;
      }
      length = length * 10 + (head[i] - '0');
    }
  }
  if (length > MaxLength(options_)) {
    failed_ = CodecError{.code = Error::kFrameTooLarge,
                         .offset = consumed_,
                         .actual = Clamp32(length),
                         .limit = Clamp32(MaxLength(options_))};
    return *failed_;
  }
  if (length < MinLength(options_)) {
    failed_ = CodecError{.code = Error::kBadFrameLength,
                         .offset = consumed_,
                         .actual = Clamp32(length),
                         .limit = Clamp32(MinLength(options_))};
    return *failed_;
  }
  if (available - prefix < length) {
    return std::optional<Frame>();
  }
  const std::size_t tpdu_size = HasTpdu(options_) ? Tpdu::kSize : 0;
  Frame frame{
      .tpdu = std::span<const std::uint8_t>(head + prefix, tpdu_size),
      .message = std::span<const std::uint8_t>(head + prefix + tpdu_size, length - tpdu_size),
      .wire = std::span<const std::uint8_t>(head, prefix + length),
      .offset = consumed_};
  begin_ += prefix + length;
  consumed_ += prefix + length;
  return std::optional<Frame>(frame);
}

Result<void> AppendFrame(const FramingOptions& options, std::span<const std::uint8_t> tpdu,
                         std::span<const std::uint8_t> message, std::vector<std::uint8_t>& out) {
  return AppendFrameTo(options, tpdu, message, out);
}

Result<void> AppendFrame(const FramingOptions& options, std::span<const std::uint8_t> tpdu,
                         std::span<const std::uint8_t> message, std::string& out) {
  return AppendFrameTo(options, tpdu, message, out);
}

}  // namespace sy::iso8583
