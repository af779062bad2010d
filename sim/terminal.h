#pragma once

// sy::sim — the terminal simulator: a POS terminal that talks to the switch exactly as a real one
// does (docs: INTERFACE.md section 1, docs/terminal-messages.md for every field): TLS (or plain TCP
// when asked), `nac` framing with the TPDU 60 0001 0000 (or `ascii4`), dialect iso87b (or any
// other), and one of three key schemes:
//   - dukpt-tdes: ANSI X9.24-1, one new KSN per MACed request in field 62 (20 hex), an X9.19
//     retail MAC under the MAC-request variant, PIN blocks in ISO 9564 format 0 (PIN variant);
//   - dukpt-aes: ANSI X9.24-3, KSN of 24 hex, AES-CMAC (leftmost 8 bytes) under the
//     MAC-generation working key, answers under MAC-verification, PIN blocks in format 4 under
//     the PIN-encryption working key (all AES-128 working keys, as the switch derives them);
//   - master-session: a TMK, and PIN and MAC working keys received in 0810 field 48 as TR-31 key
//     blocks; no field 62.
// It connects once per transaction.
//
//   sy::sim::TerminalOptions options;                  // the demo terminal TERM0001 by default
//   options.ca_file = "data/tls/switch.crt";
//   sy::sim::TerminalClient term(options);            // throws on a bad key, KSN or dialect
//   auto answer = term.Purchase({.pan = "4761739001010010", .amount_minor = 1000, .pin = "1234"});
//   if (answer) std::cout << answer->response_code << (answer->mac_ok ? " MAC ok" : " MAC BAD");
//   auto closed = term.BatchClose();                  // 0500, uploads on 95, 0500 again
//
// The terminal's state (KSN counter, STAN, batch number, open batch, last transaction, and the
// master/session working keys as the TR-31 blocks received, i.e. still enciphered under the TMK)
// lives in a small JSON state file, written atomically before each request leaves, so that
// successive runs never replay a KSN or a STAN. The open batch holds full PANs: this is a
// simulator for TEST cards only. Not thread-safe: one terminal, one caller.

#include <array>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/cipher.h"
#include "crypto/secret_bytes.h"
#include "iso8583/dialect.h"
#include "iso8583/framing.h"
#include "iso8583/message.h"

