#include "switch/settlement/output.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <sstream>

#include "crypto/digest.h"

namespace sy::server::settlement {
namespace {

constexpr std::string_view kCarriedForward = "carried-forward.csv";
constexpr std::size_t kRecordLength = 160;  // of the fixed-layout file, newline excluded
constexpr std::int64_t kAmountLimit = 100'000'000'000'000'000;  // 10^17: 17 digits

std::string Errno(std::string_view what, const std::string& path) {
  return std::string(what) + " " + path + ": " + std::strerror(errno);
}

// A CSV field: quoted when it holds a separator, quote or line break (RFC 4180).
std::string CsvField(std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) {
    return std::string(s);
  }
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') {
      out += '"';
    }
    out += c;
  }
  out += '"';
  return out;
}

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

// One exception (an item held for review) as a JSON object (report.json, reconciliation.json).
void WriteExceptionJson(std::ostream& os, const Exception& e) {
  os << "{\"kind\": " << JsonString(e.kind) << ", \"tid\": " << JsonString(e.tid)
     << ", \"batch_number\": " << e.batch_number << ", \"mid\": " << JsonString(e.mid)
     << ", \"txn_id\": " << e.txn_id << ", \"mti\": " << JsonString(e.mti)
     << ", \"stan\": " << JsonString(e.stan)
     << ", \"processing_code\": " << JsonString(e.processing_code)
     << ", \"amount_minor\": " << e.amount_minor << ", \"currency\": " << e.currency
     << ", \"rrn\": " << JsonString(e.rrn) << ", \"masked_pan\": " << JsonString(e.masked_pan)
     << ", \"reason\": " << JsonString(e.reason) << "}";
}

// One batch's reconciliation as a JSON object (the same in report.json and reconciliation.json).
void WriteBatchJson(std::ostream& os, const BatchReconciliation& b) {
  os << "{\"tid\": " << JsonString(b.tid) << ", \"batch_number\": " << b.batch_number
     << ", \"currency\": " << b.currency << ", \"status\": " << JsonString(b.status)
     << ", \"switch_debit_count\": " << b.switch_debit_count
     << ", \"switch_debit_minor\": " << b.switch_debit_minor
     << ", \"switch_credit_count\": " << b.switch_credit_count
     << ", \"switch_credit_minor\": " << b.switch_credit_minor;
  if (b.has_terminal_totals) {
    os << ", \"terminal_debit_count\": " << b.terminal_debit_count
       << ", \"terminal_debit_minor\": " << b.terminal_debit_minor
       << ", \"terminal_credit_count\": " << b.terminal_credit_count
       << ", \"terminal_credit_minor\": " << b.terminal_credit_minor
       << ", \"balanced\": " << (b.balanced() ? "true" : "false");
  }
  os << ", \"switch_only_txn_ids\": [";
  for (std::size_t j = 0; j < b.switch_only_txn_ids.size(); ++j) {
    os << (j ? ", " : "") << b.switch_only_txn_ids[j];
  }
  os << "]}";
}

// Right-justified, zero-padded unsigned number of `width` digits; false when it does not fit.
bool Digits(std::uint64_t v, std::size_t width, std::string& out) {
  std::string s = std::to_string(v);
  if (s.size() > width) {
    return false;
  }
  out.append(width - s.size(), '0');
  out += s;
  return true;
}

// Sign and 17 digits.
bool Signed18(std::int64_t v, std::string& out) {
  if (v <= -kAmountLimit || v >= kAmountLimit) {
    return false;
  }
  out += v < 0 ? '-' : '+';
  return Digits(static_cast<std::uint64_t>(v < 0 ? -v : v), 17, out);
}

bool Alpha(std::string_view s, std::size_t width, std::string& out) {
  if (s.size() > width || s.find_first_of("\r\n") != std::string_view::npos) {
    return false;
  }
  out += s;
  out.append(width - s.size(), ' ');
  return true;
}

void EndRecord(std::string& record, std::string& file) {
  record.resize(kRecordLength, ' ');
  file += record;
  file += '\n';
}

