#pragma once

// SecretBytes: key and PIN material as a type. Holds up to 32 bytes inline (no heap, so nothing is
// left behind by a reallocation), is wiped on destruction and on move-from, cannot be copied
// except through Clone(), compares in constant time and cannot be printed.
//
//   SecretBytes key = SecretBytes::Copy(bytes).value();
//   SecretBytes twin = key.Clone();
//   bool same = key == twin;         // constant time
//   std::cout << key;                // does not compile

#include <array>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>

#include "crypto/error.h"

namespace sy::crypto {

class SecretBytes {
 public:
  static constexpr std::size_t kCapacity = 32;

  SecretBytes() noexcept = default;
  // `size` zero bytes. Precondition: size <= kCapacity (a programming error otherwise: throws).
  explicit SecretBytes(std::size_t size);
  ~SecretBytes();

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  // Copies `bytes`; kBadInputLength when longer than kCapacity.
  [[nodiscard]] static Result<SecretBytes> Copy(std::span<const std::uint8_t> bytes);
  // Copies the characters of `text` (e.g. PIN digits).
  [[nodiscard]] static Result<SecretBytes> FromString(std::string_view text);

  [[nodiscard]] SecretBytes Clone() const;

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] std::span<const std::uint8_t> view() const noexcept {
    return {data_.data(), size_};
  }
  [[nodiscard]] std::span<std::uint8_t> mutable_view() noexcept { return {data_.data(), size_}; }
  [[nodiscard]] const std::uint8_t* data() const noexcept { return data_.data(); }
  [[nodiscard]] std::uint8_t* data() noexcept { return data_.data(); }
  [[nodiscard]] std::string_view as_chars() const noexcept {
    return {reinterpret_cast<const char*>(data_.data()), size_};
  }

  // Sets the size (<= kCapacity; throws otherwise); bytes past the old size are zero.
  void Resize(std::size_t size);
  // Zeroes the contents and sets the size to 0.
  void Wipe() noexcept;

  // Constant time in the contents; sizes are not secret.
  friend bool operator==(const SecretBytes& a, const SecretBytes& b) noexcept;

  // Never printable: streaming a SecretBytes is a compile error, and GoogleTest prints a
  // placeholder.
  friend std::ostream& operator<<(std::ostream&, const SecretBytes&) = delete;
  friend void PrintTo(const SecretBytes& s, std::ostream* os);

 private:
  std::array<std::uint8_t, kCapacity> data_{};
  std::size_t size_ = 0;
};

// Wipes a trivially copyable local (array, struct of bytes) on scope exit.
template <class T>
class ScopedWipe {
 public:
  explicit ScopedWipe(T& value) noexcept : value_(value) {}
  ~ScopedWipe();
  ScopedWipe(const ScopedWipe&) = delete;
  ScopedWipe& operator=(const ScopedWipe&) = delete;

 private:
  T& value_;
};

namespace internal {
void WipeMemory(void* p, std::size_t size) noexcept;
}  // namespace internal

// Overwrites the characters of a string that had to carry key or PIN text (hex on a command line,
// a file being written), so the text does not linger in freed memory.
void WipeString(std::string& text) noexcept;

template <class T>
ScopedWipe<T>::~ScopedWipe() {
  internal::WipeMemory(&value_, sizeof(T));
}

}  // namespace sy::crypto
