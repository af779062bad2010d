#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "crypto/tls_identity.h"

namespace sy::crypto {
namespace {

struct Free {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
  void operator()(X509* p) const noexcept { X509_free(p); }
  void operator()(X509_EXTENSION* p) const noexcept { X509_EXTENSION_free(p); }
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};

bool AddExtension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, Free> ext(
      X509V3_EXT_conf_nid(nullptr, &ctx, nid, const_cast<char*>(value)));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

}  // namespace

Result<void> WriteSelfSignedCertificate(const std::string& certificate_path,
                                        const std::string& key_path, const std::string& common_name,
                                        int days, const std::vector<std::string>& dns_names) {
  const auto fail = make_error_code(Error::kCipherFailure);
  std::unique_ptr<EVP_PKEY, Free> key(EVP_EC_gen("P-256"));
  std::unique_ptr<X509, Free> cert(X509_new());
  if (!key || !cert) {
    return fail;
  }
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 86400L);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Switchyard demo"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), name);
  std::string san = "IP:127.0.0.1,DNS:localhost";
  for (const auto& n : dns_names) {
    if (n.empty() || n.find_first_of(",:\n") != std::string::npos) {
      return make_error_code(Error::kCipherFailure);  // not a DNS name
    }
    san += ",DNS:" + n;
  }
  if (!AddExtension(cert.get(), NID_subject_alt_name, san.c_str()) ||
      !AddExtension(cert.get(), NID_basic_constraints, "critical,CA:FALSE") ||
      X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    return fail;
  }
  const mode_t old_mask = umask(077);  // the key file is readable by its owner only
  std::unique_ptr<std::FILE, Free> kf(std::fopen(key_path.c_str(), "wb"));
  umask(old_mask);
  if (!kf ||
      PEM_write_PrivateKey(kf.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return fail;
  }
  std::unique_ptr<std::FILE, Free> cf(std::fopen(certificate_path.c_str(), "wb"));
  if (!cf || PEM_write_X509(cf.get(), cert.get()) != 1) {
    return fail;
  }
  return {};
}

}  // namespace sy::crypto