struct Totals {
  std::uint32_t rows = 0;
  std::uint64_t transactions = 0;
  std::int64_t gross = 0, refunds = 0, fees = 0, net = 0, carried_in = 0, payable = 0,
               carried_forward = 0;
  void Add(const Row& r) {
    rows++;
    transactions += r.transaction_count();
    gross += r.gross_minor;
    refunds += r.refund_minor;
    fees += r.fees_minor;
    net += r.net_minor;
    carried_in += r.carried_in_minor;
    payable += r.payable_minor;
    carried_forward += r.carried_forward_minor;
  }
};

std::map<std::uint32_t, Totals> TotalsByCurrency(const SettlementRun& run,
                                                 std::string_view settlement_date = {}) {
  std::map<std::uint32_t, Totals> out;
  for (const auto& r : run.rows) {
    if (settlement_date.empty() || r.settlement_date == settlement_date) {
      out[r.currency].Add(r);
    }
  }
  return out;
}

int SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return -1;
  }
  const int rc = ::fsync(fd);
  ::close(fd);
  return rc;
}

bool MakeDir(const std::string& dir, std::string& why) {
  if (::mkdir(dir.c_str(), 0755) == 0) {
    const auto slash = dir.find_last_of('/');
    if (SyncDir(slash == std::string::npos ? "." : (slash == 0 ? "/" : dir.substr(0, slash))) !=
        0) {
      why = Errno("fsync parent of", dir);
      return false;
    }
    return true;
  }
  if (errno == EEXIST) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      return true;
    }
    errno = ENOTDIR;
  }
  why = Errno("mkdir", dir);
  return false;
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    return out;
  }
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") {
      out.push_back(name);
    }
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

bool ReadFile(const std::string& path, std::string& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return false;
  }
  out.clear();
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      ::close(fd);
      return false;
    }
    if (n == 0) {
      break;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return true;
}

bool IsDateName(std::string_view s) {
  return s.size() == 8 && s.find_first_not_of("0123456789") == std::string_view::npos;
}

