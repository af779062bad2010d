// "Approved means durable", tested at process level: a writer process appends to the journal
// with many concurrent producers and reports each append on a pipe the moment AppendSync returns;
// this process kills it with SIGKILL at a random moment, reopens the store and checks that every
// reported append is there, whole, indexed and with a consistent in-flight mark, and that the
// store opens cleanly. The same store directory is used for every kill, so it grows across them.
//
// This process never opens the store itself: the writer and the verifier are both forks of it.
// RocksDB starts background threads (Env::Default's pools, the periodic-task timer) that would not
// exist in a child forked after they started, and a lock one of them held at fork time would stay
// held forever in the child. So the gtest process stays single-threaded and every fork is safe.
//
// What SIGKILL proves: an acknowledged append was handed to the kernel before it was acknowledged,
// and RocksDB recovers a WAL cut at any point into a consistent database. What it cannot prove:
// that the fdatasync happened, since the page cache outlives the process (that needs a power-cut
// test, e.g. on dm-flakey or LazyFS).
//
// Reproduce a run with SY_CRASH_SEED=<seed printed by the test>; SY_CRASH_ROUNDS overrides the
// number of kills (default 50).

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "crypto/pan_protector.h"
#include "crypto/secret_bytes.h"
#include "storage/journal.h"
#include "storage/store.h"

namespace sy::storage {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kProducers = 16;
constexpr std::string_view kTransmissionTime = "1127093001";
constexpr std::uint32_t kMagic = 0x434a5953;   // "SYJC"
constexpr std::uint32_t kFullCheckEvery = 10;  // kills between checks of the whole store
constexpr std::uint64_t kFabricatedId = std::uint64_t{1} << 40;  // never assigned by a journal

// What the writer reports: one write() per report, far below PIPE_BUF, so a report is never torn
// and never interleaved with another producer's.
enum class Kind : std::uint8_t {
  kForwarded = 1,  // the TXN_FORWARDED version of `id` is durable
  kAnswered = 2,   // the TXN_ANSWERED version of `id` is durable
  kIdle = 3,       // the writer appends nothing more
  kFailed = 4,     // the writer could not open the store (seq 1) or append (seq 2): `error`
};
struct Report {
  std::uint32_t magic;
  Kind kind;
  std::uint8_t producer;
  std::uint16_t round;
  std::uint32_t seq;
  std::int32_t error;
  std::uint64_t id;
};
static_assert(sizeof(Report) == 24 && sizeof(Report) < PIPE_BUF);

// Every field of a record derives from (round, producer, seq), so the verifier knows what each
// reported id must hold. Each 8th transaction is forwarded then answered, each 8th (offset 4) is
// forwarded and never answered (lost in flight), the rest are answered at once.
std::string Digits(std::uint32_t v, int width) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%0*" PRIu32, width, v);
  return buf;
}
std::string Tid(std::uint32_t round, std::uint32_t producer) {
  return "R" + Digits(round, 3) + "P" + Digits(producer, 3);
}
std::string Stan(std::uint32_t seq) { return Digits(seq, 6); }
std::string Rrn(std::uint32_t round, std::uint32_t producer, std::uint32_t seq) {
  return Digits(round, 3) + Digits(producer, 3) + Digits(seq, 6);
}
std::string Pan(std::uint32_t round, std::uint32_t producer, std::uint32_t seq) {
  return "4761" + Rrn(round, producer, seq);
}
bool PlannedForward(std::uint32_t seq) { return seq % 4 == 0; }
bool PlannedAnswer(std::uint32_t seq) { return seq % 8 != 4; }

proto::TransactionRecord MakeRecord(std::uint32_t round, std::uint32_t producer,
                                    std::uint32_t seq) {
  proto::TransactionRecord r;
  r.set_tid(Tid(round, producer));
  r.set_mid("MERCHANT0000001");
  r.set_mti("0200");
  r.set_processing_code("000000");
  r.set_stan(Stan(seq));
  r.set_rrn(Rrn(round, producer, seq));
  r.set_transmission_time(std::string(kTransmissionTime));
  r.set_amount_minor(seq + 1);
  r.set_currency(978);
  r.set_business_date("20261127");
  r.set_state(PlannedForward(seq) ? proto::TXN_FORWARDED : proto::TXN_ANSWERED);
  if (!PlannedForward(seq)) {
    r.set_response_code("00");
  }
  return r;
}

