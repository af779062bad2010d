// End-to-end: the harness against a small in-process fake switch on 127.0.0.1:0 (plain TCP, nac
// framing with TPDU, iso87b) that answers every request with MTI + 10, echoes, an RRN and a MAC
// under the DUKPT MAC-response variant — or, when told to, a wrong MAC or a wrong amount.

#include "bench/harness/harness.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <list>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "bench/harness/provision.h"
#include "bench/harness/report.h"
#include "crypto/dukpt_tdes.h"
#include "crypto/hex.h"
#include "crypto/mac.h"
#include "iso8583/codec.h"
#include "iso8583/dialect.h"
#include "iso8583/framing.h"
#include "iso8583/mac_slot.h"

namespace sy::bench {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr iso8583::FramingOptions kFraming{.kind = iso8583::FrameKind::kNac, .tpdu = true};

class FakeSwitch {
 public:
  enum class Fault { kNone, kBadMac, kWrongAmount };

  explicit FakeSwitch(Fault fault = Fault::kNone) : fault_(fault), acceptor_(io_) {
    dialect_ = *iso8583::LoadDialect("iso87b");
    bdk_ = std::move(*crypto::SecretFromHex(kBenchBdkHex));
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(io_, Accept(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }

  ~FakeSwitch() {
    // Close the acceptor and every connection; run() returns when nothing is left.
    asio::post(io_, [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      for (auto& s : sockets_) {
        if (auto p = s.lock()) {
          p->close(ignored);
        }
      }
    });
    thread_.join();
  }

  std::uint16_t port() const { return port_; }
  std::uint64_t connections() const { return connections_.load(); }
  std::uint64_t requests() const { return requests_.load(); }

 private:
  asio::awaitable<void> Accept() {
    while (true) {
      auto [ec, socket] = co_await acceptor_.async_accept(kTuple);
      if (ec) {
        co_return;
      }
      connections_++;
      auto s = std::make_shared<tcp::socket>(std::move(socket));
      sockets_.push_back(s);
      asio::co_spawn(io_, Serve(s), asio::detached);
    }
  }

  asio::awaitable<void> Serve(std::shared_ptr<tcp::socket> s) {
    iso8583::FrameReader reader(kFraming);
    while (true) {
      auto next = reader.Next();
      if (!next) {
        co_return;
      }
      if (next->has_value()) {
        const iso8583::Frame& f = **next;
        std::string out = Answer(f);
        auto [ec, n] = co_await asio::async_write(*s, asio::buffer(out), kTuple);
        (void)n;
        if (ec) {
          co_return;
        }
        continue;
      }
      auto area = reader.Prepare(4096);
      auto [ec, n] = co_await s->async_read_some(asio::buffer(area.data(), area.size()), kTuple);
      reader.Commit(n);
      if (ec) {
        co_return;
      }
    }
  }

  std::string Answer(const iso8583::Frame& f) {
    requests_++;
    const std::string wire(reinterpret_cast<const char*>(f.message.data()), f.message.size());
    iso8583::Message req;
    if (!iso8583::Unpack(*dialect_, wire, req)) {
      return {};
    }
    iso8583::Message reply;
    std::string mti(req.mti());
    mti[2] = static_cast<char>(mti[2] + 1);
    mti[3] = '0';
    reply.SetMti(mti);
    for (int n : {3, 4, 7, 11, 41, 42, 49, 70}) {
      if (req.Has(n)) {
        reply.Set(n, req.Get(n));
      }
    }
    if (fault_ == Fault::kWrongAmount && req.Has(4)) {
      reply.Set(4, "000000000001");
    }
    reply.Set(37, "633100000001");
    reply.Set(39, req.Get(2) == kDeclinePan ? "05" : "00");
    if (req.Get(39) != "05") {
      reply.Set(38, "123456");
    }
    auto ksn = crypto::FromHex(req.Get(62));
    auto key = crypto::DeriveTdesWorkingKey(bdk_, *ksn, crypto::TdesDukptVariant::kMacResponse);
    const iso8583::MacFunction mac = [&](std::span<const std::uint8_t> data,
                                         std::array<std::uint8_t, 8>& out) {
      out = *crypto::RetailMac(*key, data, crypto::MacPadding::kMethod1);
      if (fault_ == Fault::kBadMac) {
        out[0] ^= 0x01;
      }
      return true;
    };
    std::string packed;
    if (!iso8583::PackWithMac(*dialect_, reply, mac, packed)) {
      return {};
    }
    std::string frame;
    const iso8583::Tpdu tpdu = *iso8583::Tpdu::FromBytes(f.tpdu);
    if (!iso8583::AppendFrame(
            kFraming, tpdu.SwapForReply().bytes(),
            std::span(reinterpret_cast<const std::uint8_t*>(packed.data()), packed.size()),
            frame)) {
      return {};
    }
    return frame;
  }

  Fault fault_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::list<std::weak_ptr<tcp::socket>> sockets_;
  std::shared_ptr<const iso8583::Dialect> dialect_;
  crypto::SecretBytes bdk_;
  std::uint16_t port_ = 0;
  std::atomic<std::uint64_t> connections_{0};
  std::atomic<std::uint64_t> requests_{0};
  std::thread thread_;
};

class HarnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_ = ::testing::TempDir() + "/bench_harness_test_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".state";
    std::filesystem::remove(state_);
  }
  void TearDown() override { std::filesystem::remove(state_); }