std::string Sidecar(std::string_view contents, std::string_view name) {
  return Sha256Hex(contents) + "  " + std::string(name) + "\n";
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  const auto d = crypto::Sha256(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (std::uint8_t b : d) {
    out += kHex[b >> 4];
    out += kHex[b & 0xF];
  }
  return out;
}

std::string RenderCsv(const SettlementRun& run) {
  std::ostringstream os;
  os << "business_date,settlement_date,mid,currency,agreement_version,cycle_days,"
        "purchase_count,purchase_minor,completion_count,completion_minor,refund_count,"
        "refund_minor,stand_in_count,transaction_count,gross_minor,fees_minor,net_minor,"
        "carried_in_minor,payable_minor,carried_forward_minor\n";
  for (const auto& r : run.rows) {
    os << run.business_date << ',' << r.settlement_date << ',' << CsvField(r.mid) << ','
       << r.currency << ',' << r.agreement_version << ',' << r.cycle_days << ',' << r.purchase_count
       << ',' << r.purchase_minor << ',' << r.completion_count << ',' << r.completion_minor << ','
       << r.refund_count << ',' << r.refund_minor << ',' << r.stand_in_count << ','
       << r.transaction_count() << ',' << r.gross_minor << ',' << r.fees_minor << ',' << r.net_minor
       << ',' << r.carried_in_minor << ',' << r.payable_minor << ',' << r.carried_forward_minor
       << '\n';
  }
  return os.str();
}

std::string RenderReconciliationCsv(const SettlementRun& run) {
  std::ostringstream os;
  os << "business_date,tid,batch_number,currency,status,switch_debit_count,switch_debit_minor,"
        "switch_credit_count,switch_credit_minor,terminal_debit_count,terminal_debit_minor,"
        "terminal_credit_count,terminal_credit_minor,balanced,switch_only_txn_ids\n";
  for (const auto& b : run.batches) {
    os << run.business_date << ',' << CsvField(b.tid) << ',' << b.batch_number << ',' << b.currency
       << ',' << b.status << ',' << b.switch_debit_count << ',' << b.switch_debit_minor << ','
       << b.switch_credit_count << ',' << b.switch_credit_minor << ',';
    if (b.has_terminal_totals) {
      os << b.terminal_debit_count << ',' << b.terminal_debit_minor << ','
         << b.terminal_credit_count << ',' << b.terminal_credit_minor << ',';
    } else {
      os << ",,,,";
    }
    os << (b.has_terminal_totals ? (b.balanced() ? "yes" : "no") : "") << ',';
    for (std::size_t i = 0; i < b.switch_only_txn_ids.size(); ++i) {
      os << (i ? " " : "") << b.switch_only_txn_ids[i];
    }
    os << '\n';
  }
  os << "\nkind,tid,batch_number,mid,txn_id,mti,stan,processing_code,amount_minor,currency,rrn,"
        "masked_pan,reason\n";
  for (const auto& e : run.exceptions) {
    os << e.kind << ',' << CsvField(e.tid) << ',' << e.batch_number << ',' << CsvField(e.mid) << ','
       << e.txn_id << ',' << CsvField(e.mti) << ',' << CsvField(e.stan) << ','
       << CsvField(e.processing_code) << ',' << e.amount_minor << ',' << e.currency << ','
       << CsvField(e.rrn) << ',' << CsvField(e.masked_pan) << ',' << CsvField(e.reason) << '\n';
  }
  return os.str();
}

std::string RenderIssuerReconciliationCsv(const SettlementRun& run) {
  std::ostringstream os;
  os << "business_date,route,currency,switch_debit_count,switch_debit_minor,switch_credit_count,"
        "switch_credit_minor,issuer_debit_count,issuer_debit_minor,issuer_credit_count,"
        "issuer_credit_minor,stand_in_count,advices_owed,advices_acknowledged,reversals_owed,"
        "reversals_acknowledged,unmatched,balanced\n";
  for (const auto& r : run.routes) {
    os << run.business_date << ',' << CsvField(r.route) << ',' << r.currency << ','
       << r.switch_debit_count << ',' << r.switch_debit_minor << ',' << r.switch_credit_count << ','
       << r.switch_credit_minor << ',' << r.issuer_debit_count << ',' << r.issuer_debit_minor << ','
       << r.issuer_credit_count << ',' << r.issuer_credit_minor << ',' << r.stand_in_count << ','
       << r.advices_owed << ',' << r.advices_acknowledged << ',' << r.reversals_owed << ','
       << r.reversals_acknowledged << ',' << r.unmatched << ',' << (r.balanced() ? "yes" : "no")
       << '\n';
  }
  os << "\nroute,currency,txn_id,tid,mid,mti,processing_code,stan,rrn,masked_pan,amount_minor,"
        "message,reason\n";
  for (const auto& u : run.unmatched) {
    os << CsvField(u.route) << ',' << u.currency << ',' << u.txn_id << ',' << CsvField(u.tid) << ','
       << CsvField(u.mid) << ',' << CsvField(u.mti) << ',' << CsvField(u.processing_code) << ','
       << CsvField(u.stan) << ',' << CsvField(u.rrn) << ',' << CsvField(u.masked_pan) << ','
       << u.amount_minor << ',' << CsvField(u.message) << ',' << CsvField(u.reason) << '\n';
  }
  return os.str();
}

std::string RenderCarriedForward(const SettlementRun& run) {
  std::ostringstream os;
  os << "business_date,mid,currency,carried_forward_minor\n";
  for (const auto& r : run.rows) {
    if (r.carried_forward_minor != 0) {
      os << run.business_date << ',' << CsvField(r.mid) << ',' << r.currency << ','
         << r.carried_forward_minor << '\n';
    }
  }
  return os.str();
}

std::string RenderJson(const SettlementRun& run) {
  std::ostringstream os;
  os << "{\n  \"business_date\": " << JsonString(run.business_date)
     << ",\n  \"records_read\": " << run.records_read
     << ",\n  \"records_settled\": " << run.records_settled << ",\n  \"rows\": [";
  for (std::size_t i = 0; i < run.rows.size(); ++i) {
    const Row& r = run.rows[i];
    os << (i ? "," : "") << "\n    {\"mid\": " << JsonString(r.mid)
       << ", \"currency\": " << r.currency
       << ", \"settlement_date\": " << JsonString(r.settlement_date)
       << ", \"agreement_version\": " << r.agreement_version << ", \"cycle_days\": " << r.cycle_days
       << ", \"purchase_count\": " << r.purchase_count
       << ", \"purchase_minor\": " << r.purchase_minor
       << ", \"completion_count\": " << r.completion_count
       << ", \"completion_minor\": " << r.completion_minor
       << ", \"refund_count\": " << r.refund_count << ", \"refund_minor\": " << r.refund_minor
       << ", \"stand_in_count\": " << r.stand_in_count
       << ", \"transaction_count\": " << r.transaction_count()
       << ", \"gross_minor\": " << r.gross_minor << ", \"fees_minor\": " << r.fees_minor
       << ", \"net_minor\": " << r.net_minor << ", \"carried_in_minor\": " << r.carried_in_minor
       << ", \"payable_minor\": " << r.payable_minor
       << ", \"carried_forward_minor\": " << r.carried_forward_minor << "}";
  }
  os << (run.rows.empty() ? "" : "\n  ") << "],\n  \"totals\": [";
  bool first = true;
  for (const auto& [currency, t] : TotalsByCurrency(run)) {
    os << (first ? "" : ",") << "\n    {\"currency\": " << currency << ", \"rows\": " << t.rows
       << ", \"transaction_count\": " << t.transactions << ", \"gross_minor\": " << t.gross
       << ", \"refund_minor\": " << t.refunds << ", \"fees_minor\": " << t.fees
       << ", \"net_minor\": " << t.net << ", \"carried_in_minor\": " << t.carried_in
       << ", \"payable_minor\": " << t.payable
       << ", \"carried_forward_minor\": " << t.carried_forward << "}";
    first = false;
  }
  os << (first ? "" : "\n  ") << "],\n  \"reconciliation\": {\n    \"batches\": [";
  for (std::size_t i = 0; i < run.batches.size(); ++i) {
    const auto& b = run.batches[i];
    os << (i ? "," : "") << "\n      ";
    WriteBatchJson(os, b);
  }
  os << (run.batches.empty() ? "" : "\n    ") << "],\n    \"exceptions\": [";
  for (std::size_t i = 0; i < run.exceptions.size(); ++i) {
    const auto& e = run.exceptions[i];
    os << (i ? "," : "") << "\n      ";
    WriteExceptionJson(os, e);
  }
  os << (run.exceptions.empty() ? "" : "\n    ") << "]\n  }\n}\n";
  return os.str();
}

std::string RenderReconciliationJson(const SettlementRun& run) {
  std::ostringstream os;
  std::size_t unbalanced = 0;
  for (const auto& b : run.batches) {
    unbalanced += b.balanced() ? 0 : 1;
  }
  std::size_t routes_unbalanced = 0;
  for (const auto& r : run.routes) {
    routes_unbalanced += r.balanced() ? 0 : 1;
  }
  os << "{\n  \"business_date\": " << JsonString(run.business_date)
     << ",\n  \"summary\": {\"batches\": " << run.batches.size()
     << ", \"batches_unbalanced\": " << unbalanced << ", \"routes\": " << run.routes.size()
     << ", \"routes_unbalanced\": " << routes_unbalanced
     << ", \"unmatched\": " << run.unmatched.size() << ", \"exceptions\": " << run.exceptions.size()
     << "},\n  \"batches\": [";
  for (std::size_t i = 0; i < run.batches.size(); ++i) {
    const auto& b = run.batches[i];
    os << (i ? "," : "") << "\n    ";
    WriteBatchJson(os, b);
  }
  os << (run.batches.empty() ? "" : "\n  ") << "],\n  \"routes\": [";
  for (std::size_t i = 0; i < run.routes.size(); ++i) {
    const auto& r = run.routes[i];
    os << (i ? "," : "") << "\n    {\"route\": " << JsonString(r.route)
       << ", \"currency\": " << r.currency << ", \"switch_debit_count\": " << r.switch_debit_count
       << ", \"switch_debit_minor\": " << r.switch_debit_minor
       << ", \"switch_credit_count\": " << r.switch_credit_count
       << ", \"switch_credit_minor\": " << r.switch_credit_minor
       << ", \"issuer_debit_count\": " << r.issuer_debit_count
       << ", \"issuer_debit_minor\": " << r.issuer_debit_minor
       << ", \"issuer_credit_count\": " << r.issuer_credit_count
       << ", \"issuer_credit_minor\": " << r.issuer_credit_minor
       << ", \"stand_in_count\": " << r.stand_in_count << ", \"advices_owed\": " << r.advices_owed
       << ", \"advices_acknowledged\": " << r.advices_acknowledged
       << ", \"reversals_owed\": " << r.reversals_owed
       << ", \"reversals_acknowledged\": " << r.reversals_acknowledged
       << ", \"unmatched\": " << r.unmatched
       << ", \"balanced\": " << (r.balanced() ? "true" : "false") << "}";
  }
  os << (run.routes.empty() ? "" : "\n  ") << "],\n  \"unmatched\": [";
  for (std::size_t i = 0; i < run.unmatched.size(); ++i) {
    const auto& u = run.unmatched[i];
    os << (i ? "," : "") << "\n    {\"route\": " << JsonString(u.route)
       << ", \"currency\": " << u.currency << ", \"txn_id\": " << u.txn_id
       << ", \"tid\": " << JsonString(u.tid) << ", \"mid\": " << JsonString(u.mid)
       << ", \"mti\": " << JsonString(u.mti)
       << ", \"processing_code\": " << JsonString(u.processing_code)
       << ", \"stan\": " << JsonString(u.stan) << ", \"rrn\": " << JsonString(u.rrn)
       << ", \"masked_pan\": " << JsonString(u.masked_pan)
       << ", \"amount_minor\": " << u.amount_minor << ", \"message\": " << JsonString(u.message)
       << ", \"reason\": " << JsonString(u.reason) << "}";
  }
  os << (run.unmatched.empty() ? "" : "\n  ") << "],\n  \"exceptions\": [";
  for (std::size_t i = 0; i < run.exceptions.size(); ++i) {
    const auto& e = run.exceptions[i];
    os << (i ? "," : "") << "\n    ";
    WriteExceptionJson(os, e);
  }
  os << (run.exceptions.empty() ? "" : "\n  ") << "]\n}\n";
  return os.str();
}

Result<std::string> RenderSettlementFile(const SettlementRun& run,
                                         std::string_view settlement_date) {
  std::string file;
  std::string rec;
  bool ok = true;
  rec = "H";
  ok &= Alpha(settlement_date, 8, rec);
  ok &= Alpha(run.business_date, 8, rec);
  ok &= Alpha("SYSETL01", 8, rec);
  EndRecord(rec, file);
  std::uint64_t details = 0;
  std::uint64_t records = 1;
  // Details grouped by currency (then merchant), each currency closed by its control record.
  std::vector<const Row*> rows;
  for (const auto& r : run.rows) {
    if (r.settlement_date == settlement_date) {
      rows.push_back(&r);
    }
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Row* x, const Row* y) {
    return std::tie(x->currency, x->mid) < std::tie(y->currency, y->mid);
  });
  const auto totals = TotalsByCurrency(run, settlement_date);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = *rows[i];
    rec = "D";
    ok &= Alpha(r.mid, 15, rec);
    ok &= Digits(r.currency, 3, rec);
    ok &= Digits(r.agreement_version, 5, rec);
    ok &= Digits(r.transaction_count(), 9, rec);
    ok &= Signed18(r.gross_minor, rec);
    ok &= Signed18(r.refund_minor, rec);
    ok &= Signed18(r.fees_minor, rec);
    ok &= Signed18(r.net_minor, rec);
    ok &= Signed18(r.carried_in_minor, rec);
    ok &= Signed18(r.payable_minor, rec);
    ok &= Signed18(r.carried_forward_minor, rec);
    EndRecord(rec, file);
    details++;
    records++;
    if (i + 1 == rows.size() || rows[i + 1]->currency != r.currency) {
      const Totals& t = totals.at(r.currency);
      rec = "T";
      ok &= Digits(r.currency, 3, rec);
      ok &= Digits(t.rows, 9, rec);
      ok &= Digits(t.transactions, 9, rec);
      ok &= Signed18(t.gross, rec);
      ok &= Signed18(t.refunds, rec);
      ok &= Signed18(t.fees, rec);
      ok &= Signed18(t.net, rec);
      ok &= Signed18(t.payable, rec);
      ok &= Signed18(t.carried_forward, rec);
      EndRecord(rec, file);
      records++;
    }
  }
  rec = "Z";
  ok &= Digits(records + 1, 9, rec);
  ok &= Digits(details, 9, rec);
  EndRecord(rec, file);
  if (!ok) {
    return MakeProblem(Error::kOverflow, "a field of the settlement file for " +
                                             std::string(settlement_date) +
                                             " does not fit its width (merchant id over 15 "
                                             "characters or an amount of 18 digits or more)");
  }
  return file;
}