crypto::PanProtector MakePans() {
  auto key = crypto::SecretBytes(32);
  for (std::size_t i = 0; i < key.size(); ++i) {
    key.data()[i] = static_cast<std::uint8_t>(i * 7 + 1);
  }
  return crypto::PanProtector::Create("crash-test", key).value();
}

enum class WriterMode {
  kProducers,     // kProducers threads append until killed
  kIdleAtOnce,    // opens the store, reports idle, waits to be killed
  kIdleAfterFew,  // appends a few records from one thread, reports idle, waits to be killed
  kLying,         // like kProducers, but also reports one append it never made
};

// The writer process. Never returns: it is killed, or _exit()s on a pipe error or its alarm.
[[noreturn]] void RunWriter(const std::string& dir, int fd, std::uint16_t round, WriterMode mode) {
  alarm(120);  // SIGALRM ends a writer whose parent died before killing it
  auto send = [fd](const Report& r) {
    if (write(fd, &r, sizeof r) != static_cast<ssize_t>(sizeof r)) {
      _exit(3);  // the parent is gone
    }
  };
  auto failed = [&](std::uint32_t stage, boost::system::error_code ec) {
    send({.magic = kMagic,
          .kind = Kind::kFailed,
          .round = round,
          .seq = stage,
          .error = ec.value()});
    _exit(2);
  };
  std::string why;
  auto opened = Store::Open({.path = dir}, &why);
  if (!opened) {
    failed(1, opened.error());
  }
  std::unique_ptr<Store> store = std::move(*opened);
  const crypto::PanProtector pans = MakePans();
  Journal journal(*store, &pans);

  // One transaction's life: each durable append is reported; a failed one ends the writer.
  auto transact = [&](std::uint8_t producer, std::uint32_t seq) {
    proto::TransactionRecord rec = MakeRecord(round, producer, seq);
    if (auto ec = journal.AppendSync(rec, Pan(round, producer, seq)); ec) {
      failed(2, ec);
    }
    send({.magic = kMagic,
          .kind = PlannedForward(seq) ? Kind::kForwarded : Kind::kAnswered,
          .producer = producer,
          .round = round,
          .seq = seq,
          .id = rec.id()});
    if (PlannedForward(seq) && PlannedAnswer(seq)) {
      rec.set_state(proto::TXN_ANSWERED);
      rec.set_response_code("00");
      if (auto ec = journal.AppendSync(rec, {}); ec) {  // keeps the sealed PAN
        failed(2, ec);
      }
      send({.magic = kMagic,
            .kind = Kind::kAnswered,
            .producer = producer,
            .round = round,
            .seq = seq,
            .id = rec.id()});
    }
  };

  if (mode == WriterMode::kIdleAtOnce || mode == WriterMode::kIdleAfterFew) {
    if (mode == WriterMode::kIdleAfterFew) {
      for (std::uint32_t seq = 0; seq < 24; ++seq) {
        transact(0, seq);
      }
    }
    send({.magic = kMagic, .kind = Kind::kIdle, .round = round});
    while (true) {
      pause();
    }
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, producer = static_cast<std::uint8_t>(p)] {
      for (std::uint32_t seq = 0; seq < 1000000; ++seq) {
        transact(producer, seq);
        if (mode == WriterMode::kLying && producer == 0 && seq == 0) {
          send({.magic = kMagic,
                .kind = Kind::kAnswered,
                .producer = producer,
                .round = round,
                .seq = 999999,
                .id = kFabricatedId});
        }
      }
    });
  }
  for (auto& t : producers) {
    t.join();
  }
  _exit(0);
}

// The read end of a pipe, cut into reports.
class ReportPipe {
 public:
  explicit ReportPipe(int fd) : fd_(fd) {}
  ~ReportPipe() { close(fd_); }
  ReportPipe(const ReportPipe&) = delete;
  ReportPipe& operator=(const ReportPipe&) = delete;

