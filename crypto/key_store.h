#pragma once

// The key store: a software HSM. Keys (BDKs, terminal master keys, zone PIN keys, zone MAC keys,
// data keys) are kept by id, each bound to its usage, and persisted only as TR-31 version D key
// blocks under a master key (AES, from a file or an environment variable) — never in the clear on
// disk. Callers never see a clear key: they ask for operations (translate a PIN, make or check a
// MAC). The interface is awaitable so a PKCS#11 hardware HSM, which answers in milliseconds, can
// replace the software one without touching callers.
//
//   auto store = SoftwareKeyStore::Load(master, std::string_view(file_text)).value();
//   PinBlock out = co_await store.TranslateDukptPin("bdk-1", ksn, PinBlockFormat::kIso0, block,
//                                                   pan, "zpk-visa");
//
// File format, one key per line ('#' starts a comment):
//   <id> <kind> <kcv> <TR-31 key block>
// kind is BDK, TMK, ZPK, ZAK, DATA or KEK (a key-injection facility's transport key, TR-31 usage
// K1); kcv is the 6-hex-digit check value of the clear key (TDES: encrypt zeros; AES: CMAC),
// checked at load.

#include <boost/asio/awaitable.hpp>
#include <boost/assert/source_location.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/cipher.h"
#include "crypto/dukpt_aes.h"
#include "crypto/dukpt_tdes.h"
#include "crypto/error.h"
#include "crypto/kcv.h"
#include "crypto/mac.h"
#include "crypto/pan_protector.h"
#include "crypto/pin_block.h"
#include "crypto/secret_bytes.h"

namespace sy::crypto {

enum class KeyKind { kBdk, kTmk, kZpk, kZak, kDataKey, kKek };

// Why a key file did not load: the error, the id of the key at fault (empty when the line had no
// id) and the 1-based line. Never contains key material.
struct KeyStoreError {
  Error code = Error::kBadKeyBlock;
  std::string key_id;
  std::size_t line = 0;
  // "key 'zpk-visa' (line 3): key check value mismatch"
  [[nodiscard]] std::string Describe() const;
};

[[noreturn]] void throw_exception_from_error(const KeyStoreError& e,
                                             const boost::source_location& loc);

// The operations a key store offers. Every method is a coroutine; implementations may suspend
// (a hardware HSM round trip) or complete inline (software).
class KeyService {
 public:
  virtual ~KeyService() = default;

  // Deciphers a PIN block under the DUKPT PIN key of `bdk_id` for `ksn` (TDES: 10-byte KSN,
  // formats 0/1/3; AES: 12-byte KSN, format 4 with an AES-128 PIN key) and re-enciphers it in
  // format 0 under the ZPK `zpk_id`. kBadKeyUsage when the ids name keys of another kind.
  virtual boost::asio::awaitable<Result<PinBlock>> TranslateDukptPin(
      std::string bdk_id, std::vector<std::uint8_t> ksn, PinBlockFormat format,
      std::vector<std::uint8_t> block, std::string pan, std::string zpk_id) = 0;

  // ISO 9797-1 algorithm 3 (TDES ZAK, padding method 1) or AES-CMAC (AES ZAK, leftmost 8 bytes).
  virtual boost::asio::awaitable<Result<Mac8>> GenerateMac(std::string zak_id,
                                                           std::vector<std::uint8_t> data) = 0;
  virtual boost::asio::awaitable<Result<void>> VerifyMac(std::string zak_id,
                                                         std::vector<std::uint8_t> data,
                                                         std::vector<std::uint8_t> mac) = 0;

  // A DUKPT terminal's message MAC (ANSI X9.24 and INTERFACE.md): TDES — ISO 9797-1 algorithm 3,
  // padding method 1, under the MAC-request variant (kRequest) or MAC-response variant
  // (kResponse) of the KSN's transaction key; AES — AES-CMAC, leftmost 8 bytes, under the
  // AES-128 MAC-generation (0x2000, requests) or MAC-verification (0x2001, responses) working key.
  // kBadKeyUsage when bdk_id is not a BDK.
  enum class MacDirection { kRequest, kResponse };
  virtual boost::asio::awaitable<Result<Mac8>> GenerateDukptMac(std::string bdk_id,
                                                                std::vector<std::uint8_t> ksn,
                                                                MacDirection direction,
                                                                std::vector<std::uint8_t> data) = 0;
  // Constant-time check of a received MAC; kMacMismatch when it differs.
  virtual boost::asio::awaitable<Result<void>> VerifyDukptMac(std::string bdk_id,
                                                              std::vector<std::uint8_t> ksn,
                                                              MacDirection direction,
                                                              std::vector<std::uint8_t> data,
                                                              std::vector<std::uint8_t> mac) = 0;

