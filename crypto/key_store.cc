#include "crypto/key_store.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "crypto/dukpt_aes.h"
#include "crypto/dukpt_tdes.h"
#include "crypto/hex.h"
#include "crypto/internal/openssl_util.h"
#include "crypto/master_session.h"
#include "crypto/pin_translate.h"
#include "crypto/tr31.h"

namespace sy::crypto {
namespace {

struct KindInfo {
  KeyKind kind;
  std::string_view name;
  char mode;  // TR-31 mode of use the key is stored with
};

constexpr KindInfo kKinds[] = {
    {KeyKind::kBdk, "BDK", 'X'},  // key derivation
    {KeyKind::kTmk, "TMK", 'B'},  // wrap and unwrap working keys
    {KeyKind::kZpk, "ZPK", 'B'},  // encipher and decipher PIN blocks
    {KeyKind::kZak, "ZAK", 'C'},  // generate and verify MACs
    {KeyKind::kDataKey, "DATA", 'B'},
};

const KindInfo& InfoOf(KeyKind k) {
  for (const auto& i : kKinds) {
    if (i.kind == k) {
      return i;
    }
  }
  return kKinds[0];
}

// X9.143 key usages: B0 BDK, K0 key encryption, P0 PIN encryption, M3 ISO 9797-1 algorithm 3
// (TDES) / M6 ISO 9797-1:2011 algorithm 5 = CMAC (AES), D0 data encryption.
std::string UsageOf(KeyKind k, KeyAlgorithm a) {
  switch (k) {
    case KeyKind::kBdk:
      return "B0";
    case KeyKind::kTmk:
      return "K0";
    case KeyKind::kZpk:
      return "P0";
    case KeyKind::kZak:
      return a == KeyAlgorithm::kAes ? "M6" : "M3";
    case KeyKind::kDataKey:
      return "D0";
  }
  return "00";
}

Result<Kcv> KcvOf(KeyAlgorithm a, const SecretBytes& key) {
  return a == KeyAlgorithm::kAes ? AesKcv(key) : TdesKcv(key);
}

}  // namespace

std::string KeyStoreError::Describe() const {
  std::string out = key_id.empty() ? "key file" : "key '" + key_id + "'";
  if (line != 0) {
    out += " (line " + std::to_string(line) + ")";
  }
  return out + ": " + make_error_code(code).message();
}

void throw_exception_from_error(const KeyStoreError& e, const boost::source_location&) {
  throw std::runtime_error(e.Describe());
}

Result<SecretBytes> SoftwareKeyStore::LoadMasterKey(const char* env_var, const std::string& path) {
  std::string text;
  if (const char* v = env_var != nullptr ? std::getenv(env_var) : nullptr;
      v != nullptr && *v != '\0') {
    text = v;
  } else {
    std::ifstream in(path);
    if (!in) {
      return Error::kBadInputLength;
    }
    std::getline(in, text);
  }
  const auto first = text.find_first_not_of(" \t\r\n");
  const auto last = text.find_last_not_of(" \t\r\n");
  const std::string_view hex = first == std::string::npos
                                   ? std::string_view()
                                   : std::string_view(text).substr(first, last - first + 1);
  auto key = SecretFromHex(hex);
  WipeString(text);
  if (!key) {
    return key.error();
  }
  if (!IsValidKeySize(KeyAlgorithm::kAes, key->size())) {
    return Error::kBadKeyLength;
  }
  return key;
}

boost::system::result<SoftwareKeyStore, KeyStoreError> SoftwareKeyStore::Load(
    const SecretBytes& master_key, std::string_view file_text) {
  if (!IsValidKeySize(KeyAlgorithm::kAes, master_key.size())) {
    return KeyStoreError{Error::kBadKeyLength, "", 0};
  }
  SoftwareKeyStore store(master_key.Clone());
  std::istringstream in{std::string(file_text)};
  std::string line;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (const auto hash = line.find('#'); hash != std::string::npos) {
      line.resize(hash);
    }
    std::istringstream fields(line);
    std::string id, kind_name, kcv_hex, block, extra;
    if (!(fields >> id)) {
      continue;  // blank or comment
    }
    if (!(fields >> kind_name >> kcv_hex >> block) || (fields >> extra)) {
      return KeyStoreError{Error::kBadKeyFile, id, number};
    }
    const KindInfo* info = nullptr;
    for (const auto& k : kKinds) {
      if (k.name == kind_name) {
        info = &k;
      }
    }
    if (info == nullptr || store.keys_.count(id) != 0) {
      return KeyStoreError{Error::kBadKeyFile, id, number};
    }
    const char algo_char = block.size() > 7 ? block[7] : '?';
    const KeyAlgorithm algorithm = algo_char == 'A' ? KeyAlgorithm::kAes : KeyAlgorithm::kTdes;
    const std::string usage = UsageOf(info->kind, algorithm);
    const char mode[2] = {info->mode, '\0'};
    auto unwrapped = UnwrapKeyBlock(
        store.master_, block,
        {.usage = usage, .algorithm = algorithm == KeyAlgorithm::kAes ? 'A' : 'T', .modes = mode});
    if (!unwrapped) {
      return KeyStoreError{static_cast<Error>(unwrapped.error().value()), id, number};
    }
    if (!IsValidKeySize(algorithm, unwrapped->key.size())) {
      return KeyStoreError{Error::kBadKeyLength, id, number};
    }
    auto kcv = KcvOf(algorithm, unwrapped->key);
    auto expected = FromHex(kcv_hex);
    if (!kcv || !expected || expected->size() != kcv->size() ||
        !internal::ConstantTimeEqual(*kcv, *expected)) {
      return KeyStoreError{Error::kKcvMismatch, id, number};
    }
    store.keys_.emplace(id, Entry{info->kind, algorithm, std::move(unwrapped->key), *kcv, block});
  }
  return store;
}