  // Waits at most `wait` for data and reads what is there. False once every write end is closed
  // and the pipe is empty.
  bool Pump(milliseconds wait, std::vector<Report>& out) {
    pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
    const int ready = poll(&p, 1, static_cast<int>(wait.count()));
    if (ready <= 0) {
      return ready == 0 || errno == EINTR;
    }
    char buf[1 << 16];
    const ssize_t got = read(fd_, buf, sizeof buf);
    if (got <= 0) {
      return got < 0 && errno == EINTR;
    }
    pending_.append(buf, static_cast<std::size_t>(got));
    const std::size_t whole = pending_.size() / sizeof(Report) * sizeof(Report);
    for (std::size_t off = 0; off < whole; off += sizeof(Report)) {
      Report r;
      std::memcpy(&r, pending_.data() + off, sizeof r);
      out.push_back(r);
    }
    pending_.erase(0, whole);
    return true;
  }
  // Reads until EOF (every writer is dead), for at most `limit`. False when the limit was hit.
  bool Drain(milliseconds limit, std::vector<Report>& out) {
    const auto until = Clock::now() + limit;
    while (Clock::now() < until) {
      if (!Pump(milliseconds(100), out)) {
        return true;
      }
    }
    return false;
  }
  std::size_t torn_bytes() const { return pending_.size(); }
  // Appends everything written to the pipe as text (the verifier's verdict) until EOF, for at
  // most `limit`. False when the limit was hit.
  bool ReadAllText(milliseconds limit, std::string& text) {
    const auto until = Clock::now() + limit;
    while (Clock::now() < until) {
      pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
      if (poll(&p, 1, 100) <= 0) {
        continue;
      }
      char buf[4096];
      const ssize_t got = read(fd_, buf, sizeof buf);
      if (got == 0) {
        return true;
      }
      if (got > 0) {
        text.append(buf, static_cast<std::size_t>(got));
      }
    }
    return false;
  }

 private:
  int fd_;
  std::string pending_;
};

// What this process knows is durable: every reported append, by id.
struct Expected {
  std::uint16_t round;
  std::uint8_t producer;
  std::uint32_t seq;
  bool answered;  // the TXN_ANSWERED version was reported
};
using Model = std::map<std::uint64_t, Expected>;

struct Totals {
  std::size_t reports = 0;  // appends reported complete, over every round
  std::size_t kills = 0;
};

// Folds one round's reports into the model; a report that contradicts it is a failure.
void Apply(const std::vector<Report>& reports, Model& model, Totals& totals) {
  for (const Report& r : reports) {
    ASSERT_EQ(r.magic, kMagic) << "garbled report";
    ASSERT_NE(r.kind, Kind::kFailed) << "the writer failed at stage " << r.seq << " with error "
                                     << r.error << " (1: Store::Open, 2: AppendSync)";
    if (r.kind == Kind::kIdle) {
      continue;
    }
    ++totals.reports;
    auto it = model.find(r.id);
    if (r.kind == Kind::kAnswered && PlannedForward(r.seq)) {
      // The second append of a forwarded transaction: same id, same transaction.
      ASSERT_NE(it, model.end()) << "answer for id " << r.id << " before its forward";
      ASSERT_EQ(it->second.seq, r.seq);
      ASSERT_EQ(it->second.producer, r.producer);
      ASSERT_EQ(it->second.round, r.round);
      it->second.answered = true;
      continue;
    }
    ASSERT_EQ(it, model.end()) << "id " << r.id << " assigned twice (the id counter was not "
                               << "restored past a durable record)";
    model.emplace(r.id, Expected{.round = r.round,
                                 .producer = r.producer,
                                 .seq = r.seq,
                                 .answered = r.kind == Kind::kAnswered});
  }
}

// How much a verifier checks. Every reported append of the last round is checked after its kill;
// the whole model, Journal::Verify (a scan of every record and index entry) and the block
// checksums grow with the store, so the long test runs them every few kills (see kFullCheckEvery).
struct Scope {
  std::optional<std::uint16_t> round;  // check only this round's records; all when empty
  bool verify_journal = true;          // Journal::Verify
  bool checksums = false;              // Store::VerifyChecksums
};

struct Verdict {
  std::size_t checked = 0;  // reported records found and found correct
  std::size_t records = 0;  // records in the journal (Journal::Verify), when it ran
  std::size_t in_flight = 0;
  std::vector<std::string> problems;
};

