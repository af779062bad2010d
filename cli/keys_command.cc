// switchyard keys — key and PIN tools for operators and tests, thin over sy::crypto.
//
//   switchyard keys ipek --bdk HEX --ksn HEX [--scheme tdes|aes] [--json]
//   switchyard keys dukpt --bdk HEX --ksn HEX --usage USAGE [--scheme tdes|aes]
//                         [--key-type aes128|aes192|aes256|tdes2|tdes3] [--json]
//   switchyard keys kcv --key HEX --algo tdes|aes [--method legacy] [--json]
//   switchyard keys pinblock encode --format 0|1|3|4 --pin DIGITS --pan DIGITS [--key HEX] [--json]
//   switchyard keys pinblock decode --format 0|1|3|4 --pin-block HEX --pan DIGITS [--key HEX]
//   switchyard keys mac --algo retail|cmac|alg1 --key HEX --data HEX [--padding 1|2] [--json]
//   switchyard keys generate --algo tdes|aes --length 16|24|32 --out FILE --out FILE [--out FILE]
//   switchyard keys combine --algo tdes|aes --component HEX --component HEX [--component HEX]
//   switchyard keys translate --pin-block HEX --pan DIGITS --zpk HEX --format 0|1|3|4
//                             (--key HEX | --bdk HEX --ksn HEX [--scheme tdes|aes]) [--json]

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <boost/json.hpp>
#include <map>
#include <ostream>
#include <string>
#include <variant>
#include <vector>

#include "cli/commands.h"
#include "crypto/cipher.h"
#include "crypto/dukpt_aes.h"
#include "crypto/dukpt_tdes.h"
#include "crypto/hex.h"
#include "crypto/kcv.h"
#include "crypto/mac.h"
#include "crypto/pin_block.h"
#include "crypto/pin_translate.h"
#include "crypto/secret_bytes.h"

namespace sy::cli {
namespace {

namespace sc = sy::crypto;

constexpr std::string_view kUsage =
    "usage: switchyard keys <tool> [flags]   (hex in, hex out; --json for JSON output)\n"
    "  ipek      --bdk HEX --ksn HEX [--scheme tdes|aes]\n"
    "  dukpt     --bdk HEX --ksn HEX --usage USAGE [--scheme tdes|aes] [--key-type TYPE]\n"
    "            tdes USAGE: pin|mac-request|mac-response|data-request|data-response\n"
    "            aes  USAGE: pin|mac-gen|mac-ver|mac-both|data-enc|data-dec|data-both|kek\n"
    "            aes  TYPE:  aes128 (default)|aes192|aes256|tdes2|tdes3\n"
    "  kcv       --key HEX --algo tdes|aes [--method legacy]\n"
    "  pinblock  encode --format 0|1|3|4 --pin DIGITS --pan DIGITS [--key HEX]\n"
    "            decode --format 0|1|3|4 --pin-block HEX --pan DIGITS [--key HEX]\n"
    "            (without --key: a clear block, formats 0, 1, 3 only)\n"
    "  mac       --algo retail|cmac|alg1 --key HEX --data HEX [--padding 1|2]\n"
    "  generate  --algo tdes|aes --length 16|24|32 --out FILE --out FILE [--out FILE]\n"
    "            one random component per --out file (mode 0600), each with its KCV\n"
    "  combine   --algo tdes|aes --component HEX --component HEX [--component HEX]\n"
    "  translate --format 0|1|3|4 --pin-block HEX --pan DIGITS --zpk HEX\n"
    "            (--key HEX | --bdk HEX --ksn HEX [--scheme tdes|aes])\n"
    "            re-enciphers the PIN in format 0 under the ZPK\n";

// A failure the command reports: exit status and a sentence naming the flag at fault.
struct Failure {
  int status;
  std::string message;
};

class Flags {
 public:
  // Parses "--name value" pairs and the bare --json; `allowed` lists the value flags.
  static std::variant<Flags, Failure> Parse(Args args,
                                            std::initializer_list<std::string_view> allowed) {
    Flags f;
    for (std::size_t i = 0; i < args.size(); ++i) {
      const std::string_view a = args[i];
      if (a == "--json") {
        f.json_ = true;
        continue;
      }
      bool known = false;
      for (std::string_view name : allowed) {
        known = known || a == name;
      }
      if (!known) {
        return Failure{kExitUsage, "unknown flag '" + std::string(a) + "'"};
      }
      if (i + 1 >= args.size()) {
        return Failure{kExitUsage, std::string(a) + " needs a value"};
      }
      f.values_[std::string(a)].emplace_back(args[++i]);
    }
    return f;
  }

