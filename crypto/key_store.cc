#include "crypto/key_store.h"

#include <algorithm>
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
    {KeyKind::kKek, "KEK", 'B'},  // wrap and unwrap key blocks for a key-injection facility
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
// (TDES) / M6 ISO 9797-1:2011 algorithm 5 = CMAC (AES), D0 data encryption, K1 TR-31 key block
// protection key.
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
    case KeyKind::kKek:
      return "K1";
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
  auto entry = Seal(kind, algorithm, key.Clone());
  if (!entry) {
    return entry.error();
  }
  keys_[id] = std::move(*entry);
  return {};
}

Result<SoftwareKeyStore::Entry> SoftwareKeyStore::Seal(KeyKind kind, KeyAlgorithm algorithm,
                                                       SecretBytes key) const {
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
  return Entry{kind, algorithm, std::move(key), *kcv, std::move(*block)};
}

std::string SoftwareKeyStore::Serialize() const {
  std::string out =
      "# switchyard key store: <id> <kind> <kcv> <TR-31 key block under the master key>\n";
  std::map<std::string_view, const Entry*> all;
  for (const auto& [id, e] : keys_) {
    all.emplace(id, &e);
  }
  std::shared_lock lock(generated_->mu);
  for (const auto& [id, e] : generated_->by_id) {
    all.emplace(id, &e);
  }
  for (const auto& [id, e] : all) {
    out += std::string(id) + " " + std::string(InfoOf(e->kind).name) + " " + ToHex(e->kcv) + " " +
           e->block + "\n";
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

const SoftwareKeyStore::Entry* SoftwareKeyStore::Lookup(const std::string& id) const {
  if (auto it = keys_.find(id); it != keys_.end()) {
    return &it->second;
  }
  // Only a key the file did not have (a TMK made by a rotation) reaches the lock.
  std::shared_lock lock(generated_->mu);
  auto it = generated_->by_id.find(id);
  return it == generated_->by_id.end() ? nullptr : &it->second;
}

Result<const SoftwareKeyStore::Entry*> SoftwareKeyStore::Find(const std::string& id,
                                                              KeyKind kind) const {
  const Entry* e = Lookup(id);
  if (e == nullptr) {
    return Error::kUnknownKeyId;
  }
  if (e->kind != kind) {
    return Error::kBadKeyUsage;
  }
  return e;
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
  const Entry* e = Lookup(id);
  if (e == nullptr) {
    co_return Error::kUnknownKeyId;
  }
  co_return e->kcv;
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

void SoftwareKeyStore::DropSessionKeys(const std::string& tid) {
  std::unique_lock lock(sessions_->mu);
  sessions_->by_tid.erase(tid);  // SecretBytes wipe themselves
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

// ---- key injection and rotation -----------------------------------------------------------------

std::string_view ComponentRefusalName(ComponentRefusal r) noexcept {
  switch (r) {
    case ComponentRefusal::kUnknownExport:
      return "no such export (never made, every component taken, or the switch restarted)";
    case ComponentRefusal::kBadIndex:
      return "no such component";
    case ComponentRefusal::kAlreadyTaken:
      return "the component was handed out before";
    case ComponentRefusal::kSameCustodian:
      return "dual control: the custodian already took another component of this export";
  }
  return "refused";
}

void throw_exception_from_error(ComponentRefusal r, const boost::source_location&) {
  throw std::runtime_error(std::string(ComponentRefusalName(r)));
}

Result<std::pair<SecretBytes, KeyAlgorithm>> SoftwareKeyStore::InitialKey(
    const TerminalKey& key) const {
  using Scheme = TerminalKey::Scheme;
  if (key.scheme == Scheme::kMasterSession) {
    auto tmk = Find(key.key_id, KeyKind::kTmk);
    if (!tmk) {
      return tmk.error();
    }
    return std::pair((*tmk)->key.Clone(), (*tmk)->algorithm);
  }
  auto bdk = Find(key.key_id, KeyKind::kBdk);
  if (!bdk) {
    return bdk.error();
  }
  const bool aes = key.scheme == Scheme::kAesDukpt;
  if ((*bdk)->algorithm != (aes ? KeyAlgorithm::kAes : KeyAlgorithm::kTdes)) {
    return Error::kBadKeyUsage;  // a TDES BDK for an AES DUKPT terminal, or the reverse
  }
  if (key.ksn.size() != (aes ? kAesKsnSize : kTdesKsnSize)) {
    return Error::kBadKsnLength;
  }
  // ANSI X9.24-1:2009 A.6 (the IPEK; the counter bits are cleared inside) or X9.24-3:2017 6.3.3
  // (the initial key from the 8-byte initial key ID, the KSN's leftmost 8 bytes).
  auto initial =
      aes ? DeriveAesInitialKey((*bdk)->key, std::span(key.ksn.data(), kAesInitialKeyIdSize))
          : DeriveTdesIpek((*bdk)->key, key.ksn);
  if (!initial) {
    return initial.error();
  }
  return std::pair(std::move(*initial), (*bdk)->algorithm);
}

Result<KeyBlockExport> SoftwareKeyStore::ExportTerminalKey(const TerminalKey& key,
                                                           const std::string& kek_id) const {
  auto kek = Find(kek_id, KeyKind::kKek);
  if (!kek) {
    return kek.error();
  }
  auto initial = InitialKey(key);
  if (!initial) {
    return initial.error();
  }
  const auto& [clear, algorithm] = *initial;
  const bool tdes_kek = (*kek)->algorithm == KeyAlgorithm::kTdes;
  // X9.24-1:2017 / X9.143: a key block protection key at least as strong as the key it carries.
  if (tdes_kek && algorithm == KeyAlgorithm::kAes) {
    return Error::kKeyTypeNotAllowed;
  }
  const bool tmk = key.scheme == TerminalKey::Scheme::kMasterSession;
  KeyBlockHeader header{.version = tdes_kek ? 'B' : 'D',
                        .usage = tmk ? "K0" : "B1",  // key encryption / initial DUKPT key
                        .algorithm = algorithm == KeyAlgorithm::kAes ? 'A' : 'T',
                        .mode_of_use = tmk ? 'D' : 'X',
                        .key_version = "00",
                        .exportability = 'E'};
  auto block = WrapKeyBlock((*kek)->key, header, clear, SystemRandom());
  if (!block) {
    return block.error();
  }
  auto kcv = KcvOf(algorithm, clear);
  if (!kcv) {
    return kcv.error();
  }
  return KeyBlockExport{std::move(*block), *kcv, (*kek)->kcv, algorithm};
}

Result<ComponentSet> SoftwareKeyStore::SplitTerminalKey(const std::string& export_id,
                                                        const TerminalKey& key, std::size_t count) {
  if (count != 2 && count != 3) {
    return Error::kBadInputLength;
  }
  if (export_id.empty()) {
    return Error::kBadKeyFile;
  }
  auto initial = InitialKey(key);
  if (!initial) {
    return initial.error();
  }
  const auto& [clear, algorithm] = *initial;
  ComponentSet out;
  out.algorithm = algorithm;
  out.key_length = clear.size();
  auto whole = KcvOf(algorithm, clear);
  if (!whole) {
    return whole.error();
  }
  out.key_kcv = *whole;
  // count - 1 random components; the last is the key XOR all of them, so together they XOR to the
  // key and any fewer say nothing about it.
  PendingExport pending;
  SecretBytes last = clear.Clone();
  for (std::size_t i = 0; i + 1 < count; ++i) {
    SecretBytes part(clear.size());
    SystemRandom().Fill(part.mutable_view());
    for (std::size_t j = 0; j < part.size(); ++j) {
      last.data()[j] ^= part.data()[j];
    }
    pending.parts.push_back(std::move(part));
  }
  pending.parts.push_back(std::move(last));
  for (const SecretBytes& part : pending.parts) {
    auto kcv = KcvOf(algorithm, part);
    if (!kcv) {
      return kcv.error();
    }
    out.component_kcvs.push_back(*kcv);
  }
  pending.kcvs = out.component_kcvs;
  pending.takers.resize(count);
  std::lock_guard lock(exports_->mu);
  if (exports_->by_id.contains(export_id)) {
    return Error::kBadKeyFile;
  }
  while (exports_->order.size() >= kMaxComponentExports) {
    exports_->by_id.erase(exports_->order.front());
    exports_->order.erase(exports_->order.begin());
  }
  exports_->by_id.emplace(export_id, std::move(pending));
  exports_->order.push_back(export_id);
  return out;
}

boost::system::result<KeyComponent, ComponentRefusal> SoftwareKeyStore::TakeComponent(
    const std::string& export_id, std::size_t index, const std::string& custodian) {
  std::lock_guard lock(exports_->mu);
  auto it = exports_->by_id.find(export_id);
  if (it == exports_->by_id.end()) {
    return ComponentRefusal::kUnknownExport;
  }
  PendingExport& p = it->second;
  if (index == 0 || index > p.parts.size()) {
    return ComponentRefusal::kBadIndex;
  }
  if (!p.takers[index - 1].empty()) {
    return ComponentRefusal::kAlreadyTaken;
  }
  if (std::find(p.takers.begin(), p.takers.end(), custodian) != p.takers.end()) {
    return ComponentRefusal::kSameCustodian;
  }
  KeyComponent out;
  out.key = std::move(p.parts[index - 1]);  // the moved-from part is wiped
  out.kcv = p.kcvs[index - 1];
  p.takers[index - 1] = custodian;
  const bool done = std::none_of(p.takers.begin(), p.takers.end(),
                                 [](const std::string& t) { return t.empty(); });
  if (done) {
    exports_->by_id.erase(it);
    exports_->order.erase(std::find(exports_->order.begin(), exports_->order.end(), export_id));
  }
  return out;
}

bool SoftwareKeyStore::DropComponents(const std::string& export_id) {
  std::lock_guard lock(exports_->mu);
  if (exports_->by_id.erase(export_id) == 0) {
    return false;
  }
  exports_->order.erase(std::find(exports_->order.begin(), exports_->order.end(), export_id));
  return true;
}

Result<Kcv> SoftwareKeyStore::GenerateKey(const std::string& id, KeyKind kind,
                                          KeyAlgorithm algorithm, std::size_t length) {
  if (id.empty() || id.find_first_of(" \t\r\n#") != std::string::npos) {
    return Error::kBadKeyFile;
  }
  if (!IsValidKeySize(algorithm, length)) {
    return Error::kBadKeyLength;
  }
  SecretBytes key(length);
  SystemRandom().Fill(key.mutable_view());
  auto entry = Seal(kind, algorithm, std::move(key));
  if (!entry) {
    return entry.error();
  }
  if (keys_.contains(id)) {
    return Error::kBadKeyFile;
  }
  const Kcv kcv = entry->kcv;
  std::unique_lock lock(generated_->mu);
  if (!generated_->by_id.emplace(id, std::move(*entry)).second) {
    return Error::kBadKeyFile;
  }
  return kcv;
}

Result<KeyInfo> SoftwareKeyStore::Describe(const std::string& id) const {
  const Entry* e = Lookup(id);
  if (e == nullptr) {
    return Error::kUnknownKeyId;
  }
  return KeyInfo{e->kind, e->algorithm, e->key.size(), e->kcv};
}

}  // namespace sy::crypto