  // The key check value of a stored key (never the key).
  virtual boost::asio::awaitable<Result<Kcv>> CheckValue(std::string id) = 0;

  // ---- master/session terminals (INTERFACE.md: 0800 001 and 101, 0810 field 48) ----
  // A terminal's working keys as TR-31 key blocks under its terminal master key (version B for a
  // TDES TMK, D for an AES TMK; PIN key P0, MAC key M3 or M6): what the 0810 carries, and the
  // only form in which the switch stores them.
  struct SessionKeyBlocks {
    std::string pin;
    std::string mac;
  };
  // A terminal's MAC keys: the current one, or the one it replaced (kept so that a terminal that
  // never heard the 0810 of a key change can still sign on with the keys it has).
  enum class SessionSlot { kCurrent, kPrevious };

  // New random PIN and MAC keys (double-length TDES under a TDES TMK, AES-128 under an AES TMK)
  // wrapped under the TMK `tmk_id`. Installs nothing: see InstallSessionKeys.
  virtual boost::asio::awaitable<Result<SessionKeyBlocks>> IssueSessionKeys(std::string tmk_id) = 0;
  // Unwraps the blocks under `tmk_id` (kKeyBlockAttributeMismatch when a block is not for its
  // role) and makes them terminal `tid`'s current keys; its current MAC key becomes the previous.
  virtual boost::asio::awaitable<Result<void>> InstallSessionKeys(std::string tmk_id,
                                                                  std::string tid,
                                                                  SessionKeyBlocks blocks) = 0;
  // From `tid`'s session PIN key (format 0/1/3 under TDES, 4 under AES) to format 0 under the
  // ZPK. kUnknownKeyId when the terminal has no session keys.
  virtual boost::asio::awaitable<Result<PinBlock>> TranslateSessionPin(
      std::string tid, PinBlockFormat format, std::vector<std::uint8_t> block, std::string pan,
      std::string zpk_id) = 0;
  // X9.19 retail MAC (TDES) or AES-CMAC, leftmost 8 bytes (AES), under `tid`'s MAC key.
  virtual boost::asio::awaitable<Result<Mac8>> GenerateSessionMac(
      std::string tid, SessionSlot slot, std::vector<std::uint8_t> data) = 0;
  // Which key the MAC verifies under (current first); kMacMismatch when neither.
  virtual boost::asio::awaitable<Result<SessionSlot>> VerifySessionMac(
      std::string tid, std::vector<std::uint8_t> data, std::vector<std::uint8_t> mac) = 0;
  // Whether terminal `tid` has session keys installed.
  [[nodiscard]] virtual bool HasSessionKeys(const std::string& tid) const = 0;
  // Forgets terminal `tid`'s session keys (current and previous): its TMK was replaced, so they
  // must not verify anything any more. Nothing happens when it has none.
  virtual void DropSessionKeys(const std::string& tid) = 0;
};

// ---- key injection (docs/admin.md, "Keys for the key-injection facility") ----------------------

// A terminal's initial key material as the key-injection facility loads it into the device.
struct TerminalKey {
  enum class Scheme { kTdesDukpt, kAesDukpt, kMasterSession };
  Scheme scheme = Scheme::kTdesDukpt;
  std::string key_id;             // the BDK (DUKPT) or the terminal master key (master/session)
  std::vector<std::uint8_t> ksn;  // DUKPT: the initial KSN (10 bytes TDES, 12 AES); else empty
};

// A terminal's initial key as a TR-31 key block under a transport key.
struct KeyBlockExport {
  std::string block;  // version B under a TDES KEK, D under an AES KEK
  Kcv key_kcv{};      // of the key inside (TDES: encrypt zeros; AES: CMAC)
  Kcv kek_kcv{};
  KeyAlgorithm algorithm = KeyAlgorithm::kTdes;  // of the key inside
};

// A terminal's initial key split into XOR components, kept in the key store until taken.
struct ComponentSet {
  std::vector<Kcv> component_kcvs;  // component i + 1's check value
  Kcv key_kcv{};                    // of the whole key
  KeyAlgorithm algorithm = KeyAlgorithm::kTdes;
  std::size_t key_length = 0;  // bytes
};

// One component, once.
struct KeyComponent {
  SecretBytes key;
  Kcv kcv{};
};

// Why a component was not handed out.
enum class ComponentRefusal {
  kUnknownExport,  // no such export (never made, every component taken, or the switch restarted)
  kBadIndex,       // not 1..count
  kAlreadyTaken,   // that component was handed out before
  kSameCustodian,  // the custodian already took another component of this export
};
[[nodiscard]] std::string_view ComponentRefusalName(ComponentRefusal r) noexcept;
[[noreturn]] void throw_exception_from_error(ComponentRefusal r, const boost::source_location& loc);

// What a key is, never the key.
struct KeyInfo {
  KeyKind kind = KeyKind::kZpk;
  KeyAlgorithm algorithm = KeyAlgorithm::kTdes;
  std::size_t length = 0;
  Kcv kcv{};
};

// The software implementation. Holds the unwrapped keys in SecretBytes (wiped on destruction).
// Thread-safe for concurrent calls once loaded (no call mutates it); AddKey is not.
class SoftwareKeyStore final : public KeyService {
 public:
  // Loads a key file under the master key (AES-128/192/256). Every block's MAC is checked, every
  // block's header must match its kind (a ZPK must be a P0 key, a ZAK an M3/M6 key, ...), and
  // every KCV must match; the first failure is returned with the key's id.
  [[nodiscard]] static boost::system::result<SoftwareKeyStore, KeyStoreError> Load(
      const SecretBytes& master_key, std::string_view file_text);