Result<std::map<std::string, std::string>> RenderRun(const SettlementRun& run) {
  std::map<std::string, std::string> files;
  std::set<std::string> dates;
  for (const auto& r : run.rows) {
    if (!r.settlement_date.empty()) {
      dates.insert(r.settlement_date);
    }
  }
  for (const auto& d : dates) {
    auto f = RenderSettlementFile(run, d);
    if (!f) {
      return f.error();
    }
    files["settlement-" + d + ".txt"] = std::move(*f);
  }
  files["settlement.csv"] = RenderCsv(run);
  files["settlement.json"] = RenderJson(run);
  files["reconciliation.csv"] = RenderReconciliationCsv(run);
  files["issuer-reconciliation.csv"] = RenderIssuerReconciliationCsv(run);
  files["reconciliation.json"] = RenderReconciliationJson(run);
  files[std::string(kCarriedForward)] = RenderCarriedForward(run);
  return files;
}

Result<bool> WriteFileAtomic(const std::string& path, std::string_view contents,
                             const WriteOptions& options) {
  const auto slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  const std::string tmp = dir + "/." + base + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return MakeProblem(Error::kIo, Errno("open", tmp));
  }
  std::size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      auto p = MakeProblem(Error::kIo, Errno("write", tmp));
      ::close(fd);
      ::unlink(tmp.c_str());
      return p;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    auto p = MakeProblem(Error::kIo, Errno("fsync", tmp));
    ::close(fd);
    ::unlink(tmp.c_str());
    return p;
  }
  ::close(fd);
  if (options.before_rename && !options.before_rename(path)) {
    return MakeProblem(Error::kInjectedFailure, "before renaming to " + path);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto p = MakeProblem(Error::kIo, Errno("rename to", path));
    ::unlink(tmp.c_str());
    return p;
  }
  if (SyncDir(dir) != 0) {
    return MakeProblem(Error::kIo, Errno("fsync", dir));
  }
  return true;
}