namespace sy::sim {

enum class KeyScheme { kDukptTdes, kDukptAes, kMasterSession };

// "dukpt-tdes", "dukpt-aes", "master-session" (the switch configuration's names).
[[nodiscard]] std::string_view KeySchemeName(KeyScheme scheme) noexcept;
[[nodiscard]] std::optional<KeyScheme> KeySchemeFromName(std::string_view name) noexcept;

struct TerminalOptions {
  // The switch's terminal listener. Default: 127.0.0.1:8583 (the demo).
  std::string host = "127.0.0.1";
  std::uint16_t port = 8583;
  // TLS (true) or plain TCP (false). Default: true.
  bool tls = true;
  // PEM file of the certificate(s) to verify the switch against. Default: none (then `insecure`
  // must be set for TLS, else the constructor throws).
  std::string ca_file;
  // Skip certificate verification (demo only). Default: false.
  bool insecure = false;
  // Terminal and merchant identification (fields 41, 42). Default: the demo terminal.
  std::string tid = "TERM0001";
  std::string mid = "MERCHANT0000001";
  // How the terminal's keys work. Default: kDukptTdes.
  KeyScheme key_scheme = KeyScheme::kDukptTdes;
  // DUKPT: the BDK in hex (TEST key: 32 hex digits TDES; 32, 48 or 64 AES) and the initial KSN
  // (20 hex digits TDES, 24 AES). Default: the ANSI X9.24-1 test BDK and the demo terminal's
  // initial KSN (TDES).
  std::string bdk_hex = "0123456789ABCDEFFEDCBA9876543210";
  std::string initial_ksn_hex = "FFFF9876543210E00000";
  // DUKPT: the terminal's initial key in hex as a key-injection facility loads it — the TDES
  // IPEK (32 hex digits) or the AES initial key (32, 48 or 64) — used instead of bdk_hex, as a
  // real terminal holds no BDK. Default: none (derived from bdk_hex and the initial KSN).
  std::string initial_key_hex;
  // Sent in field 48 of every sign-on (0800, 70 = 001) when not empty: the software version the
  // switch shows for the terminal (printable, at most 32 characters). Default: none.
  std::string software_version;
  // master-session: the terminal master key in hex (a TEST key) and its algorithm (TR-31 version B
  // blocks under a TDES TMK, D under an AES one). Default: none, kTdes.
  std::string tmk_hex;
  crypto::KeyAlgorithm tmk_algorithm = crypto::KeyAlgorithm::kTdes;
  // A shipped dialect name or the path of a dialect YAML file. Default: iso87b.
  std::string dialect = "iso87b";
  // Framing: nac (2-byte length, then the TPDU when `tpdu`) or ascii4 (never a TPDU).
  // Default: nac with the TPDU 60 0001 0000.
  iso8583::FrameKind framing = iso8583::FrameKind::kNac;
  bool tpdu = true;
  // Where the terminal's state is kept. Empty: in memory only. Default: empty (the CLI sets
  // ./term-<TID>.state).
  std::string state_file;
  // How long one exchange (connect, handshake, request, answer) may take. Default: 30 s.
  std::chrono::milliseconds timeout{30000};
  // The wall clock for fields 7, 12 and 13. Default: std::chrono::system_clock::now.
  std::function<std::chrono::system_clock::time_point()> now;
};

// A purchase (0200) or a pre-authorization (0100).
struct PurchaseRequest {
  std::string pan;
  std::int64_t amount_minor = 0;
  std::string currency = "978";
  std::string expiry;              // YYMM; empty: field 14 not sent
  std::optional<std::string> pin;  // digits; set: field 52 and entry mode 051, else 012
  std::string icc;                 // raw EMV data for field 55; empty: not sent
};

// A refund (0200, 3 = 200000) of the purchase whose RRN is `rrn`. An empty `pan` (and `expiry`,
// `currency`) is taken from the purchase in this terminal's batch.
struct RefundRequest {
  std::string rrn;
  std::int64_t amount_minor = 0;
  std::string pan;
  std::string expiry;
  std::string currency;
  std::optional<std::string> pin;
};

// A void (0200, 3 = 020000) of the batch item whose RRN is `rrn`; PAN and amount default to the
// item's (they must be given when the item is not in this terminal's batch).
struct VoidRequest {
  std::string rrn;
  std::string pan;
  std::optional<std::int64_t> amount_minor;
  std::string expiry;
};

// A completion (0220) of the pre-authorization whose RRN is `rrn`, for the final amount. Empty
// `auth_code`, `pan`, `expiry`, `currency` come from the pre-authorization in this terminal's
// state.
struct CompletionRequest {
  std::string rrn;
  std::int64_t amount_minor = 0;
  std::string auth_code;
  std::string pan;
  std::string expiry;
  std::string currency;
};

// A reversal (0400, or 0401 when `repeat`) of the last financial request, or of the batch item
// (or last request) whose STAN is `stan`.
struct ReversalRequest {
  std::optional<std::string> stan;
  bool repeat = false;
};

// One financial request this terminal sent: its open batch, its pre-authorizations and its last
// request. The PAN is kept in clear: TEST cards only (see the banner).
struct BatchItem {
  enum class Status { kSent, kApproved, kDeclined, kVoided, kReversed, kCompleted };
  std::string mti;                // 0100, 0200 or 0220
  std::string stan;               // field 11
  std::string transmission_time;  // field 7
  std::string processing_code;    // field 3
  std::string pan;                // field 2
  std::string expiry;             // field 14 ("" when not sent)
  std::int64_t amount_minor = 0;  // field 4
  std::string currency;           // field 49
  std::string rrn;                // the answer's 37
  std::string auth_code;          // the answer's 38
  std::string original_rrn;       // the 37 sent (refund, void, completion)
  Status status = Status::kSent;
};
[[nodiscard]] std::string_view StatusName(BatchItem::Status status) noexcept;

// What a batch close reports (docs/terminal-messages.md): over approved purchases and completions
// (debits) and refunds (credits) still in the batch.
struct BatchTotals {
  std::int64_t debits_count = 0;
  std::int64_t debits_minor = 0;
  std::int64_t credits_count = 0;
  std::int64_t credits_minor = 0;
  std::string currency = "978";
};

struct Answer {
  iso8583::Message request;   // what was sent (with 52, 62, 64 as sent); owns its values
  iso8583::Message response;  // owns its values
  std::string response_code;  // field 39 ("" when absent)
  bool mac_sent = false;      // the request was MACed
  bool mac_present = false;   // the answer carried field 64 (or 128)
  bool mac_ok = false;        // ... and it verifies under the response key
  std::string ksn_hex;        // the KSN the request used ("" when none)
  std::uint32_t ksn_counter = 0;
  bool keys_installed = false;  // master-session: new working keys came in field 48
};

// "ok", "BAD" (a MAC that does not verify), "missing" (a MACed request's answer without one,
// other than a 63 or 30), "none" (none expected).
[[nodiscard]] std::string_view MacStatus(const Answer& answer) noexcept;

// The exchanges of one batch close, in order: the 0510, then on 95 each 0330 and the second
// 0510. `closed` when a 0510 said 00 (the batch was cleared and its number advanced); `error`
// when an exchange after the first failed (the batch stays open).
struct BatchCloseResult {
  std::vector<Answer> answers;
  bool closed = false;
  std::string closed_batch;  // the 6-digit number of the batch closed
};

// What went wrong when no answer came: a transport failure (connect, TLS, timeout, closed), a
// protocol failure (an answer that is not a frame, not the dialect, not for this request, a bad
// TPDU, bad working keys in 48), a state failure (the state file cannot be written, the KSN
// counter is exhausted) or a request that cannot be built from what was given (kUsage: bad
// values, an RRN not in the batch, no working keys yet).
struct TerminalError {
  enum class Kind { kTransport, kProtocol, kState, kUsage };
  Kind kind = Kind::kTransport;
  std::string message;  // one line, never key, PIN or full PAN data
  // Exchanges that completed before the failure (a batch close that failed during its upload).
  std::vector<Answer> completed;
};

template <class T>
using TerminalResult = boost::system::result<T, TerminalError>;

class TerminalClient {
 public:
  // Validates the options (keys, initial KSN, TMK, dialect, TLS settings, CA file) and loads the
  // state file; throws std::invalid_argument naming the option at fault, or the state file when
  // it belongs to another terminal, is not a state file, or holds keys the TMK does not unwrap.
  explicit TerminalClient(TerminalOptions options);
  ~TerminalClient();
  TerminalClient(const TerminalClient&) = delete;
  TerminalClient& operator=(const TerminalClient&) = delete;