  BenchOptions Options(std::uint16_t port) const {
    BenchOptions o;
    o.plain = true;
    o.port = port;
    o.terminals = 4;
    o.threads = 2;
    o.count = 60;
    o.duration = std::chrono::milliseconds(0);
    o.timeout = std::chrono::seconds(5);
    o.state_file = state_;
    o.progress = false;
    auto mix = ParseMix("purchase=60,refund=10,void=10,reversal=10,preauth=10");
    o.mix = *mix;
    o.pin_share = 0.5;
    o.decline_share = 0.2;
    return o;
  }

  std::string state_;
  std::ostringstream progress_;
};

TEST_F(HarnessTest, PersistentConnectionsRunABoundedCount) {
  FakeSwitch fake;
  Report r = RunBench(Options(fake.port()), progress_);
  EXPECT_TRUE(r.ok()) << FormatText(r);
  EXPECT_EQ(r.transactions, 60u);
  EXPECT_EQ(r.signons, 4u);
  EXPECT_EQ(fake.connections(), 4u);
  EXPECT_EQ(r.latency_ns.count(), 60u);
  EXPECT_GT(r.response_codes["00"], 0u);
  EXPECT_GT(r.throughput, 0);
  EXPECT_NE(FormatJson(r).find("\"ok\":true"), std::string::npos);
}

TEST_F(HarnessTest, SharedConnectionsPipelineSeveralTerminals) {
  FakeSwitch fake;
  BenchOptions o = Options(fake.port());
  o.mode = ConnectionMode::kShared;
  o.terminals_per_connection = 2;
  Report r = RunBench(o, progress_);
  EXPECT_TRUE(r.ok()) << FormatText(r);
  EXPECT_EQ(r.transactions, 60u);
  EXPECT_EQ(fake.connections(), 2u);
}

TEST_F(HarnessTest, PerTransactionOpensAConnectionEachTime) {
  FakeSwitch fake;
  BenchOptions o = Options(fake.port());
  o.mode = ConnectionMode::kPerTransaction;
  Report r = RunBench(o, progress_);
  EXPECT_TRUE(r.ok()) << FormatText(r);
  EXPECT_EQ(r.transactions, 60u);
  EXPECT_EQ(fake.connections(), 64u);  // 4 sign-ons + 60
}

TEST_F(HarnessTest, OpenLoopKeepsTheSchedule) {
  FakeSwitch fake;
  BenchOptions o = Options(fake.port());
  o.rate = 200;
  o.count = 0;
  o.duration = std::chrono::milliseconds(500);
  Report r = RunBench(o, progress_);
  EXPECT_TRUE(r.ok()) << FormatText(r);
  EXPECT_GE(r.transactions, 90u);
  EXPECT_LE(r.transactions, 101u);
}

TEST_F(HarnessTest, HandshakeOnlyAndIdleModesRun) {
  FakeSwitch fake;
  BenchOptions o = Options(fake.port());
  o.mode = ConnectionMode::kHandshakeOnly;
  Report hs = RunBench(o, progress_);
  EXPECT_TRUE(hs.ok()) << FormatText(hs);
  EXPECT_EQ(hs.transactions, 60u);

  o.mode = ConnectionMode::kIdle;
  o.hold = std::chrono::milliseconds(100);
  o.switch_pid = static_cast<int>(getpid());
  Report idle = RunBench(o, progress_);
  EXPECT_TRUE(idle.ok()) << FormatText(idle);
  EXPECT_EQ(idle.idle_connections, 4u);
  EXPECT_TRUE(idle.switch_rss_after_kib.has_value());
}

TEST_F(HarnessTest, KsnCountersNeverRepeatAcrossRuns) {
  FakeSwitch fake;
  BenchOptions o = Options(fake.port());
  o.terminals = 1;
  o.threads = 1;
  o.count = 5;
  ASSERT_TRUE(RunBench(o, progress_).ok());
  auto counter = [&] {
    std::ifstream in(state_);
    std::string tid;
    std::string ksn;
    std::uint32_t c = 0;
    in >> tid >> ksn >> c;
    EXPECT_EQ(tid, "BEN00001");
    return c;
  };
  const std::uint32_t first = counter();
  EXPECT_EQ(first, 6u);  // sign-on + 5
  ASSERT_TRUE(RunBench(o, progress_).ok());
  EXPECT_EQ(counter(), 12u);
}

TEST_F(HarnessTest, ABadMacFailsTheRun) {
  FakeSwitch fake(FakeSwitch::Fault::kBadMac);
  BenchOptions o = Options(fake.port());
  o.skip_signon = true;
  Report r = RunBench(o, progress_);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.wrong_mac, 60u);
  EXPECT_NE(FormatText(r).find("MAC does not verify"), std::string::npos);
}