// Runs in the verifier process: reopens the store and checks the model's records in scope.
Verdict Check(const std::string& dir, const Model& model, const Scope& scope) {
  Verdict v;
  auto problem = [&v](std::string what) {
    if (v.problems.size() < 20) {
      v.problems.push_back(std::move(what));
    }
  };
  std::string why;
  auto opened = Store::Open({.path = dir}, &why);
  if (!opened) {
    problem("the store does not open: " + why);
    return v;
  }
  std::unique_ptr<Store> store = std::move(*opened);
  const crypto::PanProtector pans = MakePans();
  Journal journal(*store, &pans);

  std::set<std::uint64_t> in_flight;
  if (auto listed = journal.InFlight(); listed) {
    for (const auto& r : *listed) {
      in_flight.insert(r.id());
    }
  } else {
    problem("InFlight() failed: " + listed.error().message());
  }
  v.in_flight = in_flight.size();

  for (const auto& [id, e] : model) {
    if (scope.round && e.round != *scope.round) {
      continue;
    }
    const std::string what = "reported append " + std::to_string(id) + " (" +
                             Tid(e.round, e.producer) + "/" + Stan(e.seq) + ")";
    auto rec = journal.Get(id);
    if (!rec) {
      problem(what + " is missing: " + rec.error().message());
      continue;
    }
    if (rec->id() != id || rec->tid() != Tid(e.round, e.producer) || rec->stan() != Stan(e.seq) ||
        rec->rrn() != Rrn(e.round, e.producer, e.seq) || rec->amount_minor() != e.seq + 1 ||
        rec->transmission_time() != kTransmissionTime) {
      problem(what + " holds another transaction: " + rec->tid() + "/" + rec->stan());
      continue;
    }
    const bool answered_ok = rec->state() == proto::TXN_ANSWERED && rec->response_code() == "00";
    if (e.answered
            ? !answered_ok
            : !(rec->state() == proto::TXN_FORWARDED || (answered_ok && PlannedAnswer(e.seq)))) {
      // A forward whose answer was being written when the writer died may hold either state.
      problem(what + " has state " + proto::TxnState_Name(rec->state()));
      continue;
    }
    if ((rec->state() == proto::TXN_FORWARDED) != (in_flight.count(id) == 1)) {
      problem(what + " in state " + proto::TxnState_Name(rec->state()) +
              (in_flight.count(id) == 1 ? " is" : " is not") + " listed in flight");
      continue;
    }
    auto pan = journal.RevealPan(*rec);
    if (!pan || *pan != Pan(e.round, e.producer, e.seq)) {
      problem(what + " does not reveal its PAN");
      continue;
    }
    auto by_stan = journal.FindByStan(rec->tid(), rec->stan(), rec->transmission_time());
    if (!by_stan || by_stan->id() != id) {
      problem(what + " is not found by its STAN");
      continue;
    }
    ++v.checked;
  }

  std::string fault;
  if (!scope.verify_journal) {
    // skipped
  } else if (auto n = journal.Verify(&fault); n) {
    v.records = *n;
    if (*n < v.checked) {
      problem("Journal::Verify saw " + std::to_string(*n) + " records, fewer than the " +
              std::to_string(v.checked) + " found by id");
    }
  } else {
    problem("Journal::Verify: " + fault);
  }
  if (scope.checksums) {
    if (auto ec = store->VerifyChecksums(); ec) {
      problem("VerifyChecksums: " + store->last_error());
    }
  }
  return v;
}

// Forks the verifier, and reads its verdict: "problem" lines, then "= checked records in_flight".
void RunVerifier(const std::string& dir, const Model& model, const Scope& scope, Verdict& out) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0) << std::strerror(errno);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0) << std::strerror(errno);
  if (pid == 0) {
    close(fds[0]);
    alarm(120);
    const Verdict v = Check(dir, model, scope);
    std::string text;
    for (const auto& p : v.problems) {
      text += p + "\n";
    }
    text += "= " + std::to_string(v.checked) + " " + std::to_string(v.records) + " " +
            std::to_string(v.in_flight) + "\n";
    for (std::size_t off = 0; off < text.size();) {
      const ssize_t n = write(fds[1], text.data() + off, text.size() - off);
      if (n <= 0) {
        _exit(3);
      }
      off += static_cast<std::size_t>(n);
    }
    _exit(0);
  }
  close(fds[1]);
  ReportPipe pipe_in(fds[0]);
  std::string text;
  if (!pipe_in.ReadAllText(milliseconds(60000), text)) {
    kill(pid, SIGKILL);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the verifier died (status " << status << "); it said:\n"
      << text;
  std::size_t start = 0;
  for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    const std::string line = text.substr(start, nl - start);
    if (line.starts_with("= ")) {
      ASSERT_EQ(
          std::sscanf(line.c_str(), "= %zu %zu %zu", &out.checked, &out.records, &out.in_flight),
          3);
    } else {
      out.problems.push_back(line);
    }
  }
}