  // 0800 with 70 = 001, MACed (a master/session terminal's first, keyless sign-on is not):
  // activates a provisioned terminal; master/session terminals take the new keys from 48.
  [[nodiscard]] TerminalResult<Answer> SignOn();
  // 0800 with 70 = 002 / 301, not MACed.
  [[nodiscard]] TerminalResult<Answer> SignOff();
  [[nodiscard]] TerminalResult<Answer> Echo();
  // 0800 with 70 = 101, MACed; master/session terminals take the new keys from 48.
  [[nodiscard]] TerminalResult<Answer> KeyChange();
  // 0200 purchase (3 = 000000) / 0100 pre-authorization; approved ones are kept in the state.
  [[nodiscard]] TerminalResult<Answer> Purchase(const PurchaseRequest& request);
  [[nodiscard]] TerminalResult<Answer> PreAuth(const PurchaseRequest& request);
  [[nodiscard]] TerminalResult<Answer> Refund(const RefundRequest& request);
  [[nodiscard]] TerminalResult<Answer> Void(const VoidRequest& request);
  [[nodiscard]] TerminalResult<Answer> Completion(const CompletionRequest& request);
  [[nodiscard]] TerminalResult<Answer> Reversal(const ReversalRequest& request = {});
  // 0500 920000 with the batch's totals; on 0510 95 one 0320 per item, then 0500 960000. A
  // failure of the first exchange is an error; of a later one an error whose `completed` holds the
  // exchanges before it.
  [[nodiscard]] TerminalResult<BatchCloseResult> BatchClose();

  // The last KSN counter used (from the state file at construction, else the initial KSN's).
  [[nodiscard]] std::uint32_t counter() const noexcept;
  // The last STAN used (0 before the first request).
  [[nodiscard]] std::uint32_t stan() const noexcept;
  // The open batch's number (1 to 999999).
  [[nodiscard]] std::uint32_t batch_number() const noexcept;
  // The batch and pre-authorization items, in the order they were approved.
  [[nodiscard]] const std::vector<BatchItem>& items() const noexcept;
  // The last financial request (0100, 0200, 0220), answered or not.
  [[nodiscard]] const std::optional<BatchItem>& last() const noexcept;
  [[nodiscard]] BatchTotals totals() const;
  // master-session: whether the terminal holds working keys.
  [[nodiscard]] bool has_working_keys() const noexcept;
  [[nodiscard]] const iso8583::Dialect& dialect() const noexcept { return *dialect_; }
  [[nodiscard]] const TerminalOptions& options() const noexcept { return options_; }

 private:
  struct Impl;
  struct Send;
  // Takes the next STAN (unless the request has one) and KSN, records `pending` as the last
  // request, persists the state, MACs the request, sends it, reads and checks the answer.
  TerminalResult<Answer> Exchange(iso8583::Message& request, const Send& send);
  TerminalResult<Answer> NetworkManagement(std::string_view code, bool maced);
  TerminalResult<Answer> Authorize(std::string_view mti, const PurchaseRequest& request);
  // Sends a 0100/0200/0220 and applies an approval to the batch and the state file.
  TerminalResult<Answer> Financial(iso8583::Message& request, BatchItem item,
                                   const std::optional<std::string>& pin);
  void LoadState();
  TerminalResult<void> SaveState();

  TerminalOptions options_;
  std::shared_ptr<const iso8583::Dialect> dialect_;
  std::unique_ptr<Impl> impl_;
};

// Parses a KSN state file's text in the first format ("<initial KSN hex> <counter>"): the counter
// when the initial KSN matches (20 hex TDES, 24 AES), std::nullopt otherwise (another terminal's
// file, or garbage).
[[nodiscard]] std::optional<std::uint32_t> ParseKsnState(std::string_view text,
                                                         std::string_view initial_ksn_hex);

// "approved", "do not honour", ... for a field 39 value; "unknown" otherwise.
[[nodiscard]] std::string_view DescribeResponseCode(std::string_view code);

}  // namespace sy::sim
