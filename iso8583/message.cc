#include "iso8583/message.h"

#include <algorithm>
#include <cstring>

namespace sy::iso8583 {

Message& Message::operator=(const Message& other) {
  if (this == &other) {
    return *this;
  }
  Reset();
  mti_ = other.mti_;
  mti_size_ = other.mti_size_;
  force_bitmaps_ = other.force_bitmaps_;
  for (int n : other.present_fields()) {
    Set(n, other.Get(n));
  }
  return *this;
}

void Message::Reset() noexcept {
  mti_size_ = 0;
  force_bitmaps_ = 0;
  present_ = {};
  arena_.clear();
}

void Message::SetMti(std::string_view mti) noexcept {
  mti_size_ = static_cast<std::uint8_t>(std::min<std::size_t>(mti.size(), mti_.size()));
  std::memcpy(mti_.data(), mti.data(), mti_size_);
}

std::string_view Message::Get(int n) const noexcept {
  if (!Has(n)) {
    return {};
  }
  const Slot& s = slots_[n];
  return s.view != nullptr ? std::string_view(s.view, s.size)
                           : std::string_view(arena_.data() + s.offset, s.size);
}

void Message::Set(int n, std::string_view value) {
  char* dst = SetInArena(n, value.size());
  if (!value.empty()) {
    std::memcpy(dst, value.data(), value.size());
  }
}

void Message::SetView(int n, std::string_view value) noexcept {
  // An empty view still needs a non-null marker so Get knows it is not in the arena.
  static constexpr char kEmpty = 0;
  slots_[n] = Slot{value.data() != nullptr ? value.data() : &kEmpty, 0,
                   static_cast<std::uint32_t>(value.size())};
  Mark(n);
}

char* Message::SetInArena(int n, std::size_t len) {
  const std::size_t offset = arena_.size();
  arena_.resize(offset + len);
  slots_[n] = Slot{nullptr, static_cast<std::uint32_t>(offset), static_cast<std::uint32_t>(len)};
  Mark(n);
  return arena_.data() + offset;
}

void Message::Unset(int n) noexcept {
  if (n >= 0 && n <= kMaxField) {
    present_[n >> 6] &= ~(std::uint64_t{1} << (n & 63));
  }
}

}  // namespace sy::iso8583