// One round: start a writer on `dir`, let it run, SIGKILL it, collect every report it made.
// Producers are killed at a random moment 5 to 80 ms after their first report; idle writers as
// soon as they report idle.
void KillOneWriter(const std::string& dir, std::uint16_t round, WriterMode mode, std::mt19937& rng,
                   Model& model, Totals& totals) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0) << std::strerror(errno);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0) << std::strerror(errno);
  if (pid == 0) {
    close(fds[0]);
    RunWriter(dir, fds[1], round, mode);
  }
  close(fds[1]);
  ReportPipe pipe_in(fds[0]);
  std::vector<Report> reports;

  // Wait for the first report (bounded: an ASan build opens a store in well under a second).
  const auto give_up = Clock::now() + milliseconds(30000);
  while (reports.empty() && Clock::now() < give_up) {
    if (!pipe_in.Pump(milliseconds(100), reports)) {
      break;  // the writer died: waitpid below says how
    }
  }
  const bool idle_mode = mode == WriterMode::kIdleAtOnce || mode == WriterMode::kIdleAfterFew;
  auto idle = [&reports] {
    return !reports.empty() &&
           (reports.back().kind == Kind::kIdle || reports.back().kind == Kind::kFailed);
  };
  while (idle_mode && !idle() && Clock::now() < give_up) {
    if (!pipe_in.Pump(milliseconds(100), reports)) {
      break;
    }
  }
  if (!idle_mode && !reports.empty() && reports.front().kind != Kind::kFailed) {
    const auto kill_at =
        Clock::now() + milliseconds(std::uniform_int_distribution<int>(5, 80)(rng));
    for (auto now = Clock::now(); now < kill_at; now = Clock::now()) {
      const auto left = std::chrono::ceil<milliseconds>(kill_at - now);
      if (!pipe_in.Pump(left, reports)) {
        break;
      }
    }
  }
  const bool saw_idle = idle();
  ASSERT_EQ(kill(pid, SIGKILL), 0) << std::strerror(errno);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ++totals.kills;
  // What is still in the pipe was reported complete too.
  ASSERT_TRUE(pipe_in.Drain(milliseconds(10000), reports)) << "the pipe did not close";
  ASSERT_NO_FATAL_FAILURE(Apply(reports, model, totals));
  ASSERT_FALSE(reports.empty()) << "the writer reported nothing (status " << status << ")";
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "the writer ended by itself (status " << status << ")";
  ASSERT_EQ(pipe_in.torn_bytes(), 0U) << "a report was torn";
  ASSERT_TRUE(saw_idle || !idle_mode) << "the idle writer was killed before it said idle";
}

class CrashDir {
 public:
  CrashDir() {
    std::random_device rd;
    path_ = (std::filesystem::temp_directory_path() /
             ("sy-crash-" + std::to_string(rd()) + "-" + std::to_string(rd())))
                .string();
  }
  ~CrashDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);  // best effort: a leftover temp dir fails nothing
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::uint32_t EnvOr(const char* name, std::uint32_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? static_cast<std::uint32_t>(std::strtoul(v, nullptr, 10)) : fallback;
}