TEST_F(HarnessTest, AWrongAmountFailsTheRun) {
  FakeSwitch fake(FakeSwitch::Fault::kWrongAmount);
  BenchOptions o = Options(fake.port());
  o.skip_signon = true;
  Report r = RunBench(o, progress_);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.wrong_match, 60u);
  EXPECT_NE(FormatText(r).find("answer amount"), std::string::npos);
}

TEST_F(HarnessTest, NoSwitchIsAnErrorNotAHang) {
  std::uint16_t port = 0;
  {
    FakeSwitch fake;  // a port that was free a moment ago
    port = fake.port();
  }
  BenchOptions o = Options(port);
  o.count = 4;
  Report r = RunBench(o, progress_);
  EXPECT_FALSE(r.ok());
  EXPECT_GT(r.errors, 0u);
  EXPECT_EQ(r.signon_failures, 4u);
}

volatile std::uint64_t sink = 0;  // keeps the busy loop below from being optimised away

TEST(ThreadCpuTest, ANamedThreadsCpuShowsUnderItsName) {
  const int pid = static_cast<int>(getpid());
  auto before = ThreadCpuSeconds(pid);
  ASSERT_TRUE(before.has_value());
  std::promise<void> burnt;
  std::promise<void> read;
  auto read_future = read.get_future();
  std::thread burner([&] {
    pthread_setname_np(pthread_self(), "sy-test-burn");
    timespec used{};
    std::uint64_t x = 1;
    do {  // 200 ms of this thread's own CPU time, whatever the machine's load
      for (int i = 0; i < 100000; ++i) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      }
      sink = x;
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &used);
    } while (used.tv_sec == 0 && used.tv_nsec < 200'000'000);
    burnt.set_value();
    read_future.wait();  // a thread that has ended is not in /proc/<pid>/task
  });
  burnt.get_future().wait();
  auto after = ThreadCpuSeconds(pid);
  read.set_value();
  burner.join();
  ASSERT_TRUE(after.has_value());
  const auto delta = ThreadCpuDelta(*before, *after);
  const auto it = std::find_if(delta.begin(), delta.end(),
                               [](const auto& d) { return d.first == "sy-test-burn"; });
  ASSERT_NE(it, delta.end());
  EXPECT_GE(it->second, 0.1);  // clock ticks: 0.2 s, give or take a few ticks
  EXPECT_LE(it->second, 1.0);
}

TEST(ThreadCpuTest, DeltaKeepsTheNamesThatUsedCpuMostFirst) {
  const std::map<std::string, double> before{{"io", 1.0}, {"idle", 2.0}, {"gone", 3.0}};
  const std::map<std::string, double> after{{"io", 1.5}, {"idle", 2.0}, {"new", 0.75}};
  const std::vector<std::pair<std::string, double>> want{{"new", 0.75}, {"io", 0.5}};
  EXPECT_EQ(ThreadCpuDelta(before, after), want);
  EXPECT_FALSE(ThreadCpuSeconds(-1).has_value());
}

TEST(ThreadCpuTest, TheReportGivesCpuPerTransactionByThread) {
  Report r;
  r.transactions = 1000;
  r.switch_cpu_seconds = 0.06;
  r.switch_cpu_us_per_txn = 60.0;
  r.switch_cpu_seconds_by_thread = {{"switchyard", 0.04}, {"sy-journal", 0.02}, {"tiny", 0.00005}};
  const std::string text = FormatText(r);
  EXPECT_NE(text.find("switch CPU by thread    switchyard 40.0 sy-journal 20.0 µs per transaction"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("tiny"), std::string::npos) << text;  // under 0.1 µs per transaction
  const std::string json = FormatJson(r);
  EXPECT_NE(json.find(R"("switch_cpu_s_by_thread":{"switchyard":)"), std::string::npos) << json;
}

TEST(ProvisionTest, OverlayListsDemoAndBenchTerminals) {
  const std::string y = SwitchOverlayYaml(3);
  EXPECT_NE(y.find("TERM0001"), std::string::npos);
  EXPECT_NE(y.find("MERCHANT0000002"), std::string::npos);
  EXPECT_NE(y.find("BEN00003"), std::string::npos);
  EXPECT_EQ(y.find("BEN00004"), std::string::npos);
  const std::string issuer = IssuerConfigYaml();
  EXPECT_NE(issuer.find("do_not_honour: true"), std::string::npos);
  EXPECT_NE(issuer.find("port: 9583"), std::string::npos);
}

}  // namespace
}  // namespace sy::bench