Result<void> SoftwareKeyStore::AddKey(const std::string& id, KeyKind kind, KeyAlgorithm algorithm,
                                      const SecretBytes& key) {
  if (id.empty() || id.find_first_of(" \t\r\n#") != std::string::npos) {
    return Error::kBadKeyFile;
  }
  if (!IsValidKeySize(algorithm, key.size())) {
    return Error::kBadKeyLength;
  }
  auto kcv = KcvOf(algorithm, key);
  if (!kcv) {
    return kcv.error();
  }
  KeyBlockHeader header{.version = 'D',
                        .usage = UsageOf(kind, algorithm),
                        .algorithm = algorithm == KeyAlgorithm::kAes ? 'A' : 'T',
                        .mode_of_use = InfoOf(kind).mode,
                        .key_version = "00",
                        .exportability = 'N'};
  auto block = WrapKeyBlock(master_, header, key, SystemRandom());
  if (!block) {
    return block.error();
  }
  keys_[id] = Entry{kind, algorithm, key.Clone(), *kcv, std::move(*block)};
  return {};
}

std::string SoftwareKeyStore::Serialize() const {
  std::string out =
      "# switchyard key store: <id> <kind> <kcv> <TR-31 key block under the master key>\n";
  for (const auto& [id, e] : keys_) {
    out += id + " " + std::string(InfoOf(e.kind).name) + " " + ToHex(e.kcv) + " " + e.block + "\n";
  }
  return out;
}

Result<PanProtector> SoftwareKeyStore::MakePanProtector(const std::string& id) const {
  auto key = Find(id, KeyKind::kDataKey);
  if (!key) {
    return key.error();
  }
  return PanProtector::Create(id, (*key)->key);
}

std::vector<std::string> SoftwareKeyStore::TestKeyIds() const {
  // Check values of published test keys: 0123456789ABCDEFFEDCBA9876543210 (ANSI X9.24-1:2009
  // A.4, TDES KCV 08D7B4), FEDCBA9876543210F1F1F1F1F1F1F1F1 (X9.24-3 supplement, AES) and
  // 89ABCDEF0123456776543210FEDCBA98 (a common TDES test key), computed at first use.
  static const std::vector<std::pair<KeyAlgorithm, Kcv>> kTest = [] {
    std::vector<std::pair<KeyAlgorithm, Kcv>> out;
    for (const auto& [algo, hex] : std::initializer_list<std::pair<KeyAlgorithm, const char*>>{
             {KeyAlgorithm::kTdes, "0123456789ABCDEFFEDCBA9876543210"},
             {KeyAlgorithm::kTdes, "89ABCDEF0123456776543210FEDCBA98"},
             {KeyAlgorithm::kAes, "FEDCBA9876543210F1F1F1F1F1F1F1F1"}}) {
      auto key = SecretFromHex(hex);
      if (key) {
        if (auto kcv = KcvOf(algo, *key); kcv) {
          out.emplace_back(algo, *kcv);
        }
      }
    }
    return out;
  }();
  std::vector<std::string> ids;
  for (const auto& [id, e] : keys_) {
    for (const auto& [algo, kcv] : kTest) {
      if (e.algorithm == algo && e.kcv == kcv) {
        ids.push_back(id);
        break;
      }
    }
  }
  return ids;
}

