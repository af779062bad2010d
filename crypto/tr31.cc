#include "crypto/tr31.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <vector>

#include "crypto/cipher.h"
#include "crypto/hex.h"
#include "crypto/internal/openssl_util.h"
#include "crypto/mac.h"

namespace sy::crypto {
namespace {

constexpr std::size_t kHeaderSize = 16;

// Payload buffer (length field + key + padding), wiped on every exit.
struct Payload {
  std::array<std::uint8_t, 64> bytes{};
  std::size_t size = 0;
  ~Payload() { internal::Cleanse(bytes.data(), bytes.size()); }
  std::span<std::uint8_t> view() { return {bytes.data(), size}; }
};

bool IsTdesVersion(char v) { return v == 'B'; }

Result<void> CheckKbpk(char version, const SecretBytes& kbpk) {
  if (version == 'B') {
    return IsValidKeySize(KeyAlgorithm::kTdes, kbpk.size()) ? Result<void>()
                                                            : Result<void>(Error::kBadKeyLength);
  }
  if (version == 'D') {
    return IsValidKeySize(KeyAlgorithm::kAes, kbpk.size()) ? Result<void>()
                                                           : Result<void>(Error::kBadKeyLength);
  }
  return Error::kKeyBlockUnsupported;
}

// X9.143 (TR-31:2018 5.3.2.x) key derivation: CMAC under the KBPK, in counter mode, of
// counter | usage (0000 encryption, 0001 MAC) | 00 | algorithm (0000 2TDEA, 0001 3TDEA,
// 0002/0003/0004 AES-128/192/256) | length in bits; outputs concatenated and truncated.
Result<SecretBytes> DeriveKbpkKey(char version, const SecretBytes& kbpk, bool mac_key) {
  const bool tdes = IsTdesVersion(version);
  std::uint16_t algorithm = 0;
  if (tdes) {
    algorithm = kbpk.size() == 16 ? 0x0000 : 0x0001;
  } else {
    algorithm = kbpk.size() == 16 ? 0x0002 : kbpk.size() == 24 ? 0x0003 : 0x0004;
  }
  const std::uint16_t bits = static_cast<std::uint16_t>(kbpk.size() * 8);
  std::array<std::uint8_t, 8> data{0x00,
                                   0x00,
                                   static_cast<std::uint8_t>(mac_key ? 0x01 : 0x00),
                                   0x00,
                                   static_cast<std::uint8_t>(algorithm >> 8),
                                   static_cast<std::uint8_t>(algorithm),
                                   static_cast<std::uint8_t>(bits >> 8),
                                   static_cast<std::uint8_t>(bits)};
  SecretBytes out(kbpk.size());
  const std::size_t step = tdes ? 8 : 16;
  for (std::size_t off = 0; off < kbpk.size(); off += step) {
    data[0] = static_cast<std::uint8_t>(1 + off / step);
    const std::size_t take = std::min(step, kbpk.size() - off);
    if (tdes) {
      auto m = TdesCmac(kbpk, data);
      if (!m) {
        return m.error();
      }
      std::memcpy(out.data() + off, m->data(), take);
      internal::Cleanse(m->data(), m->size());
    } else {
      auto m = AesCmac(kbpk, data);
      if (!m) {
        return m.error();
      }
      std::memcpy(out.data() + off, m->data(), take);
      internal::Cleanse(m->data(), m->size());
    }
  }
  return out;
}

// MAC over header || clear payload (TR-31:2018 5.3.2.3 / 5.3.2.4): 8 bytes TDES-CMAC (B),
// 16 bytes AES-CMAC (D).
Result<std::vector<std::uint8_t>> BlockMac(char version, const SecretBytes& kbmk,
                                           std::string_view header,
                                           std::span<const std::uint8_t> payload) {
  std::vector<std::uint8_t> input(header.begin(), header.end());
  input.insert(input.end(), payload.begin(), payload.end());
  std::vector<std::uint8_t> mac;
  if (IsTdesVersion(version)) {
    auto m = TdesCmac(kbmk, input);
    if (m) {
      mac.assign(m->begin(), m->end());
    }
    internal::Cleanse(input.data(), input.size());
    if (!m) {
      return m.error();
    }
  } else {
    auto m = AesCmac(kbmk, input);
    if (m) {
      mac.assign(m->begin(), m->end());
    }
    internal::Cleanse(input.data(), input.size());
    if (!m) {
      return m.error();
    }
  }
  return mac;
}

bool IsPrintableField(char c) { return c >= 0x20 && c < 0x7F; }

Result<KeyBlockHeader> ParseHeader(std::string_view h) {
  if (h.size() < kHeaderSize) {
    return Error::kBadKeyBlock;
  }
  for (char c : h.substr(0, kHeaderSize)) {
    if (!IsPrintableField(c)) {
      return Error::kBadKeyBlock;
    }
  }
  KeyBlockHeader out;
  out.version = h[0];
  out.usage = std::string(h.substr(5, 2));
  out.algorithm = h[7];
  out.mode_of_use = h[8];
  out.key_version = std::string(h.substr(9, 2));
  out.exportability = h[11];
  if (h.substr(12, 2) != "00") {
    return Error::kKeyBlockUnsupported;  // optional blocks
  }
  return out;
}

}  // namespace

Result<std::string> WrapKeyBlock(const SecretBytes& kbpk, const KeyBlockHeader& header,
                                 const SecretBytes& key, RandomSource& random) {
  if (auto r = CheckKbpk(header.version, kbpk); !r) {
    return r.error();
  }
  if (header.usage.size() != 2 || header.key_version.size() != 2 || key.empty() ||
      key.size() > 32) {
    return Error::kBadKeyBlock;
  }
  const std::size_t block = IsTdesVersion(header.version) ? 8 : 16;
  const std::size_t mac_size = block;
  Payload payload;
  // X9.143 6.3: 2-byte key length in bits, the key, then random padding to a whole block.
  payload.size = (2 + key.size() + block - 1) / block * block;
  payload.bytes[0] = static_cast<std::uint8_t>((key.size() * 8) >> 8);
  payload.bytes[1] = static_cast<std::uint8_t>(key.size() * 8);
  std::memcpy(payload.bytes.data() + 2, key.data(), key.size());
  random.Fill(std::span(payload.bytes).subspan(2 + key.size(), payload.size - 2 - key.size()));
  const std::size_t total = kHeaderSize + 2 * payload.size + 2 * mac_size;
  char length[5];
  std::snprintf(length, sizeof(length), "%04zu", total);
  std::string text;
  text.reserve(total);
  text.push_back(header.version);
  text.append(length, 4);
  text.append(header.usage);
  text.push_back(header.algorithm);
  text.push_back(header.mode_of_use);
  text.append(header.key_version);
  text.push_back(header.exportability);
  text.append("0000");  // no optional blocks, reserved
  auto kbek = DeriveKbpkKey(header.version, kbpk, false);
  auto kbmk = DeriveKbpkKey(header.version, kbpk, true);
  if (!kbek || !kbmk) {
    return !kbek ? kbek.error() : kbmk.error();
  }
  auto mac = BlockMac(header.version, *kbmk, text, payload.view());
  if (!mac) {
    return mac.error();
  }
  // The MAC is the CBC IV for the payload (key derivation binding method).
  std::vector<std::uint8_t> enciphered(payload.size);
  const KeyAlgorithm algo =
      IsTdesVersion(header.version) ? KeyAlgorithm::kTdes : KeyAlgorithm::kAes;
  if (auto r = EncryptCbc(algo, *kbek, *mac, payload.view(), enciphered); !r) {
    return r.error();
  }
  text += ToHex(enciphered);
  text += ToHex(*mac);
  return text;
}

Result<UnwrappedKey> UnwrapKeyBlock(const SecretBytes& kbpk, std::string_view block,
                                    const KeyBlockPolicy& policy) {
  auto header = ParseHeader(block);
  if (!header) {
    return header.error();
  }
  if (auto r = CheckKbpk(header->version, kbpk); !r) {
    return r.error();
  }
  std::size_t declared = 0;
  for (char c : block.substr(1, 4)) {
    if (c < '0' || c > '9') {
      return Error::kBadKeyBlock;
    }
    declared = declared * 10 + static_cast<std::size_t>(c - '0');
  }
  const std::size_t bs = IsTdesVersion(header->version) ? 8 : 16;
  if (declared != block.size() || block.size() < kHeaderSize + 4 * bs ||
      (block.size() - kHeaderSize) % (2 * bs) != 0) {
    return Error::kBadKeyBlock;
  }
  auto body = FromHex(block.substr(kHeaderSize));
  if (!body) {
    return Error::kBadKeyBlock;
  }
  const std::span<const std::uint8_t> enciphered(body->data(), body->size() - bs);
  const std::span<const std::uint8_t> mac(body->data() + body->size() - bs, bs);
  if (enciphered.size() > 64) {
    return Error::kBadKeyBlock;
  }
  auto kbek = DeriveKbpkKey(header->version, kbpk, false);
  auto kbmk = DeriveKbpkKey(header->version, kbpk, true);
  if (!kbek || !kbmk) {
    return !kbek ? kbek.error() : kbmk.error();
  }
  Payload payload;
  payload.size = enciphered.size();
  const KeyAlgorithm algo =
      IsTdesVersion(header->version) ? KeyAlgorithm::kTdes : KeyAlgorithm::kAes;
  if (auto r = DecryptCbc(algo, *kbek, mac, enciphered, payload.view()); !r) {
    return r.error();
  }
  auto expected = BlockMac(header->version, *kbmk, block.substr(0, kHeaderSize), payload.view());
  if (!expected) {
    return expected.error();
  }
  if (!internal::ConstantTimeEqual(*expected, mac)) {
    return Error::kKeyBlockMacMismatch;
  }
  const std::size_t bits = (static_cast<std::size_t>(payload.bytes[0]) << 8) | payload.bytes[1];
  if (bits % 8 != 0 || bits == 0 || bits / 8 + 2 > payload.size || bits / 8 > 32) {
    return Error::kBadKeyBlock;
  }
  // The policy is checked only after the MAC, so an altered header is reported as altered.
  if ((!policy.usage.empty() && header->usage != policy.usage) ||
      (policy.algorithm != 0 && header->algorithm != policy.algorithm) ||
      (!policy.modes.empty() && policy.modes.find(header->mode_of_use) == std::string_view::npos) ||
      (!policy.exportability.empty() &&
       policy.exportability.find(header->exportability) == std::string_view::npos)) {
    return Error::kKeyBlockAttributeMismatch;
  }
  auto key = SecretBytes::Copy(std::span(payload.bytes).subspan(2, bits / 8));
  if (!key) {
    return key.error();
  }
  return UnwrappedKey{std::move(*header), std::move(*key)};
}

}  // namespace sy::crypto
