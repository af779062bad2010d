#pragma once

// The registry store: merchants, applications, agreements, terminals and key metadata, each a
// protobuf record under (kind, id), with an append-only audit log of every change (who, when,
// before and after) written in the same durable write as the change itself.
//
//   Registry reg(store);
//   reg.Put("terminal", "TERM0001", terminal_proto, {.actor = "ops:alice", .reason = "provision"});
//   auto t = reg.Get<proto::Terminal>("terminal", "TERM0001");
//   auto history = reg.History("terminal", "TERM0001");

#include <google/protobuf/message_lite.h>

#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "proto/registry.pb.h"
#include "storage/store.h"

namespace sy::storage {

struct Change {
  std::string actor;           // who: an operator id, "config", "system"
  std::string reason;          // why, in words
  std::int64_t at_micros = 0;  // when; the caller's clock
};

class Registry {
 public:
  explicit Registry(Store& store);

  // Creates or replaces a record and appends its audit entry, durably and atomically. Writes
  // are serialized so each audit entry's "before" is exactly what it replaced.
  [[nodiscard]] boost::system::error_code Put(std::string_view kind, std::string_view id,
                                              const google::protobuf::MessageLite& record,
                                              const Change& change);
  [[nodiscard]] boost::system::error_code Delete(std::string_view kind, std::string_view id,
                                                 const Change& change);

  // The serialized record, or kNotFound.
  [[nodiscard]] Result<std::string> GetRaw(std::string_view kind, std::string_view id) const;
  template <class Proto>
  [[nodiscard]] Result<Proto> Get(std::string_view kind, std::string_view id) const {
    auto raw = GetRaw(kind, id);
    if (!raw) {
      return raw.error();
    }
    Proto p;
    if (!p.ParseFromString(*raw)) {
      return make_error_code(Error::kCorruption);
    }
    return p;
  }
  // Ids of every record of a kind, in order.
  [[nodiscard]] Result<std::vector<std::string>> List(std::string_view kind) const;
  // Every record of `kind` as (id, serialized proto), in id order, read from `store` alone (a
  // read-only store will do: settlement reads agreements beside the running switch).
  [[nodiscard]] static Result<std::vector<std::pair<std::string, std::string>>> ScanKind(
      const Store& store, std::string_view kind);
  // Audit entries of one record (or of all records when kind is empty), oldest first.
  [[nodiscard]] Result<std::vector<proto::AuditEntry>> History(std::string_view kind,
                                                               std::string_view id) const;

 private:
  [[nodiscard]] boost::system::error_code Change(std::string_view kind, std::string_view id,
                                                 const std::string* after, const struct Change& c);
  Store& store_;
  std::mutex mu_;
  std::uint64_t next_audit_ = 1;
};

}  // namespace sy::storage