Result<const SoftwareKeyStore::Entry*> SoftwareKeyStore::Find(const std::string& id,
                                                              KeyKind kind) const {
  auto it = keys_.find(id);
  if (it == keys_.end()) {
    return Error::kUnknownKeyId;
  }
  if (it->second.kind != kind) {
    return Error::kBadKeyUsage;
  }
  return &it->second;
}

namespace {
// A message MAC under a TDES key (ISO 9797-1 algorithm 3, padding method 1) or an AES key
// (AES-CMAC, leftmost 8 bytes), as the contract uses them on both interfaces.
Result<Mac8> MessageMac(KeyAlgorithm algorithm, const SecretBytes& key,
                        std::span<const std::uint8_t> data) {
  if (algorithm == KeyAlgorithm::kTdes) {
    return RetailMac(key, data, MacPadding::kMethod1);
  }
  auto full = AesCmac(key, data);
  if (!full) {
    return full.error();
  }
  Mac8 mac{};
  std::copy_n(full->begin(), mac.size(), mac.begin());
  internal::Cleanse(full->data(), full->size());
  return mac;
}
}  // namespace

Result<Mac8> SoftwareKeyStore::Mac(const Entry& zak, std::span<const std::uint8_t> data) const {
  return MessageMac(zak.algorithm, zak.key, data);
}

boost::asio::awaitable<Result<PinBlock>> SoftwareKeyStore::TranslateDukptPin(
    std::string bdk_id, std::vector<std::uint8_t> ksn, PinBlockFormat format,
    std::vector<std::uint8_t> block, std::string pan, std::string zpk_id) {
  auto bdk = Find(bdk_id, KeyKind::kBdk);
  if (!bdk) {
    co_return bdk.error();
  }
  auto zpk = Find(zpk_id, KeyKind::kZpk);
  if (!zpk) {
    co_return zpk.error();
  }
  if ((*zpk)->algorithm != KeyAlgorithm::kTdes) {
    co_return Error::kKeyTypeNotAllowed;  // issuers take format 0 under a TDES ZPK
  }
  auto cache = CacheFor(bdk_id, ksn);
  std::lock_guard lock(cache->mu);
  if ((*bdk)->algorithm == KeyAlgorithm::kTdes) {
    co_return TranslatePinFromTdesDukpt(cache->tdes(), (*bdk)->key, ksn, format, block, pan,
                                        (*zpk)->key);
  }
  co_return TranslatePinFromAesDukpt(cache->aes(), (*bdk)->key, ksn, format, block, pan,
                                     (*zpk)->key);
}

Result<Mac8> SoftwareKeyStore::ZoneMacNow(const std::string& zak_id,
                                          std::span<const std::uint8_t> data) const {
  auto zak = Find(zak_id, KeyKind::kZak);
  if (!zak) {
    return zak.error();
  }
  return Mac(**zak, data);
}

Result<void> SoftwareKeyStore::VerifyZoneMacNow(const std::string& zak_id,
                                                std::span<const std::uint8_t> data,
                                                std::span<const std::uint8_t> mac) const {
  if (mac.size() < 4 || mac.size() > 8) {
    return Error::kBadMacLength;
  }
  auto computed = ZoneMacNow(zak_id, data);
  if (!computed) {
    return computed.error();
  }
  const bool equal = internal::ConstantTimeEqual(std::span(computed->data(), mac.size()), mac);
  internal::Cleanse(computed->data(), computed->size());
  if (!equal) {
    return Error::kMacMismatch;
  }
  return {};
}

boost::asio::awaitable<Result<Mac8>> SoftwareKeyStore::GenerateMac(std::string zak_id,
                                                                   std::vector<std::uint8_t> data) {
  co_return ZoneMacNow(zak_id, data);
}

boost::asio::awaitable<Result<void>> SoftwareKeyStore::VerifyMac(std::string zak_id,
                                                                 std::vector<std::uint8_t> data,
                                                                 std::vector<std::uint8_t> mac) {
  co_return VerifyZoneMacNow(zak_id, data, mac);
}

