// switchyard issuer-sim — runs the issuer host simulator (sy::sim::IssuerSimulator) until SIGINT
// or SIGTERM.
//
//   switchyard issuer-sim --config deploy/demo/issuer-a.yaml [--port N]

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <exception>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>

#include "cli/commands.h"
#include "proto/config.pb.h"
#include "proto/yaml.h"
#include "sim/issuer.h"

namespace sy::cli {
namespace {

constexpr std::string_view kUsage =
    "usage: switchyard issuer-sim --config FILE [--port N]\n"
    "  --config FILE  the simulator's configuration and TEST card accounts (IssuerSimConfig YAML)\n"
    "  --port N       listen on port N instead of listen.port (0: an ephemeral port)\n"
    "Runs until SIGINT or SIGTERM; one log line per request (PANs masked).\n";

int Usage(Io& io, const std::string& why) {
  io.err << "switchyard issuer-sim: " << why << "\n" << kUsage;
  return kExitUsage;
}

}  // namespace

int RunIssuerSim(Args args, Io& io) {
  std::string config_path;
  std::optional<std::uint16_t> port;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "--help" || a == "-h") {
      io.out << kUsage;
      return kExitOk;
    }
    if (a != "--config" && a != "--port") {
      return Usage(io, "unknown flag '" + std::string(a) + "'");
    }
    if (i + 1 >= args.size()) {
      return Usage(io, std::string(a) + " needs a value");
    }
    const std::string_view v = args[++i];
    if (a == "--config") {
      config_path = std::string(v);
    } else {
      unsigned long n = 0;
      const bool digits =
          !v.empty() && v.size() <= 5 && v.find_first_not_of("0123456789") == std::string::npos;
      if (digits) {
        n = std::stoul(std::string(v));
      }
      if (!digits || n > 65535) {
        return Usage(io, "--port: '" + std::string(v) + "' is not a port number");
      }
      port = static_cast<std::uint16_t>(n);
    }
  }
  if (config_path.empty()) {
    return Usage(io, "--config FILE is required");
  }

  proto::IssuerSimConfig config;
  if (std::string e = proto::MergeYamlFile(config_path, config); !e.empty()) {
    io.err << "switchyard issuer-sim: " << e << "\n";
    return kExitFailure;
  }
  std::mutex log_mu;
  sim::IssuerOptions options;
  options.log = [&](std::string_view line) {
    std::lock_guard lock(log_mu);
    io.out << line << std::endl;
  };
  boost::asio::io_context io_context;
  std::optional<sim::IssuerSimulator> simulator;
  std::uint16_t bound = 0;
  try {
    simulator.emplace(config, options);
    const std::uint32_t configured = config.listen().port() == 0 ? 9583 : config.listen().port();
    if (configured > 65535) {
      io.err << "switchyard issuer-sim: " << config_path << ": listen.port: above 65535\n";
      return kExitFailure;
    }
    bound = simulator->Start(io_context, port.value_or(static_cast<std::uint16_t>(configured)));
  } catch (const std::exception& e) {
    io.err << "switchyard issuer-sim: " << config_path << ": " << e.what() << "\n";
    return kExitFailure;
  }
  boost::asio::signal_set signals(io_context, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (!ec) {
      simulator->Stop();
    }
  });
  {
    std::lock_guard lock(log_mu);
    const std::string host = config.listen().host().empty() ? "127.0.0.1" : config.listen().host();
    io.out << "issuer-sim " << simulator->name() << " listening on " << host << ":" << bound
           << std::endl;
  }
  io_context.run();
  {
    std::lock_guard lock(log_mu);
    io.out << "issuer-sim " << simulator->name() << " stopped" << std::endl;
  }
  return kExitOk;
}

}  // namespace sy::cli
