#include "storage/registry.h"

namespace sy::storage {
namespace {

std::string RecordKey(std::string_view kind, std::string_view id) {
  std::string k(kind);
  k += '\0';
  k += id;
  return k;
}

}  // namespace

Registry::Registry(Store& store) : store_(store) {
  if (auto last = store_.LastKey(Cf::kAudit); last && last->size() == 8) {
    next_audit_ = DecodeU64(*last) + 1;
  }
}

boost::system::error_code Registry::Change(std::string_view kind, std::string_view id,
                                           const std::string* after, const struct Change& c) {
  if (kind.empty() || kind.find('\0') != std::string_view::npos ||
      id.find('\0') != std::string_view::npos) {
    return make_error_code(Error::kInvalidArgument);
  }
  std::lock_guard lock(mu_);
  const std::string key = RecordKey(kind, id);
  auto before = store_.Get(Cf::kRegistry, key);
  if (!before && before.error() != make_error_code(Error::kNotFound)) {
    return before.error();
  }
  if (after == nullptr && !before) {
    return make_error_code(Error::kNotFound);
  }
  proto::AuditEntry audit;
  audit.set_seq(next_audit_);
  audit.set_at_micros(c.at_micros);
  audit.set_actor(c.actor);
  audit.set_reason(c.reason);
  audit.set_kind(std::string(kind));
  audit.set_id(std::string(id));
  if (before) {
    audit.set_before(*before);
  }
  if (after != nullptr) {
    audit.set_after(*after);
  }
  std::vector<Mutation> write;
  write.push_back(
      {Cf::kRegistry, key, after != nullptr ? *after : std::string(), after == nullptr});
  write.push_back({Cf::kAudit, EncodeU64(next_audit_), audit.SerializeAsString()});
  auto ec = store_.Write(std::move(write));
  if (!ec) {
    ++next_audit_;
  }
  return ec;
}

boost::system::error_code Registry::Put(std::string_view kind, std::string_view id,
                                        const google::protobuf::MessageLite& record,
                                        const struct Change& change) {
  const std::string after = record.SerializeAsString();
  return Change(kind, id, &after, change);
}

boost::system::error_code Registry::Delete(std::string_view kind, std::string_view id,
                                           const struct Change& change) {
  return Change(kind, id, nullptr, change);
}

Result<std::string> Registry::GetRaw(std::string_view kind, std::string_view id) const {
  return store_.Get(Cf::kRegistry, RecordKey(kind, id));
}

Result<std::vector<std::pair<std::string, std::string>>> Registry::ScanKind(const Store& store,
                                                                            std::string_view kind) {
  std::vector<std::pair<std::string, std::string>> out;
  const std::string prefix = std::string(kind) + '\0';
  auto ec = store.Scan(Cf::kRegistry, prefix, [&](std::string_view k, std::string_view v) {
    out.emplace_back(std::string(k.substr(prefix.size())), std::string(v));
    return true;
  });
  if (ec) {
    return ec;
  }
  return out;
}

Result<std::vector<std::string>> Registry::List(std::string_view kind) const {
  std::vector<std::string> ids;
  const std::string prefix = std::string(kind) + '\0';
  auto ec = store_.Scan(Cf::kRegistry, prefix, [&](std::string_view k, std::string_view) {
    ids.emplace_back(k.substr(prefix.size()));
    return true;
  });
  if (ec) {
    return ec;
  }
  return ids;
}

Result<std::vector<proto::AuditEntry>> Registry::History(std::string_view kind,
                                                         std::string_view id) const {
  auto all = ScanProtos<proto::AuditEntry>(store_, Cf::kAudit, "");
  if (!all || kind.empty()) {
    return all;
  }
  std::vector<proto::AuditEntry> out;
  for (auto& e : *all) {
    if (e.kind() == kind && e.id() == id) {
      out.push_back(std::move(e));
    }
  }
  return out;
}

}  // namespace sy::storage