std::shared_ptr<SoftwareKeyStore::DukptCache> SoftwareKeyStore::CacheFor(
    const std::string& bdk_id, std::span<const std::uint8_t> ksn) const {
  // The terminal: the BDK and the KSN without its counter (TDES: the leftmost 8 bytes with the
  // 21 counter bits cleared; AES: the 8-byte initial key ID). A malformed KSN gets a cache of
  // its own, and the derivation reports the error.
  std::string id = bdk_id;
  id += '\0';
  const std::size_t prefix = std::min<std::size_t>(ksn.size(), 8);
  id.append(reinterpret_cast<const char*>(ksn.data()), prefix);
  if (ksn.size() == kTdesKsnSize) {
    id.back() = static_cast<char>(id.back() & 0xE0);  // the counter's top 5 bits are in byte 7
  }
  std::lock_guard lock(dukpt_caches_->mu);
  auto& slot = dukpt_caches_->by_terminal[id];
  if (!slot) {
    if (dukpt_caches_->by_terminal.size() > kMaxDukptCaches) {
      dukpt_caches_->by_terminal.clear();  // many terminals: start again (caches are rebuilt)
      return dukpt_caches_->by_terminal[id] = std::make_shared<DukptCache>();
    }
    slot = std::make_shared<DukptCache>();
  }
  return slot;
}

Result<Mac8> SoftwareKeyStore::DukptMac(const std::string& bdk_id,
                                        std::span<const std::uint8_t> ksn, MacDirection direction,
                                        std::span<const std::uint8_t> data) const {
  auto bdk = Find(bdk_id, KeyKind::kBdk);
  if (!bdk) {
    return bdk.error();
  }
  auto cache = CacheFor(bdk_id, ksn);
  std::lock_guard lock(cache->mu);
  if ((*bdk)->algorithm == KeyAlgorithm::kTdes) {
    // ANSI X9.24-1:2009 A.2: the MAC request and MAC response variants of the transaction key.
    auto key = cache->tdes().WorkingKey((*bdk)->key, ksn,
                                        direction == MacDirection::kRequest
                                            ? TdesDukptVariant::kMacRequest
                                            : TdesDukptVariant::kMacResponse);
    if (!key) {
      return key.error();
    }
    return RetailMac(*key, data, MacPadding::kMethod1);
  }
  // ANSI X9.24-3:2017 6.6: MAC generation (0x2000) for requests, verification (0x2001) for
  // responses, as INTERFACE.md assigns them.
  auto key = cache->aes().WorkingKey((*bdk)->key, ksn,
                                     direction == MacDirection::kRequest
                                         ? AesDukptKeyUsage::kMacGeneration
                                         : AesDukptKeyUsage::kMacVerification,
                                     AesDukptKeyType::kAes128);
  if (!key) {
    return key.error();
  }
  return MessageMac(KeyAlgorithm::kAes, *key, data);
}

boost::asio::awaitable<Result<Mac8>> SoftwareKeyStore::GenerateDukptMac(
    std::string bdk_id, std::vector<std::uint8_t> ksn, MacDirection direction,
    std::vector<std::uint8_t> data) {
  co_return DukptMac(bdk_id, ksn, direction, data);
}

boost::asio::awaitable<Result<void>> SoftwareKeyStore::VerifyDukptMac(
    std::string bdk_id, std::vector<std::uint8_t> ksn, MacDirection direction,
    std::vector<std::uint8_t> data, std::vector<std::uint8_t> mac) {
  if (mac.size() != 8) {
    co_return Error::kBadMacLength;
  }
  auto computed = DukptMac(bdk_id, ksn, direction, data);
  if (!computed) {
    co_return computed.error();
  }
  const bool equal = internal::ConstantTimeEqual(*computed, mac);
  internal::Cleanse(computed->data(), computed->size());
  if (!equal) {
    co_return Error::kMacMismatch;
  }
  co_return Result<void>();
}

boost::asio::awaitable<Result<Kcv>> SoftwareKeyStore::CheckValue(std::string id) {
  auto it = keys_.find(id);
  if (it == keys_.end()) {
    co_return Error::kUnknownKeyId;
  }
  co_return it->second.kcv;
}

// ---- master/session terminals -------------------------------------------------------------------