Result<std::vector<WrittenFile>> WriteRun(const SettlementRun& run, const std::string& out_dir,
                                          const WriteOptions& options) {
  auto files = RenderRun(run);
  if (!files) {
    return files.error();
  }
  std::string why;
  if (!MakeDir(out_dir, why)) {
    return MakeProblem(Error::kIo, why);
  }
  const std::string dir = out_dir + "/" + run.business_date;
  if (!MakeDir(dir, why)) {
    return MakeProblem(Error::kIo, why);
  }
  // Temporaries of a run that was killed, and settlement files of dates this run no longer has.
  for (const auto& name : ListDir(dir)) {
    const bool tmp = name.starts_with(".") && name.ends_with(".tmp");
    const bool stale_file =
        name.starts_with("settlement-") &&
        !files->contains(name.ends_with(".sha256") ? name.substr(0, name.size() - 7) : name);
    if (tmp || stale_file) {
      if (::unlink((dir + "/" + name).c_str()) != 0 && errno != ENOENT) {
        return MakeProblem(Error::kIo, Errno("unlink", dir + "/" + name));
      }
    }
  }
  std::vector<WrittenFile> written;
  auto write_one = [&](const std::string& name, const std::string& contents) -> Result<bool> {
    if (auto r = WriteFileAtomic(dir + "/" + name, contents, options); !r) {
      return r.error();
    }
    const std::string sidecar = Sidecar(contents, name);
    if (auto r = WriteFileAtomic(dir + "/" + name + ".sha256", sidecar, options); !r) {
      return r.error();
    }
    written.push_back({name, sidecar.substr(0, 64), contents.size()});
    return true;
  };
  for (const auto& [name, contents] : *files) {
    if (name == kCarriedForward) {
      continue;
    }
    if (auto r = write_one(name, contents); !r) {
      return r.error();
    }
  }
  // Last: its verified presence marks the run directory complete.
  if (auto r = write_one(std::string(kCarriedForward), files->at(std::string(kCarriedForward)));
      !r) {
    return r.error();
  }
  return written;
}

