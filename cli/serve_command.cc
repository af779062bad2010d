// switchyard serve — the switch daemon, on its embedded defaults or a configuration file.

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <ostream>
#include <string>
#include <thread>

#include "cli/commands.h"
#include "switch/config.h"
#include "switch/daemon.h"
#include "switch/log.h"

namespace sy::cli {
namespace {

constexpr std::string_view kUsage =
    "usage: switchyard serve [--config FILE] [--data DIR] [--port N] [--plain]\n"
    "  --config FILE  merged over the embedded demo defaults (deploy/demo/switchyard.yaml)\n"
    "  --data DIR     the data directory (store, keys, TLS identity). Default: ./data\n"
    "  --port N       the listeners' ports: N, N+1, ... Default: 8583 (terminals), 8584 (AES)\n"
    "  --plain        serve every listener on plain TCP (with a warning); for local tests\n"
    "  --check        validate the configuration and exit\n"
    "Stops cleanly on SIGINT or SIGTERM; SIGHUP reloads the BIN table and the log level from the\n"
    "configuration.\n";

}  // namespace

int RunServe(Args args, Io& io) {
  // Every terminal connection is a descriptor: allow as many as the hard limit does.
  if (rlimit lim{}; getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &lim);
  }
  std::string config_path;
  std::string data;
  std::string port;
  bool plain = false;
  bool check = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= args.size()) {
        return false;
      }
      out = std::string(args[++i]);
      return true;
    };
    if (a == "--help") {
      io.out << kUsage;
      return kExitOk;
    }
    if ((a == "--config" && !value(config_path)) || (a == "--data" && !value(data)) ||
        (a == "--port" && !value(port))) {
      io.err << "switchyard serve: " << a << " needs a value\n" << kUsage;
      return kExitUsage;
    }
    if (a == "--plain") {
      plain = true;
    } else if (a == "--check") {
      check = true;
    } else if (a != "--config" && a != "--data" && a != "--port") {
      io.err << "switchyard serve: unknown argument '" << a << "'\n" << kUsage;
      return kExitUsage;
    }
  }
  std::vector<std::string> problems;
  auto config = server::LoadConfig(config_path, problems);
  if (!config) {
    for (const auto& p : problems) {
      io.err << "switchyard serve: " << p << "\n";
    }
    return kExitUsage;
  }
  if (!data.empty()) {
    config->set_data_dir(data);
    config->mutable_keys()->set_file(data + "/keys.txt");
  }
  if (!port.empty()) {
    try {
      // The listeners in order on N, N+1, ... (the demo's AES listener follows the first).
      const auto first = static_cast<std::uint32_t>(std::stoul(port));
      for (int i = 0; i < config->listeners_size(); ++i) {
        config->mutable_listeners(i)->set_port(first + static_cast<std::uint32_t>(i));
      }
    } catch (const std::exception&) {
      io.err << "switchyard serve: --port '" << port << "' is not a number\n";
      return kExitUsage;
    }
  }
  if (plain) {
    for (auto& l : *config->mutable_listeners()) {
      l.set_plain_tcp(true);
    }
  }
  if (check) {
    io.out << "configuration ok\n";
    return kExitOk;
  }

  // SIGINT and SIGTERM (stop) and SIGHUP (reload the BIN table) are taken by one thread: block
  // them everywhere before any other thread starts.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::unique_ptr<server::Daemon> daemon;
  try {
    daemon = server::Daemon::Create(*config, io.err);
    daemon->Start();
  } catch (const std::exception& e) {
    io.err << "switchyard serve: " << e.what() << "\n";
    return kExitFailure;
  }
  // From here on through the switch's logger (one line each; JSON when log_format is json).
  SY_LOG(kWarning) << "switchyard " << config->mode() << " switch running (data in "
                   << config->data_dir() << "); Ctrl-C stops it";
  std::thread waiter([&] {
    for (;;) {
      int sig = 0;
      sigwait(&stop_signals, &sig);
      if (sig != SIGHUP) {
        SY_LOG(kWarning) << "switchyard serve: stopping (signal " << sig << ")";
        daemon->Stop();
        return;
      }
      // Reload: the same file, validated as at start; a bad file changes nothing.
      std::vector<std::string> problems;
      auto fresh = server::LoadConfig(config_path, problems);
      if (!fresh) {
        std::string why;
        for (const auto& p : problems) {
          why += (why.empty() ? "" : "; ") + p;
        }
        SY_LOG(kError) << "switchyard serve: SIGHUP: " << config_path << " not reloaded: " << why;
        continue;
      }
      for (const auto& line : daemon->ReloadBins(*fresh)) {
        SY_LOG(kWarning) << "switchyard serve: " << line;
      }
      // The log level too: raise it to debug an incident, lower it again, without a restart.
      if (server::LogLevel level; server::ParseLogLevel(fresh->log_level(), level)) {
        server::SetLogLevel(level);
        SY_LOG(kWarning) << "switchyard serve: log level "
                         << (fresh->log_level().empty() ? "info" : fresh->log_level());
      }
    }
  });
  daemon->Run();
  // Run returned: wake the waiter if it is still waiting (Stop came from elsewhere).
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  daemon.reset();  // closes the store: every queued journal write is flushed first
  SY_LOG(kWarning) << "switchyard serve: stopped";
  return kExitOk;
}

}  // namespace sy::cli