  // The master key from the environment variable `env_var` (hex; nullptr for none) or, when
  // unset, from the file
  // `path` (hex, surrounding whitespace ignored). kBadHex / kBadKeyLength / kBadInputLength.
  [[nodiscard]] static Result<SecretBytes> LoadMasterKey(const char* env_var,
                                                         const std::string& path);

  explicit SoftwareKeyStore(SecretBytes master_key) : master_(std::move(master_key)) {}

  // Adds (or replaces) a key: wraps it under the master key with the kind's TR-31 attributes.
  // `algorithm` says how the key is used (TDES or AES).
  [[nodiscard]] Result<void> AddKey(const std::string& id, KeyKind kind, KeyAlgorithm algorithm,
                                    const SecretBytes& key);

  // Synchronous zone MACs for the issuer links' framing code (a software store answers at once;
  // an HSM-backed link would use the awaitable GenerateMac/VerifyMac): ISO 9797-1 algorithm 3
  // (TDES ZAK) or AES-CMAC's leftmost 8 bytes (AES ZAK); the check is constant-time.
  [[nodiscard]] Result<Mac8> ZoneMacNow(const std::string& zak_id,
                                        std::span<const std::uint8_t> data) const;
  [[nodiscard]] Result<void> VerifyZoneMacNow(const std::string& zak_id,
                                              std::span<const std::uint8_t> data,
                                              std::span<const std::uint8_t> mac) const;

  // The key file text (TR-31 blocks and KCVs only).
  [[nodiscard]] std::string Serialize() const;

  // A PanProtector over the DATA key `id` (the key never leaves crypto/). kBadKeyUsage when `id`
  // is another kind of key; kBadKeyLength unless it is an AES-256 key.
  [[nodiscard]] Result<PanProtector> MakePanProtector(const std::string& id) const;

  // Ids of loaded keys that are published test keys (their check value is one of the well-known
  // test keys': the ANSI X9.24-1 and X9.24-3 test BDKs, ...). A production switch refuses them.
  [[nodiscard]] std::vector<std::string> TestKeyIds() const;