TEST(JournalCrashTest, EveryReportedAppendSurvivesSigkill) {
  const std::uint32_t seed = EnvOr("SY_CRASH_SEED", std::random_device{}());
  const std::uint32_t rounds = EnvOr("SY_CRASH_ROUNDS", 50);
  ASSERT_LT(rounds, 1000U) << "Tid() has room for 3 digits of round";
  SCOPED_TRACE("SY_CRASH_SEED=" + std::to_string(seed));
  std::mt19937 rng(seed);
  CrashDir dir;
  Model model;
  Totals totals;
  const auto start = Clock::now();
  Clock::duration writing{};
  Clock::duration verifying{};
  std::size_t checked = 0;  // record checks, over every verifier
  std::size_t full_checks = 0;
  Verdict last;
  for (std::uint32_t round = 0; round < rounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const auto t0 = Clock::now();
    ASSERT_NO_FATAL_FAILURE(KillOneWriter(dir.path(), static_cast<std::uint16_t>(round),
                                          WriterMode::kProducers, rng, model, totals));
    const auto t1 = Clock::now();
    // This round's appends after every kill; everything every few kills and after the last.
    const bool full = (round + 1) % kFullCheckEvery == 0 || round + 1 == rounds;
    const Scope scope{
        .round = full ? std::nullopt : std::optional(static_cast<std::uint16_t>(round)),
        .verify_journal = full,
        .checksums = round + 1 == rounds};
    Verdict v;
    ASSERT_NO_FATAL_FAILURE(RunVerifier(dir.path(), model, scope, v));
    writing += t1 - t0;
    verifying += Clock::now() - t1;
    ASSERT_TRUE(v.problems.empty()) << ::testing::PrintToString(v.problems);
    if (full) {
      ASSERT_EQ(v.checked, model.size());
      ++full_checks;
      last = v;
    } else {
      ASSERT_EQ(v.checked, static_cast<std::size_t>(std::count_if(
                               model.begin(), model.end(),
                               [&](const auto& kv) { return kv.second.round == round; })));
    }
    checked += v.checked;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf(
      "[ crash    ] %zu kills; %zu appends reported complete (%zu transactions), each verified "
      "after its kill and all %zu of them in %zu full checks (%zu record checks); journal: %zu "
      "records, %zu in flight; %.1f s (writers %.1f s, verifiers %.1f s); SY_CRASH_SEED=%" PRIu32
      "\n",
      totals.kills, totals.reports, model.size(), model.size(), full_checks, checked, last.records,
      last.in_flight, seconds, std::chrono::duration<double>(writing).count(),
      std::chrono::duration<double>(verifying).count(), seed);
  EXPECT_EQ(totals.kills, rounds);
  // Each round must have had appends to check, or the test proves nothing.
  EXPECT_GE(totals.reports, std::size_t{rounds} * kProducers);
}

TEST(JournalCrashTest, StoreOpensCleanlyAfterSigkillWhileIdle) {
  std::mt19937 rng(1);
  CrashDir dir;
  Model model;
  Totals totals;
  // A fresh store killed before any append, then one killed after appends had all completed, and
  // then a store with data killed while idle again.
  const WriterMode modes[] = {WriterMode::kIdleAtOnce, WriterMode::kIdleAfterFew,
                              WriterMode::kIdleAtOnce};
  std::uint16_t round = 0;
  for (WriterMode mode : modes) {
    SCOPED_TRACE("round " + std::to_string(round));
    ASSERT_NO_FATAL_FAILURE(KillOneWriter(dir.path(), round++, mode, rng, model, totals));
    Verdict v;
    ASSERT_NO_FATAL_FAILURE(RunVerifier(dir.path(), model, {.checksums = true}, v));
    EXPECT_TRUE(v.problems.empty()) << ::testing::PrintToString(v.problems);
    EXPECT_EQ(v.checked, model.size());
    EXPECT_EQ(v.records, model.size());
  }
  // 24 transactions: 3 forwarded and answered, 3 forwarded and left in flight, 18 answered.
  EXPECT_EQ(model.size(), 24U);
  EXPECT_EQ(totals.reports, 27U);
}

// The checker must be able to fail: a writer that reports one append it never made is caught.
TEST(JournalCrashTest, VerifierCatchesAReportedAppendThatIsNotInTheStore) {
  std::mt19937 rng(2);
  CrashDir dir;
  Model model;
  Totals totals;
  ASSERT_NO_FATAL_FAILURE(KillOneWriter(dir.path(), 0, WriterMode::kLying, rng, model, totals));
  ASSERT_EQ(model.count(kFabricatedId), 1U);
  Verdict v;
  ASSERT_NO_FATAL_FAILURE(RunVerifier(dir.path(), model, {}, v));
  ASSERT_EQ(v.problems.size(), 1U) << ::testing::PrintToString(v.problems);
  EXPECT_NE(v.problems[0].find("reported append " + std::to_string(kFabricatedId)),
            std::string::npos)
      << v.problems[0];
  EXPECT_NE(v.problems[0].find("is missing"), std::string::npos) << v.problems[0];
  EXPECT_EQ(v.checked, model.size() - 1);
}

}  // namespace
}  // namespace sy::storage
