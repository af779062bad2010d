#include "crypto/secret_bytes.h"

#include <cstring>
#include <ostream>
#include <stdexcept>

#include "crypto/internal/openssl_util.h"

namespace sy::crypto {

namespace internal {
void WipeMemory(void* p, std::size_t size) noexcept { Cleanse(p, size); }
}  // namespace internal

void WipeString(std::string& text) noexcept { internal::Cleanse(text.data(), text.size()); }

SecretBytes::SecretBytes(std::size_t size) {
  if (size > kCapacity) {
    throw std::length_error("SecretBytes larger than its capacity");
  }
  size_ = size;
}

SecretBytes::~SecretBytes() { internal::Cleanse(data_.data(), data_.size()); }

SecretBytes::SecretBytes(SecretBytes&& other) noexcept : data_(other.data_), size_(other.size_) {
  other.Wipe();
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    data_ = other.data_;
    size_ = other.size_;
    other.Wipe();
  }
  return *this;
}

Result<SecretBytes> SecretBytes::Copy(std::span<const std::uint8_t> bytes) {
  if (bytes.size() > kCapacity) {
    return Error::kBadInputLength;
  }
  SecretBytes s(bytes.size());
  if (!bytes.empty()) {
    std::memcpy(s.data_.data(), bytes.data(), bytes.size());
  }
  return s;
}

Result<SecretBytes> SecretBytes::FromString(std::string_view text) {
  return Copy({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

SecretBytes SecretBytes::Clone() const {
  SecretBytes s(size_);
  s.data_ = data_;
  return s;
}

void SecretBytes::Resize(std::size_t size) {
  if (size > kCapacity) {
    throw std::length_error("SecretBytes larger than its capacity");
  }
  if (size < size_) {
    internal::Cleanse(data_.data() + size, size_ - size);
  }
  size_ = size;
}

void SecretBytes::Wipe() noexcept {
  internal::Cleanse(data_.data(), data_.size());
  size_ = 0;
}

bool operator==(const SecretBytes& a, const SecretBytes& b) noexcept {
  return internal::ConstantTimeEqual(a.view(), b.view());
}

void PrintTo(const SecretBytes& s, std::ostream* os) {
  *os << "SecretBytes(" << s.size() << " bytes, redacted)";
}

}  // namespace sy::crypto