  boost::asio::awaitable<Result<PinBlock>> TranslateDukptPin(
      std::string bdk_id, std::vector<std::uint8_t> ksn, PinBlockFormat format,
      std::vector<std::uint8_t> block, std::string pan, std::string zpk_id) override;
  boost::asio::awaitable<Result<Mac8>> GenerateMac(std::string zak_id,
                                                   std::vector<std::uint8_t> data) override;
  boost::asio::awaitable<Result<void>> VerifyMac(std::string zak_id, std::vector<std::uint8_t> data,
                                                 std::vector<std::uint8_t> mac) override;
  boost::asio::awaitable<Result<Mac8>> GenerateDukptMac(std::string bdk_id,
                                                        std::vector<std::uint8_t> ksn,
                                                        MacDirection direction,
                                                        std::vector<std::uint8_t> data) override;
  boost::asio::awaitable<Result<void>> VerifyDukptMac(std::string bdk_id,
                                                      std::vector<std::uint8_t> ksn,
                                                      MacDirection direction,
                                                      std::vector<std::uint8_t> data,
                                                      std::vector<std::uint8_t> mac) override;
  boost::asio::awaitable<Result<Kcv>> CheckValue(std::string id) override;
  boost::asio::awaitable<Result<SessionKeyBlocks>> IssueSessionKeys(std::string tmk_id) override;
  boost::asio::awaitable<Result<void>> InstallSessionKeys(std::string tmk_id, std::string tid,
                                                          SessionKeyBlocks blocks) override;
  void DropSessionKeys(const std::string& tid) override;
  boost::asio::awaitable<Result<PinBlock>> TranslateSessionPin(std::string tid,
                                                               PinBlockFormat format,
                                                               std::vector<std::uint8_t> block,
                                                               std::string pan,
                                                               std::string zpk_id) override;
  boost::asio::awaitable<Result<Mac8>> GenerateSessionMac(std::string tid, SessionSlot slot,
                                                          std::vector<std::uint8_t> data) override;
  boost::asio::awaitable<Result<SessionSlot>> VerifySessionMac(
      std::string tid, std::vector<std::uint8_t> data, std::vector<std::uint8_t> mac) override;
  [[nodiscard]] bool HasSessionKeys(const std::string& tid) const override;

  // ---- key injection and rotation (not on the transaction path: synchronous) ----
  // The clear key of every operation below is made here, held in SecretBytes and wiped; callers
  // see key blocks, components (each once) and check values. Thread-safe.

  // The terminal's initial key as a TR-31 key block under the KEK `kek_id` (version B for a TDES
  // KEK, D for an AES one; exportability E, key version 00):
  //   TDES DUKPT: the IPEK of the BDK and initial KSN (ANSI X9.24-1:2009 A.6), usage B1, 'T', 'X';
  //   AES DUKPT: the initial key of the BDK and initial key ID (X9.24-3:2017 6.3.3), B1, 'A', 'X';
  //   master/session: the TMK itself, usage K0, mode 'D' (the terminal only unwraps with it).
  // kUnknownKeyId, kBadKeyUsage (kek_id not a KEK, key_id not a BDK/TMK), kBadKsnLength,
  // kKeyTypeNotAllowed (an AES key would travel under a TDES KEK: a key block protection key
  // must be at least as strong as what it protects).
  [[nodiscard]] Result<KeyBlockExport> ExportTerminalKey(const TerminalKey& key,
                                                         const std::string& kek_id) const;
  // The same key split into `count` (2 or 3) random XOR components, kept under `export_id` for
  // TakeComponent. kBadInputLength when count is not 2 or 3, kBadKeyFile when export_id is
  // empty or already used; the errors of ExportTerminalKey otherwise. At most
  // kMaxComponentExports exports wait at a time; the oldest is dropped (wiped) beyond that.
  [[nodiscard]] Result<ComponentSet> SplitTerminalKey(const std::string& export_id,
                                                      const TerminalKey& key, std::size_t count);
  // Component `index` (1-based) of an export, handed out once and wiped here; dual control: a
  // custodian who took one component of an export never gets another. When the last component is
  // taken the export is gone.
  [[nodiscard]] boost::system::result<KeyComponent, ComponentRefusal> TakeComponent(
      const std::string& export_id, std::size_t index, const std::string& custodian);
  // Discards an export's remaining components. False when there was no such export.
  bool DropComponents(const std::string& export_id);
  static constexpr std::size_t kMaxComponentExports = 64;

  // A new random key of `kind` (`length` bytes of `algorithm`) under the new id `id`, usable at
  // once and included in Serialize (save the key file afterwards). kBadKeyFile when the id is
  // taken or not a valid id; kBadKeyLength. Returns its check value.
  [[nodiscard]] Result<Kcv> GenerateKey(const std::string& id, KeyKind kind, KeyAlgorithm algorithm,
                                        std::size_t length);
  // The kind, algorithm, length and check value of key `id`; kUnknownKeyId.
  [[nodiscard]] Result<KeyInfo> Describe(const std::string& id) const;

 private:
  struct Entry {
    KeyKind kind = KeyKind::kZpk;
    KeyAlgorithm algorithm = KeyAlgorithm::kTdes;
    SecretBytes key;
    Kcv kcv{};
    std::string block;  // the TR-31 key block, as persisted
  };

