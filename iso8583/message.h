#pragma once

// An ISO 8583 message: an MTI and up to 192 field values, each held as the field's value (digits,
// text, or raw bytes for type b) rather than its wire form. Unpack fills a Message with views into
// the input where the wire form is the value, and with decoded copies in the message's own arena
// otherwise; a Message that is reused (Reset, then Unpack or Set) allocates nothing in steady
// state.
//
//   sy::iso8583::Message m;
//   m.SetMti("0200");
//   m.Set(3, "000000");
//   m.Set(4, "000000001000");
//   for (int n : m.present_fields()) { ... m.Get(n) ... }

#include <array>
#include <bit>
#include <cstdint>
#include <string>
#include <string_view>

namespace sy::iso8583 {

class Message {
 public:
  static constexpr int kMaxField = 192;

  Message() { arena_.reserve(2048); }
  Message(const Message& other) { *this = other; }
  // Copies own every value: views into another buffer become copies in this message's arena.
  Message& operator=(const Message& other);
  Message(Message&&) noexcept = default;
  Message& operator=(Message&&) noexcept = default;

  // Forgets the MTI and every field, keeping the arena's capacity.
  void Reset() noexcept;

  [[nodiscard]] std::string_view mti() const noexcept { return {mti_.data(), mti_size_}; }
  // Stores up to 4 characters; Pack checks that they are four digits.
  void SetMti(std::string_view mti) noexcept;

  [[nodiscard]] bool Has(int n) const noexcept {
    return n >= 0 && n <= kMaxField && ((present_[n >> 6] >> (n & 63)) & 1U) != 0;
  }
  // The field's value, or an empty view when absent. Valid until the message changes (and, for
  // an unpacked message, while the unpacked input lives).
  [[nodiscard]] std::string_view Get(int n) const noexcept;
  // Stores a copy of value. Precondition: 2 <= n <= kMaxField (field 1 is the secondary bitmap).
  void Set(int n, std::string_view value);
  // Records a view (no copy): the caller keeps the bytes alive as long as the message uses them.
  void SetView(int n, std::string_view value) noexcept;
  // Reserves len bytes of arena for field n and returns where to write them (the codec's decode
  // path). The pointer is valid until the next arena use.
  [[nodiscard]] char* SetInArena(int n, std::size_t len);
  void Unset(int n) noexcept;
  // Forces Pack to send a secondary (and tertiary) bitmap even when no field above 64 (128) is
  // present. Unpack sets it when the input carried such an empty bitmap, so that some hosts'
  // habit of always sending one survives a round trip. Default: false.
  void set_force_bitmaps(int count) noexcept { force_bitmaps_ = static_cast<std::uint8_t>(count); }
  // 0 (no forcing), 2 (secondary) or 3 (secondary and tertiary).
  [[nodiscard]] int force_bitmaps() const noexcept { return force_bitmaps_; }

  [[nodiscard]] bool empty() const noexcept {
    return (present_[0] | present_[1] | present_[2] | present_[3]) == 0 && mti_size_ == 0;
  }

  // The present field numbers in ascending order, for range-for.
  class FieldIterator {
   public:
    FieldIterator(const std::array<std::uint64_t, 4>* words, int pos) : words_(words), pos_(pos) {
      Advance();
    }
    int operator*() const noexcept { return pos_; }
    FieldIterator& operator++() noexcept {
      ++pos_;
      Advance();
      return *this;
    }
    bool operator!=(const FieldIterator& o) const noexcept { return pos_ != o.pos_; }

   private:
    void Advance() noexcept {
      while (pos_ <= kMaxField) {
        const std::uint64_t rest = (*words_)[pos_ >> 6] >> (pos_ & 63);
        if (rest != 0) {
          pos_ += std::countr_zero(rest);
          return;
        }
        pos_ = (pos_ | 63) + 1;
      }
      pos_ = kMaxField + 1;
    }
    const std::array<std::uint64_t, 4>* words_;
    int pos_;
  };
  struct FieldRange {
    const std::array<std::uint64_t, 4>* words;
    [[nodiscard]] FieldIterator begin() const { return {words, 0}; }
    [[nodiscard]] FieldIterator end() const { return {words, kMaxField + 1}; }
  };
  [[nodiscard]] FieldRange present_fields() const noexcept { return {&present_}; }
  [[nodiscard]] int field_count() const noexcept {
    return std::popcount(present_[0]) + std::popcount(present_[1]) + std::popcount(present_[2]) +
           std::popcount(present_[3]);
  }

 private:
  struct Slot {
    const char* view = nullptr;  // set when the value lives outside the arena
    std::uint32_t offset = 0;    // else: where it starts in arena_
    std::uint32_t size = 0;
  };

  void Mark(int n) noexcept { present_[n >> 6] |= std::uint64_t{1} << (n & 63); }

  std::array<char, 4> mti_{};
  std::uint8_t mti_size_ = 0;
  std::uint8_t force_bitmaps_ = 0;
  std::array<std::uint64_t, 4> present_{};
  std::array<Slot, kMaxField + 1> slots_{};
  std::string arena_;
};

}  // namespace sy::iso8583
