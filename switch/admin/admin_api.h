#pragma once

// The admin API (docs/admin.md): merchant applications and their review, agreements, terminal
// provisioning and maintenance, and the audit log, as HTTP/JSON requests routed without sockets
// (switch/admin/admin_http.h serves them over TLS). Bodies are proto/onboarding.proto messages in
// protobuf's JSON mapping; unknown keys are refused. Every change is a storage::Registry::Put by
// the bearer token's name, so the registry's audit log records who, when, before and after.
//
//   AdminApi api(config.admin(), registry, clock);           // after ResolveAdminConfig
//   auto r = api.Handle("POST", "/v1/applications", {{"authorization", "Bearer " + token}},
//                       R"({"type": "individual", "legal_name": "Zhang San", ...})");
//   // r.status 201, r.body {"application": {"id": "APP-000001", "state": "submitted", ...}}
//
// Roles: a reviewer moves applications through review; an operator submits applications (for
// the merchant), answers requests for more information, withdraws, records agreements,
// provisions and maintains terminals, exports and rotates their keys (dual control: two operator
// tokens take the two or three components of a split key); an auditor reads the audit log.
// Every role reads applications, agreements, terminals and BIN routes; operators and auditors
// look up transactions (masked). GET /v1/health needs no token.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/key_store.h"
#include "proto/config.pb.h"
#include "routing/bin_table.h"
#include "storage/journal.h"
#include "storage/registry.h"
#include "switch/business_day.h"
#include "switch/onboarding/application.h"
#include "switch/onboarding/calendar.h"

namespace sy::server::admin {

class SettlementApi;  // switch/admin/admin_settlement.h

enum class Role { kReviewer = 1, kOperator, kAuditor };

// "reviewer", "operator", "auditor".
[[nodiscard]] std::string_view RoleName(Role role) noexcept;

// Compares software versions as dotted numbers ("2.10.0" > "2.9.1"; a missing part is 0; each
// part's leading digits count, so "2.4.0-rc1" is 2.4.0): <0, 0 or >0.
[[nodiscard]] int CompareVersions(std::string_view a, std::string_view b) noexcept;
// Whether `v` is dotted numbers: "2", "2.4", "2.4.0".
[[nodiscard]] bool IsDottedVersion(std::string_view v) noexcept;

// Request headers by lower-case name ("authorization").
using Headers = std::map<std::string, std::string, std::less<>>;

struct HttpResponse {
  int status = 200;
  std::string body;  // JSON
};

// What the running switch knows of a terminal beyond its record.
struct TerminalSeen {
  std::int64_t last_seen_micros = 0;  // 0: never seen
  std::string software_version;       // "" when it never reported one
};

struct AdminOptions {
  // Business days for the review clock. Default: weekends only.
  onboarding::HolidayCalendar holidays;
  // What the running pipeline holds for a terminal ("active", ...; empty when unknown), shown
  // as live_status. Default: none (live_status stays empty).
  std::function<std::string(const std::string& tid)> live_status;
  // Called after a terminal or merchant record is written, so the running switch serves the
  // change at once. Default: none (the change is served after a restart).
  std::function<void(const proto::TerminalProfile&)> terminal_changed;
  std::function<void(const proto::MerchantConfig&)> merchant_changed;
  // Whether the switch ever activated the terminal (its first sign-on with a valid MAC), which
  // the registry's record does not show. Default: none (never).
  std::function<bool(const std::string& tid)> was_activated;
  // The key store: terminal key exports and rotations are its operations (clear keys never leave
  // it but as a TR-31 block or one component at a time). Default: none (those requests get 503).
  crypto::SoftwareKeyStore* keys = nullptr;
  // Persists the key store's file after it generated a key (a rotated TMK); "" or why it could
  // not. Default: none (a rotation that needs a new TMK gets 503).
  std::function<std::string()> save_keys;
  // Last seen and software version of a terminal, as the running pipeline holds them.
  // Default: none (never seen).
  std::function<TerminalSeen(const std::string& tid)> seen;
  // The transaction journal, for look-ups. Default: none (GET /v1/transactions gets 503).
  const storage::Journal* journal = nullptr;
  // The BIN routes in force. Default: none (GET /v1/bins gets 503).
  std::function<std::vector<routing::BinEntry>()> bins;
  // Settlement runs (/v1/settlement-runs), handled there. Default: none (404).
  SettlementApi* settlement = nullptr;
};

// Fills in the defaults of `admin` (address 127.0.0.1, port 9443, the certificate and key
// <data_dir>/tls/switch.crt and .key, review target 5 business days) and checks it (tokens,
// terminal_software_minimum as dotted numbers). Returns "" when it is usable, else one sentence
// per problem naming the key ("admin.tokens[1].role: ...").
[[nodiscard]] std::string ResolveAdminConfig(proto::AdminConfig& admin,
                                             const std::string& data_dir);

class AdminApi {
 public:
  // `config` as ResolveAdminConfig left it. Throws std::invalid_argument when a token's digest
  // is not 64 hex digits or its role is unknown (start-up only). `registry` and `clock` outlive
  // the API.
  AdminApi(const proto::AdminConfig& config, storage::Registry& registry, const Clock& clock,
           AdminOptions options = {});