  // `key` with its check value and its TR-31 block under the master key (version D, not
  // exportable), as the key file keeps it. kBadKeyLength for a size the algorithm does not have.
  [[nodiscard]] Result<Entry> Seal(KeyKind kind, KeyAlgorithm algorithm, SecretBytes key) const;
  // The key `id` if it exists and is of `kind`; kBadKeyUsage otherwise (a ZPK never MACs).
  [[nodiscard]] Result<const Entry*> Find(const std::string& id, KeyKind kind) const;
  // The key `id` of any kind, loaded or generated; nullptr when none.
  [[nodiscard]] const Entry* Lookup(const std::string& id) const;
  // The clear initial key of a terminal (IPEK, AES initial key or TMK) and its algorithm.
  [[nodiscard]] Result<std::pair<SecretBytes, KeyAlgorithm>> InitialKey(
      const TerminalKey& key) const;
  [[nodiscard]] Result<Mac8> Mac(const Entry& zak, std::span<const std::uint8_t> data) const;
  [[nodiscard]] Result<Mac8> DukptMac(const std::string& bdk_id, std::span<const std::uint8_t> ksn,
                                      MacDirection direction,
                                      std::span<const std::uint8_t> data) const;

  // Terminals' session keys: installed at run time, so guarded (the keys above are immutable
  // once loaded).
  struct Session {
    KeyAlgorithm algorithm = KeyAlgorithm::kTdes;
    SecretBytes pin;
    SecretBytes mac;
    SecretBytes previous_mac;  // empty when none
  };
  struct Sessions {
    mutable std::shared_mutex mu;
    std::map<std::string, Session, std::less<>> by_tid;
  };
  [[nodiscard]] Result<Mac8> SessionMac(const std::string& tid, SessionSlot slot,
                                        std::span<const std::uint8_t> data) const;

  // DUKPT host caches, one per terminal (BDK id and initial KSN): a transaction's three uses of
  // its KSN (MAC check, PIN translation, response MAC) derive the transaction key once, and a
  // terminal's next KSN costs one or two steps instead of up to 21. Cleared when it grows past
  // kMaxDukptCaches terminals.
  struct DukptCache {
    std::mutex mu;
    // Only the terminal's scheme is ever made (each holds a path of keys: a kilobyte or two).
    std::unique_ptr<TdesDukptHostCache> tdes_cache;
    std::unique_ptr<AesDukptHostCache> aes_cache;
    TdesDukptHostCache& tdes() {
      if (!tdes_cache) {
        tdes_cache = std::make_unique<TdesDukptHostCache>();
      }
      return *tdes_cache;
    }
    AesDukptHostCache& aes() {
      if (!aes_cache) {
        aes_cache = std::make_unique<AesDukptHostCache>();
      }
      return *aes_cache;
    }
  };
  struct DukptCaches {
    std::mutex mu;
    std::map<std::string, std::shared_ptr<DukptCache>, std::less<>> by_terminal;
  };
  static constexpr std::size_t kMaxDukptCaches = 100000;
  [[nodiscard]] std::shared_ptr<DukptCache> CacheFor(const std::string& bdk_id,
                                                     std::span<const std::uint8_t> ksn) const;

  // Keys generated at run time (GenerateKey): guarded, and never erased or replaced, so an Entry*
  // found stays valid. keys_ (loaded, then immutable) is read without a lock.
  struct Generated {
    mutable std::shared_mutex mu;
    std::map<std::string, Entry, std::less<>> by_id;
  };
  // Components waiting for their custodians.
  struct PendingExport {
    std::vector<SecretBytes> parts;   // wiped (emptied) once taken
    std::vector<std::string> takers;  // who took each part; empty while not taken
    std::vector<Kcv> kcvs;
  };
  struct Exports {
    std::mutex mu;
    std::map<std::string, PendingExport, std::less<>> by_id;
    std::vector<std::string> order;  // oldest first
  };

  SecretBytes master_;
  std::map<std::string, Entry> keys_;
  std::unique_ptr<Generated> generated_ = std::make_unique<Generated>();
  std::unique_ptr<Exports> exports_ = std::make_unique<Exports>();
  std::unique_ptr<Sessions> sessions_ = std::make_unique<Sessions>();
  std::unique_ptr<DukptCaches> dukpt_caches_ = std::make_unique<DukptCaches>();
};

}  // namespace sy::crypto