Result<std::map<MerchantCurrency, std::int64_t>> ReadCarriedForward(
    const std::string& out_dir, std::string_view business_date) {
  std::map<MerchantCurrency, std::int64_t> out;
  std::string previous;
  bool later_exists = false;
  bool own_exists = false;
  for (const auto& name : ListDir(out_dir)) {
    if (!IsDateName(name)) {
      continue;
    }
    if (name < business_date) {
      previous = name;  // ListDir sorts: the last one wins
    } else if (name > business_date) {
      later_exists = true;
    } else {
      own_exists = true;
    }
  }
  if (later_exists && !own_exists) {
    // A first run out of order would take the same carried-forward amounts as the later run did.
    return MakeProblem(Error::kBadLedger, "a later business date than " +
                                              std::string(business_date) + " is settled in " +
                                              out_dir + ": runs must go in date order");
  }
  if (previous.empty()) {
    return out;
  }
  const std::string path = out_dir + "/" + previous + "/" + std::string(kCarriedForward);
  std::string contents, sidecar;
  if (!ReadFile(path, contents) || !ReadFile(path + ".sha256", sidecar) ||
      sidecar != Sidecar(contents, kCarriedForward)) {
    return MakeProblem(Error::kBadLedger, "the run of " + previous + " is incomplete or altered (" +
                                              path +
                                              " missing or not matching its .sha256): "
                                              "run it again first");
  }
  std::istringstream is(contents);
  std::string line;
  std::getline(is, line);  // header
  int line_no = 1;
  while (std::getline(is, line)) {
    ++line_no;
    // business_date,mid,currency,amount; a quoted mid is not expected (field 42 is 15 ans).
    std::vector<std::string> f;
    std::stringstream ls(line);
    std::string cell;
    while (std::getline(ls, cell, ',')) {
      f.push_back(cell);
    }
    std::int64_t amount = 0;
    std::uint32_t currency = 0;
    try {
      if (f.size() != 4) {
        throw std::invalid_argument("fields");
      }
      currency = static_cast<std::uint32_t>(std::stoul(f[2]));
      amount = std::stoll(f[3]);
    } catch (const std::exception&) {
      return MakeProblem(Error::kBadLedger, path + ": line " + std::to_string(line_no) +
                                                " is not business_date,mid,currency,amount");
    }
    out[{f[1], currency}] += amount;
  }
  return out;
}

}  // namespace sy::server::settlement
