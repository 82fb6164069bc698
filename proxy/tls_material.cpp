#include "proxy/tls_material.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <ctime>

namespace portico::proxy {

namespace {

struct bio_deleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using bio_ptr = std::unique_ptr<BIO, bio_deleter>;

// Never prompts on a terminal: an encrypted key is an error (the build refuses it first).
int no_password(char*, int, int, void*) { return -1; }

bio_ptr memory_bio(std::string_view text) {
  return bio_ptr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::string openssl_error(const char* what) {
  std::string out = what;
  unsigned long e = ERR_get_error();
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += ": ";
    out += buf;
  }
  ERR_clear_error();
  return out;
}

bool add_extension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) return false;
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1;
}

}  // namespace

tls_material::tls_material(X509* leaf, EVP_PKEY* key, STACK_OF(X509)* chain)
    : leaf_(leaf), key_(key), chain_(chain) {}

tls_material::~tls_material() {
  X509_free(leaf_);
  EVP_PKEY_free(key_);
  if (chain_ != nullptr) sk_X509_pop_free(chain_, X509_free);
}

bool tls_material::use_on(SSL* ssl) const {
  return SSL_use_cert_and_key(ssl, leaf_, key_, chain_, 1) == 1;
}

bool tls_material::use_on(SSL_CTX* ctx) const {
  return SSL_CTX_use_cert_and_key(ctx, leaf_, key_, chain_, 1) == 1;
}

tls_material_ptr parse_tls_material(std::string_view cert_pem, std::string_view key_pem,
                                    std::string* error) {
  auto fail = [&](const char* what) -> tls_material_ptr {
    if (error != nullptr) *error = openssl_error(what);
    ERR_clear_error();
    return nullptr;
  };
  auto cb = memory_bio(cert_pem);
  X509* leaf = PEM_read_bio_X509(cb.get(), nullptr, no_password, nullptr);
  if (leaf == nullptr) return fail("tls.crt holds no PEM certificate");
  STACK_OF(X509)* chain = sk_X509_new_null();
  while (X509* extra = PEM_read_bio_X509(cb.get(), nullptr, no_password, nullptr))
    sk_X509_push(chain, extra);
  ERR_clear_error();  // the loop ends on "no start line"
  auto kb = memory_bio(key_pem);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(kb.get(), nullptr, no_password, nullptr);
  auto m = std::make_shared<const tls_material>(leaf, key, chain);  // owns all three now
  if (key == nullptr) return fail("tls.key holds no PEM private key");
  if (X509_check_private_key(leaf, key) != 1) return fail("tls.key does not match tls.crt");
  return m;
}

tls_material_ptr make_self_signed_material() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) return nullptr;
  X509* cert = X509_new();
  auto m = std::make_shared<const tls_material>(cert, key, nullptr);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
  X509_set_version(cert, 2);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 365L * 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Acme Co"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(
      name, "CN", MBSTRING_ASC,
      reinterpret_cast<const unsigned char*>("Kubernetes Ingress Controller Fake Certificate"),
      -1, -1, 0);
  X509_set_issuer_name(cert, name);
  if (!add_extension(cert, NID_subject_alt_name, "DNS:ingress.local") ||
      !add_extension(cert, NID_basic_constraints, "critical,CA:FALSE") ||
      !add_extension(cert, NID_key_usage, "critical,digitalSignature") ||
      !add_extension(cert, NID_ext_key_usage, "serverAuth"))
    return nullptr;
  if (X509_sign(cert, key, EVP_sha256()) == 0) return nullptr;
  return m;
}

std::int64_t not_after_seconds(X509* cert) {
  const ASN1_TIME* t = X509_get0_notAfter(cert);
  if (t == nullptr) return 0;
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<std::int64_t>(timegm(&tm));
}

std::string certificate_pem(X509* cert) {
  bio_ptr b(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(b.get(), cert);
  char* data = nullptr;
  const long n = BIO_get_mem_data(b.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

}  // namespace portico::proxy
