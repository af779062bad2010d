#pragma once

// Pieces of the pipeline shared by its translation units (pipeline.cc: admission, purchases,
// refunds, reversals; pipeline_followups.cc: voids, completions, batch close and upload). Not
// part of the switch's interface.
//
// GCC 12 and coroutines: never `co_await` inside a braced initializer, and never range-for over a
// braced list (`for (int n : {3, 4})`) in a coroutine that suspends in the loop — its storage is
// lost across the suspension (it crashed the void path); loop over a named static array instead.

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "crypto/key_store.h"
#include "iso8583/message.h"
#include "proto/journal.pb.h"
#include "storage/store.h"
#include "switch/pipeline.h"

namespace sy::server {
namespace pipeline_detail {

namespace asio = boost::asio;
inline constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

enum class Status { kProvisioned, kActive, kSuspended, kRetired };
Status ParseStatus(std::string_view s);
const char* StatusName(Status s);

bool Digits(std::string_view s);
// The answer's MTI: the request's + 10, and a repeat's answer is the original's (0401 -> 0410).
std::string ResponseMti(std::string_view mti);
std::int64_t Micros(std::chrono::system_clock::time_point t);
void AddEvent(proto::TransactionRecord& rec, proto::TxnState state, std::int64_t at,
              std::string_view rc, std::string_view note);
// The card's PAN from field 2, or from track 2 (35) before its separator.
std::string CardPan(const iso8583::Message& m);
// "00" -> purchase etc.: the transaction type (first two digits of field 3).
inline std::string_view TxnType(const iso8583::Message& m) { return m.Get(3).substr(0, 2); }
inline std::string_view TxnType(const proto::TransactionRecord& r) {
  return std::string_view(r.processing_code()).substr(0, 2);
}
// An approved debit of the open batch: a purchase (0200, 00xxxx) or completion (0220) answered
// 00 and neither reversed nor voided.
bool IsBatchDebit(const proto::TransactionRecord& r);
// An approved refund (0200, 20xxxx), not reversed or voided.
bool IsBatchCredit(const proto::TransactionRecord& r);

}  // namespace pipeline_detail

struct Pipeline::Terminal {
  const proto::TerminalProfile* profile = nullptr;
  std::size_t shard = 0;
  // Written only on shards_[shard]; atomic so tools and the admin API can read it anywhere.
  std::atomic<pipeline_detail::Status> status{pipeline_detail::Status::kProvisioned};
  // When the switch last heard from it (switch clock, microseconds): one relaxed store per request
  // on its shard, read anywhere. Stored at sign-on and by FlushSeen, never per transaction.
  std::atomic<std::int64_t> last_seen_micros{0};
  std::atomic<std::int64_t> last_seen_stored{0};  // what the store holds
  // The software version of its last sign-on that carried one (0800 field 48): written on the
  // shard at sign-on, read by the admin API.
  mutable std::mutex version_mu;
  std::string software_version;  // guarded by version_mu
  // Everything below is touched only on shards_[shard].
  bool ksn_loaded = false;  // the stored high-water mark has been read
  bool have_ksn = false;
  std::uint64_t ksn_high = 0;
  bool session_loaded = false;  // master/session: stored session keys installed
  struct Seen {
    std::array<std::uint8_t, 32> digest{};  // SHA-256 of the request frame (TPDU included)
    std::optional<std::string> response;    // the packed answer, once there is one
    // Cancelled when the answer is ready. Made only when something waits for the answer (a
    // retransmission or a reversal racing the original): most requests never need one.
    std::shared_ptr<boost::asio::steady_timer> done;
    std::string business_date;

    // The timer to wait on for this entry's answer, made on first need on `shard`, where the
    // terminal's state lives.
    template <class Executor>
    std::shared_ptr<boost::asio::steady_timer> Done(const Executor& shard) {
      if (!done) {
        done = std::make_shared<boost::asio::steady_timer>(
            shard, boost::asio::steady_timer::time_point::max());
      }
      return done;
    }
  };
  std::unordered_map<std::string, Seen> seen;  // by duplicate key; seen_order keeps the age
  std::deque<std::string> seen_order;
  // The business date whose stored duplicate window has been read into `seen` (after a restart
  // an exact retransmission still gets its original answer).
  std::string window_loaded_for;
};

struct Pipeline::Context {
  Request request;
  iso8583::Message msg;
  std::shared_ptr<Terminal> terminal;
  std::string business_date;
  std::vector<std::uint8_t> ksn;
  bool mac_response = false;  // the request's MAC verified: the answer is MACed too
  // Master/session: which of the terminal's MAC keys verified the request (the answer uses it).
  crypto::KeyService::SessionSlot session_slot = crypto::KeyService::SessionSlot::kCurrent;
  std::string duplicate_key;  // set once the request is in the duplicate window
  // For metrics: the answer's response code ("replay" for an answer from the duplicate window)
  // and the route the request went to, if any.
  std::string response_code;
  std::string route;
  // A raised KSN high-water mark not yet handed to the store.
  std::optional<storage::Mutation> ksn_mark;
};

}  // namespace sy::server