  // Answers one request. `target` is the request target ("/v1/applications?state=in_review").
  // Thread-safe: changes are serialized by a mutex held from the read that a change is checked
  // against to the registry write, so two reviewers acting on one version cannot both succeed.
  [[nodiscard]] HttpResponse Handle(std::string_view method, std::string_view target,
                                    const Headers& headers, std::string_view body);

  // The review queue for metrics: applications waiting for a decision (submitted, in review,
  // resubmitted, more information requested), how many of them are past the review target, and
  // the longest wait in business days. Reads the registry; call it at scrape time, not per request.
  struct ReviewQueue {
    std::uint64_t waiting = 0;
    std::uint64_t overdue = 0;
    std::int64_t oldest_business_days = 0;
  };
  [[nodiscard]] ReviewQueue Queue() const;

 private:
  struct Token {
    std::string name;
    std::array<std::uint8_t, 32> digest{};
    Role role = Role::kReviewer;
  };
  struct Caller {
    std::string name;
    Role role;
  };

  [[nodiscard]] const Token* Authenticate(const Headers& headers) const;
  [[nodiscard]] std::chrono::sys_days Today() const;
  [[nodiscard]] std::int64_t NowMicros() const;

  HttpResponse SubmitApplication(const Caller& c, std::string_view body);
  HttpResponse GetApplication(const std::string& id);
  HttpResponse ListApplications(const std::map<std::string, std::string>& query);
  HttpResponse TransitionApplication(const Caller& c, const std::string& id, std::string_view body);
  HttpResponse CreateAgreement(const Caller& c, const std::string& mid, std::string_view body);
  HttpResponse ListAgreements(const std::string& mid);
  HttpResponse ProvisionTerminal(const Caller& c, std::string_view body);
  HttpResponse SetTerminalStatus(const Caller& c, const std::string& tid, std::string_view body);
  HttpResponse GetTerminal(const std::string& tid);
  HttpResponse ListTerminals(const std::map<std::string, std::string>& query);
  HttpResponse ExportKeys(const Caller& c, const std::string& tid, std::string_view body);
  HttpResponse ListKeyExports(const std::string& tid);
  HttpResponse TakeComponent(const Caller& c, const std::string& tid, const std::string& export_id,
                             const std::string& index, std::string_view body);
  HttpResponse RotateKeys(const Caller& c, const std::string& tid, std::string_view body);
  HttpResponse Transactions(const std::map<std::string, std::string>& query);
  HttpResponse Bins();
  HttpResponse Audit(const std::map<std::string, std::string>& query);

  std::vector<Token> tokens_;
  storage::Registry& registry_;
  const Clock& clock_;
  AdminOptions options_;
  onboarding::ReviewTarget target_;
  std::string software_minimum_;  // admin.terminal_software_minimum
  std::string default_kek_;       // admin.key_transport_key_id
  std::mutex mu_;                 // held across every read-check-write
};

}  // namespace sy::server::admin