  bool json() const { return json_; }
  bool Has(const std::string& name) const { return values_.count(name) != 0; }
  const std::vector<std::string>& All(const std::string& name) const {
    static const std::vector<std::string> kNone;
    auto it = values_.find(name);
    return it == values_.end() ? kNone : it->second;
  }
  // The single value of a required flag.
  std::variant<std::string, Failure> Get(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) {
      return Failure{kExitUsage, name + " is required"};
    }
    if (it->second.size() != 1) {
      return Failure{kExitUsage, name + " given more than once"};
    }
    return it->second.front();
  }
  std::string GetOr(const std::string& name, std::string fallback) const {
    auto it = values_.find(name);
    return it == values_.end() || it->second.empty() ? fallback : it->second.front();
  }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  bool json_ = false;
};

// Unwraps a variant<T, Failure>, returning the failure from the enclosing function.
#define SY_TRY_ASSIGN(lhs, expr)                   \
  auto lhs##_or = (expr);                          \
  if (auto* f = std::get_if<Failure>(&lhs##_or)) { \
    return *f;                                     \
  }                                                \
  auto lhs = std::move(std::get<0>(lhs##_or))

std::variant<sc::SecretBytes, Failure> KeyFlag(const Flags& flags, const std::string& name) {
  SY_TRY_ASSIGN(hex, flags.Get(name));
  auto key = sc::SecretFromHex(hex);
  if (!key) {
    return Failure{kExitFailure, name + ": " + key.error().message()};
  }
  return std::move(*key);
}

std::variant<std::vector<std::uint8_t>, Failure> BytesFlag(const Flags& flags,
                                                           const std::string& name) {
  SY_TRY_ASSIGN(hex, flags.Get(name));
  auto bytes = sc::FromHex(hex);
  if (!bytes) {
    return Failure{kExitFailure, name + ": " + bytes.error().message()};
  }
  return std::move(*bytes);
}

std::variant<sc::PinBlockFormat, Failure> FormatFlag(const Flags& flags) {
  SY_TRY_ASSIGN(text, flags.Get("--format"));
  if (text.size() != 1 || text[0] < '0' || text[0] > '9') {
    return Failure{kExitUsage, "--format must be 0, 1, 3 or 4"};
  }
  auto f = sc::PinBlockFormatFromNumber(text[0] - '0');
  if (!f) {
    return Failure{kExitUsage, "--format must be 0, 1, 3 or 4"};
  }
  return *f;
}

std::variant<sc::KeyAlgorithm, Failure> AlgoFlag(const Flags& flags) {
  SY_TRY_ASSIGN(algo, flags.Get("--algo"));
  if (algo == "tdes") {
    return sc::KeyAlgorithm::kTdes;
  }
  if (algo == "aes") {
    return sc::KeyAlgorithm::kAes;
  }
  return Failure{kExitUsage, "--algo must be tdes or aes"};
}

std::variant<bool, Failure> SchemeIsAes(const Flags& flags) {
  const std::string scheme = flags.GetOr("--scheme", "tdes");
  if (scheme != "tdes" && scheme != "aes") {
    return Failure{kExitUsage, "--scheme must be tdes or aes"};
  }
  return scheme == "aes";
}

std::string KcvHex(const sc::SecretBytes& key, sc::KeyAlgorithm algo) {
  auto kcv = algo == sc::KeyAlgorithm::kAes ? sc::AesKcv(key) : sc::TdesKcv(key);
  return kcv ? sc::ToHex(*kcv) : std::string();
}

// Prints `fields` as a JSON object or as "name: value" lines.
void Print(Io& io, bool json, const std::vector<std::pair<std::string, std::string>>& fields) {
  if (json) {
    boost::json::object o;
    for (const auto& [k, v] : fields) {
      o[k] = v;
    }
    io.out << boost::json::serialize(o) << "\n";
    return;
  }
  for (const auto& [k, v] : fields) {
    io.out << k << ": " << v << "\n";
  }
}

Failure CryptoFailure(const std::string& context, const boost::system::error_code& ec) {
  return Failure{kExitFailure, context + ": " + ec.message()};
}

using Fields = std::vector<std::pair<std::string, std::string>>;
using Outcome = std::variant<Fields, Failure>;

Outcome Ipek(const Flags& flags) {
  SY_TRY_ASSIGN(aes, SchemeIsAes(flags));
  SY_TRY_ASSIGN(bdk, KeyFlag(flags, "--bdk"));
  SY_TRY_ASSIGN(ksn, BytesFlag(flags, "--ksn"));
  if (aes) {
    if (ksn.size() != sc::kAesKsnSize && ksn.size() != sc::kAesInitialKeyIdSize) {
      return Failure{kExitFailure,
                     "--ksn: AES KSN must be 12 bytes (or the 8-byte initial key ID)"};
    }
    auto ik = sc::DeriveAesInitialKey(bdk, ksn);
    if (!ik) {
      return CryptoFailure("--bdk", ik.error());
    }
    return Fields{{"ipek", sc::ToHex(ik->view())}, {"kcv", KcvHex(*ik, sc::KeyAlgorithm::kAes)}};
  }
  auto ipek = sc::DeriveTdesIpek(bdk, ksn);
  if (!ipek) {
    return CryptoFailure(ipek.error() == sc::Error::kBadKsnLength ? "--ksn" : "--bdk",
                         ipek.error());
  }
  return Fields{{"ipek", sc::ToHex(ipek->view())}, {"kcv", KcvHex(*ipek, sc::KeyAlgorithm::kTdes)}};
}

Outcome Dukpt(const Flags& flags) {
  SY_TRY_ASSIGN(aes, SchemeIsAes(flags));
  SY_TRY_ASSIGN(bdk, KeyFlag(flags, "--bdk"));
  SY_TRY_ASSIGN(ksn, BytesFlag(flags, "--ksn"));
  SY_TRY_ASSIGN(usage, flags.Get("--usage"));
  if (!aes) {
    if (flags.Has("--key-type")) {
      return Failure{kExitUsage, "--key-type applies to --scheme aes only"};
    }
    static const std::map<std::string, sc::TdesDukptVariant> kUsages = {
        {"pin", sc::TdesDukptVariant::kPin},
        {"mac-request", sc::TdesDukptVariant::kMacRequest},
        {"mac-response", sc::TdesDukptVariant::kMacResponse},
        {"data-request", sc::TdesDukptVariant::kDataRequest},
        {"data-response", sc::TdesDukptVariant::kDataResponse}};
    auto it = kUsages.find(usage);
    if (it == kUsages.end()) {
      return Failure{kExitUsage,
                     "--usage must be pin, mac-request, mac-response, data-request or "
                     "data-response for --scheme tdes"};
    }
    auto key = sc::DeriveTdesWorkingKey(bdk, ksn, it->second);
    if (!key) {
      return CryptoFailure(key.error() == sc::Error::kBadKeyLength ? "--bdk" : "--ksn",
                           key.error());
    }
    return Fields{{"key", sc::ToHex(key->view())},
                  {"kcv", KcvHex(*key, sc::KeyAlgorithm::kTdes)},
                  {"usage", usage},
                  {"counter", std::to_string(*sc::TdesKsnCounter(ksn))}};
  }
  static const std::map<std::string, sc::AesDukptKeyUsage> kUsages = {
      {"pin", sc::AesDukptKeyUsage::kPinEncryption},
      {"mac-gen", sc::AesDukptKeyUsage::kMacGeneration},
      {"mac-ver", sc::AesDukptKeyUsage::kMacVerification},
      {"mac-both", sc::AesDukptKeyUsage::kMacBoth},
      {"data-enc", sc::AesDukptKeyUsage::kDataEncrypt},
      {"data-dec", sc::AesDukptKeyUsage::kDataDecrypt},
      {"data-both", sc::AesDukptKeyUsage::kDataBoth},
      {"kek", sc::AesDukptKeyUsage::kKeyEncryption}};
  static const std::map<std::string, sc::AesDukptKeyType> kTypes = {
      {"aes128", sc::AesDukptKeyType::kAes128},
      {"aes192", sc::AesDukptKeyType::kAes192},
      {"aes256", sc::AesDukptKeyType::kAes256},
      {"tdes2", sc::AesDukptKeyType::kTdes2},
      {"tdes3", sc::AesDukptKeyType::kTdes3}};
  auto u = kUsages.find(usage);
  if (u == kUsages.end()) {
    return Failure{kExitUsage,
                   "--usage must be pin, mac-gen, mac-ver, mac-both, data-enc, data-dec, data-both "
                   "or kek for --scheme aes"};
  }
  const std::string type_name = flags.GetOr("--key-type", "aes128");
  auto t = kTypes.find(type_name);
  if (t == kTypes.end()) {
    return Failure{kExitUsage, "--key-type must be aes128, aes192, aes256, tdes2 or tdes3"};
  }
  auto key = sc::DeriveAesWorkingKey(bdk, ksn, u->second, t->second);
  if (!key) {
    const char* flag = key.error() == sc::Error::kBadKeyLength        ? "--bdk"
                       : key.error() == sc::Error::kKeyTypeNotAllowed ? "--key-type"
                                                                      : "--ksn";
    return CryptoFailure(flag, key.error());
  }
  const bool tdes =
      t->second == sc::AesDukptKeyType::kTdes2 || t->second == sc::AesDukptKeyType::kTdes3;
  return Fields{{"key", sc::ToHex(key->view())},
                {"kcv", KcvHex(*key, tdes ? sc::KeyAlgorithm::kTdes : sc::KeyAlgorithm::kAes)},
                {"usage", usage},
                {"key_type", type_name},
                {"counter", std::to_string(*sc::AesKsnCounter(ksn))}};
}

Outcome Kcv(const Flags& flags) {
  SY_TRY_ASSIGN(algo, AlgoFlag(flags));
  SY_TRY_ASSIGN(key, KeyFlag(flags, "--key"));
  const std::string method = flags.GetOr("--method", "standard");
  if (method != "standard" && method != "legacy" && method != "cmac") {
    return Failure{kExitUsage, "--method must be legacy (or omitted)"};
  }
  sc::Result<sc::Kcv> kcv = algo == sc::KeyAlgorithm::kTdes ? sc::TdesKcv(key)
                            : method == "legacy"            ? sc::AesKcvLegacy(key)
                                                            : sc::AesKcv(key);
  if (!kcv) {
    return CryptoFailure("--key", kcv.error());
  }
  return Fields{{"kcv", sc::ToHex(*kcv)}};
}

Outcome PinBlock(Args args) {
  if (args.empty() || (args[0] != "encode" && args[0] != "decode")) {
    return Failure{kExitUsage, "pinblock needs encode or decode"};
  }
  const bool encode = args[0] == "encode";
  auto parsed = encode
                    ? Flags::Parse(args.subspan(1), {"--format", "--pin", "--pan", "--key"})
                    : Flags::Parse(args.subspan(1), {"--format", "--pin-block", "--pan", "--key"});
  if (auto* f = std::get_if<Failure>(&parsed)) {
    return *f;
  }
  const Flags& flags = std::get<Flags>(parsed);
  SY_TRY_ASSIGN(format, FormatFlag(flags));
  const std::string pan = flags.GetOr("--pan", "");
  if (format != sc::PinBlockFormat::kIso1 && !flags.Has("--pan")) {
    return Failure{kExitUsage, "--pan is required for formats 0, 3 and 4"};
  }
  const bool keyed = flags.Has("--key");
  if (!keyed && format == sc::PinBlockFormat::kIso4) {
    return Failure{kExitUsage, "--key is required for format 4 (it has no clear block)"};
  }
  sc::SecretBytes key;
  if (keyed) {
    SY_TRY_ASSIGN(k, KeyFlag(flags, "--key"));
    key = std::move(k);
  }
  const auto fail = [](const boost::system::error_code& ec) {
    const char* flag = ec == sc::Error::kBadPinLength || ec == sc::Error::kBadPinDigit ? "--pin"
                       : ec == sc::Error::kBadPan                                      ? "--pan"
                       : ec == sc::Error::kBadKeyLength                                ? "--key"
                                                        : "--pin-block";
    return CryptoFailure(flag, ec);
  };
  if (encode) {
    SY_TRY_ASSIGN(pin_text, flags.Get("--pin"));
    auto pin = sc::SecretBytes::FromString(pin_text);
    if (!pin) {
      return Failure{kExitFailure,
                     "--pin: " + sc::make_error_code(sc::Error::kBadPinLength).message()};
    }
    if (keyed) {
      auto block = sc::EncipherPinBlock(format, key, *pin, pan, sc::SystemRandom());
      if (!block) {
        return fail(block.error());
      }
      return Fields{{"pin_block", sc::ToHex(block->view())}};
    }
    auto block = sc::BuildClearPinBlock(format, *pin, pan, sc::SystemRandom());
    if (!block) {
      return fail(block.error());
    }
    return Fields{{"pin_block", sc::ToHex(block->view())}};
  }
  if (keyed) {
    SY_TRY_ASSIGN(block, BytesFlag(flags, "--pin-block"));
    auto pin = sc::DecipherPinBlock(format, key, block, pan);
    if (!pin) {
      return fail(pin.error());
    }
    return Fields{{"pin", std::string(pin->as_chars())}};
  }
  SY_TRY_ASSIGN(block, KeyFlag(flags, "--pin-block"));
  auto pin = sc::RecoverPinFromClearBlock(format, block, pan);
  if (!pin) {
    return fail(pin.error());
  }
  return Fields{{"pin", std::string(pin->as_chars())}};
}

Outcome Mac(const Flags& flags) {
  SY_TRY_ASSIGN(algo, flags.Get("--algo"));
  SY_TRY_ASSIGN(key, KeyFlag(flags, "--key"));
  SY_TRY_ASSIGN(data, BytesFlag(flags, "--data"));
  const std::string padding_text = flags.GetOr("--padding", "1");
  const int padding_number = padding_text == "1" ? 1 : padding_text == "2" ? 2 : 0;
  auto padding = sc::MacPaddingFromNumber(padding_number);
  if (!padding) {
    return Failure{kExitUsage, "--padding: " + padding.error().message()};
  }
  if (algo == "cmac") {
    if (flags.Has("--padding")) {
      return Failure{kExitUsage, "--padding does not apply to cmac"};
    }
    auto mac = sc::AesCmac(key, data);
    if (!mac) {
      return CryptoFailure("--key", mac.error());
    }
    return Fields{{"mac", sc::ToHex(*mac)}};
  }
  if (algo != "retail" && algo != "alg1") {
    return Failure{kExitUsage, "--algo must be retail, cmac or alg1"};
  }
  auto mac = algo == "retail" ? sc::RetailMac(key, data, *padding)
                              : sc::Iso9797Alg1Mac(key, data, *padding);
  if (!mac) {
    return CryptoFailure("--key", mac.error());
  }
  return Fields{{"mac", sc::ToHex(*mac)}};
}

// TDES keys get odd parity per byte (ANSI X9.24-1: DES keys carry odd parity); AES keys do not.
void FixParity(sc::SecretBytes& key, sc::KeyAlgorithm algo) {
  if (algo != sc::KeyAlgorithm::kTdes) {
    return;
  }
  for (std::uint8_t& b : key.mutable_view()) {
    b = static_cast<std::uint8_t>((b & 0xFE) |
                                  ((std::popcount(static_cast<unsigned>(b >> 1)) & 1) ^ 1));
  }
}

bool WriteSecretFile(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    return false;
  }
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  return ::close(fd) == 0 && ok;
}

Outcome Generate(const Flags& flags) {
  SY_TRY_ASSIGN(algo, AlgoFlag(flags));
  SY_TRY_ASSIGN(length_text, flags.Get("--length"));
  const std::size_t length = length_text == "16"   ? 16
                             : length_text == "24" ? 24
                             : length_text == "32" ? 32
                                                   : 0;
  if (!sc::IsValidKeySize(algo, length)) {
    return Failure{kExitUsage, "--length must be 16 or 24 (tdes) or 16, 24 or 32 (aes)"};
  }
  const auto& outs = flags.All("--out");
  if (outs.size() != 2 && outs.size() != 3) {
    return Failure{kExitUsage, "--out must be given 2 or 3 times (one file per component)"};
  }
  sc::SecretBytes combined(length);
  Fields fields;
  for (std::size_t i = 0; i < outs.size(); ++i) {
    sc::SecretBytes component(length);
    sc::SystemRandom().Fill(component.mutable_view());
    FixParity(component, algo);
    for (std::size_t j = 0; j < length; ++j) {
      combined.data()[j] ^= component.data()[j];
    }
    const std::string kcv = KcvHex(component, algo);
    std::string text = "component " + std::to_string(i + 1) + " of " + std::to_string(outs.size()) +
                       "\nkey: " + sc::ToHex(component.view()) + "\nkcv: " + kcv + "\n";
    const bool ok = WriteSecretFile(outs[i], text);
    sc::WipeString(text);
    if (!ok) {
      return Failure{kExitFailure, "--out: cannot create " + outs[i] + " (it must not exist)"};
    }
    fields.emplace_back("component_" + std::to_string(i + 1) + "_kcv", kcv);
  }
  FixParity(combined, algo);
  fields.emplace_back("kcv", KcvHex(combined, algo));
  return fields;
}

Outcome Combine(const Flags& flags) {
  SY_TRY_ASSIGN(algo, AlgoFlag(flags));
  const auto& parts = flags.All("--component");
  if (parts.size() != 2 && parts.size() != 3) {
    return Failure{kExitUsage, "--component must be given 2 or 3 times"};
  }
  sc::SecretBytes combined;
  for (const std::string& hex : parts) {
    auto part = sc::SecretFromHex(hex);
    if (!part || !sc::IsValidKeySize(algo, part->size())) {
      return Failure{kExitFailure, "--component: not a hex key of a valid length"};
    }
    if (combined.empty()) {
      combined = part->Clone();
      continue;
    }
    if (part->size() != combined.size()) {
      return Failure{kExitFailure, "--component: components differ in length"};
    }
    for (std::size_t j = 0; j < combined.size(); ++j) {
      combined.data()[j] ^= part->data()[j];
    }
  }
  FixParity(combined, algo);
  return Fields{{"key", sc::ToHex(combined.view())}, {"kcv", KcvHex(combined, algo)}};
}

Outcome Translate(const Flags& flags) {
  SY_TRY_ASSIGN(format, FormatFlag(flags));
  SY_TRY_ASSIGN(block, BytesFlag(flags, "--pin-block"));
  SY_TRY_ASSIGN(pan, flags.Get("--pan"));
  SY_TRY_ASSIGN(zpk, KeyFlag(flags, "--zpk"));
  const auto fail = [](const boost::system::error_code& ec) {
    const char* flag = ec == sc::Error::kBadPan ? "--pan" : "--pin-block";
    return CryptoFailure(flag, ec);
  };
  if (flags.Has("--key") == flags.Has("--bdk")) {
    return Failure{kExitUsage, "give either --key (session key) or --bdk and --ksn (DUKPT)"};
  }
  if (flags.Has("--key")) {
    SY_TRY_ASSIGN(key, KeyFlag(flags, "--key"));
    auto out = sc::TranslatePin(format, key, block, pan, zpk);
    if (!out) {
      return fail(out.error());
    }
    return Fields{{"pin_block", sc::ToHex(out->view())}};
  }
  SY_TRY_ASSIGN(aes, SchemeIsAes(flags));
  SY_TRY_ASSIGN(bdk, KeyFlag(flags, "--bdk"));
  SY_TRY_ASSIGN(ksn, BytesFlag(flags, "--ksn"));
  sc::Result<sc::PinBlock> out = sc::Error::kBadKeyUsage;
  if (aes) {
    sc::AesDukptHostCache cache;
    out = sc::TranslatePinFromAesDukpt(cache, bdk, ksn, format, block, pan, zpk);
  } else {
    sc::TdesDukptHostCache cache;
    out = sc::TranslatePinFromTdesDukpt(cache, bdk, ksn, format, block, pan, zpk);
  }
  if (!out) {
    const auto ec = out.error();
    if (ec == sc::Error::kBadKsnLength || ec == sc::Error::kKsnCounterZero ||
        ec == sc::Error::kKsnCounterExhausted) {
      return CryptoFailure("--ksn", ec);
    }
    return fail(ec);
  }
  return Fields{{"pin_block", sc::ToHex(out->view())}};
}

}  // namespace

int RunKeys(Args args, Io& io) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    (args.empty() ? io.err : io.out) << kUsage;
    return args.empty() ? kExitUsage : kExitOk;
  }
  const std::string_view tool = args[0];
  const Args rest = args.subspan(1);
  Outcome outcome = Failure{kExitUsage, "unknown tool '" + std::string(tool) + "'"};
  bool json = false;
  const auto run = [&](std::initializer_list<std::string_view> allowed, auto&& fn) {
    auto parsed = Flags::Parse(rest, allowed);
    if (auto* f = std::get_if<Failure>(&parsed)) {
      outcome = *f;
      return;
    }
    json = std::get<Flags>(parsed).json();
    outcome = fn(std::get<Flags>(parsed));
  };
  if (tool == "ipek") {
    run({"--bdk", "--ksn", "--scheme"}, Ipek);
  } else if (tool == "dukpt") {
    run({"--bdk", "--ksn", "--scheme", "--usage", "--key-type"}, Dukpt);
  } else if (tool == "kcv") {
    run({"--key", "--algo", "--method"}, Kcv);
  } else if (tool == "pinblock") {
    for (std::string_view a : rest) {
      json = json || a == "--json";
    }
    outcome = PinBlock(rest);
  } else if (tool == "mac") {
    run({"--algo", "--key", "--data", "--padding"}, Mac);
  } else if (tool == "generate") {
    run({"--algo", "--length", "--out"}, Generate);
  } else if (tool == "combine") {
    run({"--algo", "--component"}, Combine);
  } else if (tool == "translate") {
    run({"--format", "--pin-block", "--pan", "--zpk", "--key", "--bdk", "--ksn", "--scheme"},
        Translate);
  }
  if (auto* f = std::get_if<Failure>(&outcome)) {
    io.err << "switchyard keys " << tool << ": " << f->message << "\n";
    if (f->status == kExitUsage) {
      io.err << kUsage;
    }
    return f->status;
  }
  Print(io, json, std::get<0>(outcome));
  return kExitOk;
}

}  // namespace sy::cli
