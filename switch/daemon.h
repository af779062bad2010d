#pragma once

// `switchyard serve`: the daemon assembled from its parts — configuration, the durable store,
// the key store, issuer links, the pipeline and the terminal listeners — plus crash recovery at
// start and the store-and-forward drainer.
//
//   auto daemon = Daemon::Create(config, std::clog);   // throws on start-up failures
//   daemon->Start();                                    // binds, connects, recovers
//   daemon->Run();                                      // until Stop() (SIGINT/SIGTERM in main)

#include <boost/asio/io_context.hpp>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "crypto/key_store.h"
#include "proto/config.pb.h"

namespace sy::server {

// The key store of a configuration: the master key from the environment variable or file it
// names (in demo mode made at first start in the data directory), and the key file (in demo mode
// made at first start with TEST keys). Throws std::runtime_error naming what is wrong; refuses,
// in production mode, a key store holding any published test key.
std::unique_ptr<crypto::SoftwareKeyStore> PrepareKeys(const proto::SwitchConfig& config,
                                                      std::ostream& log);

class Daemon {
 public:
  static std::unique_ptr<Daemon> Create(const proto::SwitchConfig& config, std::ostream& log);
  ~Daemon();

  // Recovers transactions left in flight by a crash, connects the issuer links, starts the SAF
  // drainer and binds the listeners. Throws std::runtime_error when a listener cannot bind.
  void Start();
  // Runs the io_context on the configured number of threads until Stop.
  void Run();
  // Stops accepting, closes links, lets the journal flush; Run returns. Thread-safe.
  void Stop();

  // Replaces the BIN table with `fresh`'s bins, checked against the running routes (routes
  // themselves are not reloaded), without stopping traffic. Returns the lines to log: what
  // changed, or why nothing did (the running table then stays). Thread-safe.
  [[nodiscard]] std::vector<std::string> ReloadBins(const proto::SwitchConfig& fresh);

  [[nodiscard]] std::uint16_t listener_port(std::size_t i) const;
  [[nodiscard]] std::size_t recovered() const noexcept;

 private:
  struct Impl;
  explicit Daemon(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sy::server