boost::asio::awaitable<Result<KeyService::SessionKeyBlocks>> SoftwareKeyStore::IssueSessionKeys(
    std::string tmk_id) {
  auto tmk = Find(tmk_id, KeyKind::kTmk);
  if (!tmk) {
    co_return tmk.error();
  }
  const KeyAlgorithm algorithm = (*tmk)->algorithm;
  SessionKeyBlocks out;
  for (SessionKeyRole role : {SessionKeyRole::kPin, SessionKeyRole::kMac}) {
    SecretBytes key(16);
    SystemRandom().Fill(key.mutable_view());
    auto block = WrapSessionKey((*tmk)->key, algorithm, role, algorithm, key, SystemRandom());
    if (!block) {
      co_return block.error();
    }
    (role == SessionKeyRole::kPin ? out.pin : out.mac) = std::move(*block);
  }
  co_return out;
}

boost::asio::awaitable<Result<void>> SoftwareKeyStore::InstallSessionKeys(std::string tmk_id,
                                                                          std::string tid,
                                                                          SessionKeyBlocks blocks) {
  auto tmk = Find(tmk_id, KeyKind::kTmk);
  if (!tmk) {
    co_return tmk.error();
  }
  const KeyAlgorithm algorithm = (*tmk)->algorithm;
  auto pin = UnwrapSessionKey((*tmk)->key, algorithm, SessionKeyRole::kPin, blocks.pin);
  if (!pin) {
    co_return pin.error();
  }
  auto mac = UnwrapSessionKey((*tmk)->key, algorithm, SessionKeyRole::kMac, blocks.mac);
  if (!mac) {
    co_return mac.error();
  }
  std::unique_lock lock(sessions_->mu);
  Session& s = sessions_->by_tid[tid];
  s.previous_mac = std::move(s.mac);
  s.algorithm = algorithm;
  s.pin = std::move(*pin);
  s.mac = std::move(*mac);
  co_return Result<void>();
}

bool SoftwareKeyStore::HasSessionKeys(const std::string& tid) const {
  std::shared_lock lock(sessions_->mu);
  return sessions_->by_tid.contains(tid);
}

boost::asio::awaitable<Result<PinBlock>> SoftwareKeyStore::TranslateSessionPin(
    std::string tid, PinBlockFormat format, std::vector<std::uint8_t> block, std::string pan,
    std::string zpk_id) {
  auto zpk = Find(zpk_id, KeyKind::kZpk);
  if (!zpk) {
    co_return zpk.error();
  }
  if ((*zpk)->algorithm != KeyAlgorithm::kTdes) {
    co_return Error::kKeyTypeNotAllowed;  // issuers take format 0 under a TDES ZPK
  }
  std::shared_lock lock(sessions_->mu);
  auto it = sessions_->by_tid.find(tid);
  if (it == sessions_->by_tid.end()) {
    co_return Error::kUnknownKeyId;
  }
  co_return TranslatePin(format, it->second.pin, block, pan, (*zpk)->key);
}

Result<Mac8> SoftwareKeyStore::SessionMac(const std::string& tid, SessionSlot slot,
                                          std::span<const std::uint8_t> data) const {
  std::shared_lock lock(sessions_->mu);
  auto it = sessions_->by_tid.find(tid);
  if (it == sessions_->by_tid.end()) {
    return Error::kUnknownKeyId;
  }
  const SecretBytes& key = slot == SessionSlot::kCurrent ? it->second.mac : it->second.previous_mac;
  if (key.empty()) {
    return Error::kUnknownKeyId;
  }
  return MessageMac(it->second.algorithm, key, data);
}

boost::asio::awaitable<Result<Mac8>> SoftwareKeyStore::GenerateSessionMac(
    std::string tid, SessionSlot slot, std::vector<std::uint8_t> data) {
  co_return SessionMac(tid, slot, data);
}

boost::asio::awaitable<Result<KeyService::SessionSlot>> SoftwareKeyStore::VerifySessionMac(
    std::string tid, std::vector<std::uint8_t> data, std::vector<std::uint8_t> mac) {
  if (mac.size() != 8) {
    co_return Error::kBadMacLength;
  }
  for (SessionSlot slot : {SessionSlot::kCurrent, SessionSlot::kPrevious}) {
    auto computed = SessionMac(tid, slot, data);
    if (!computed) {
      if (slot == SessionSlot::kCurrent) {
        co_return computed.error();  // no session keys at all
      }
      break;
    }
    const bool equal = internal::ConstantTimeEqual(*computed, mac);
    internal::Cleanse(computed->data(), computed->size());
    if (equal) {
      co_return slot;
    }
  }
  co_return Error::kMacMismatch;
}

}  // namespace sy::crypto
