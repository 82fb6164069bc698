#include "config/tls_certificate.hpp"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>
#include <optional>
#include <vector>

#include "config/fnv.hpp"

namespace portico::config {
namespace {

struct bio_free {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct x509_free {
  void operator()(X509* x) const { X509_free(x); }
};
struct pkey_free {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using bio_ptr = std::unique_ptr<BIO, bio_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

// Never prompts: an encrypted key is an error, not a terminal dialogue.
int no_password(char*, int, int, void*) { return -1; }

bio_ptr memory_bio(std::string_view s) {
  return bio_ptr(BIO_new_mem_buf(s.data(), static_cast<int>(s.size())));
}

// The reason of the most recent OpenSSL error ("no start line", "bad base64 decode"), and
// the error queue cleared.
std::string openssl_reason() {
  unsigned long e = ERR_peek_last_error();
  const char* r = e ? ERR_reason_error_string(e) : nullptr;
  std::string out = r ? r : (e ? "error " + std::to_string(e) : "unknown error");
  ERR_clear_error();
  return out;
}

bool is_no_start_line(unsigned long e) {
  return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

// Every PEM CERTIFICATE block of `pem`, in order. Empty with `why` set on error.
std::vector<x509_ptr> read_chain(std::string_view pem, std::string& why) {
  ERR_clear_error();
  std::vector<x509_ptr> out;
  if (pem.size() > static_cast<std::size_t>(INT32_MAX)) {
    why = "too large";
    return {};
  }
  bio_ptr bio = memory_bio(pem);
  for (;;) {
    x509_ptr x(PEM_read_bio_X509(bio.get(), nullptr, no_password, nullptr));
    if (x) {
      out.push_back(std::move(x));
      continue;
    }
    unsigned long e = ERR_peek_last_error();
    if (!out.empty() && is_no_start_line(e)) {  // the end of the input
      ERR_clear_error();
      return out;
    }
    if (out.empty() && is_no_start_line(e)) {
      ERR_clear_error();
      why = "no PEM certificate (\"-----BEGIN CERTIFICATE-----\") found";
    } else {
      why = "PEM certificate #" + std::to_string(out.size() + 1) + " cannot be read: " +
            openssl_reason();
    }
    return {};
  }
}

// The key types a server certificate can have on a TLS connection (OpenSSL's slots).
std::optional<tls_key_type> key_type_of(const EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA: return tls_key_type::rsa;
    case EVP_PKEY_RSA_PSS: return tls_key_type::rsa_pss;
    case EVP_PKEY_EC: return tls_key_type::ec;
    case EVP_PKEY_ED25519: return tls_key_type::ed25519;
    case EVP_PKEY_ED448: return tls_key_type::ed448;
    default: return std::nullopt;
  }
}

// A PEM private key decoder kept for the thread (the control thread that builds). OpenSSL
// 3.0 builds a decoder chain for every PEM_read_bio_PrivateKey call; reusing one context
// took a key from ~460-630 us to ~40-60 us of CPU here (EC P-256 and RSA 2048, loaded
// 2-core VM), which is most of a cold build with 10,000 TLS Secrets.
class key_decoder {
 public:
  key_decoder()
      : ctx_(OSSL_DECODER_CTX_new_for_pkey(&out_, "PEM", nullptr, nullptr,
                                           OSSL_KEYMGMT_SELECT_KEYPAIR, nullptr, nullptr)) {
    if (ctx_) OSSL_DECODER_CTX_set_passphrase_cb(ctx_, no_passphrase, nullptr);
  }
  ~key_decoder() {
    OSSL_DECODER_CTX_free(ctx_);
    EVP_PKEY_free(out_);
  }
  key_decoder(const key_decoder&) = delete;
  key_decoder& operator=(const key_decoder&) = delete;

  // Null when the context could not be made: the caller falls back to PEM_read_bio_PrivateKey.
  pkey_ptr decode(std::string_view pem, bool& tried) {
    tried = ctx_ != nullptr;
    if (!ctx_) return nullptr;
    const auto* data = reinterpret_cast<const unsigned char*>(pem.data());
    std::size_t len = pem.size();
    EVP_PKEY_free(out_);
    out_ = nullptr;
    int ok = OSSL_DECODER_from_data(ctx_, &data, &len);
    pkey_ptr key(ok ? out_ : nullptr);
    if (!ok) EVP_PKEY_free(out_);
    out_ = nullptr;
    return key;
  }

 private:
  static int no_passphrase(char*, std::size_t, std::size_t*, const OSSL_PARAM*, void*) {
    return 0;
  }
  EVP_PKEY* out_ = nullptr;  // written by the context: its address must not change
  OSSL_DECODER_CTX* ctx_;
};

pkey_ptr decode_key(std::string_view pem) {
  thread_local key_decoder decoder;
  bool tried = false;
  pkey_ptr key = decoder.decode(pem, tried);
  if (tried) return key;
  bio_ptr bio = memory_bio(pem);
  return pkey_ptr(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr));
}

pkey_ptr read_key(std::string_view pem, std::string& why) {
  if (pem.find("-----BEGIN ") == std::string_view::npos) {
    why = "no PEM private key (\"-----BEGIN ... PRIVATE KEY-----\") found";
    return nullptr;
  }
  ERR_clear_error();
  pkey_ptr key = decode_key(pem);
  if (!key) {
    unsigned long e = ERR_peek_last_error();
    if (is_no_start_line(e)) {
      ERR_clear_error();
      why = "no PEM private key (\"-----BEGIN ... PRIVATE KEY-----\") found";
    } else {
      why = "the private key cannot be read (damaged, or encrypted: encrypted keys are not "
            "supported): " + openssl_reason();
    }
    return nullptr;
  }
  if (!key_type_of(key.get())) {
    why = "unsupported key type (RSA, EC, Ed25519 and Ed448 keys are supported)";
    return nullptr;
  }
  return key;
}

void add_name(std::vector<std::string>& names, const unsigned char* data, int len) {
  if (!data || len <= 0) return;
  std::string n(reinterpret_cast<const char*>(data), static_cast<std::size_t>(len));
  if (n.find('\0') != std::string::npos) return;  // an embedded NUL is never a host name
  if (n.back() == '.') n.pop_back();
  if (n.empty()) return;
  n = ascii_lower(std::move(n));
  if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(std::move(n));
}

// DNS subjectAltNames; the subject's commonName when there are none.
std::vector<std::string> certificate_names(X509* leaf) {
  std::vector<std::string> names;
  auto* gens = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr));
  if (gens) {
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(gens, i);
      if (g->type != GEN_DNS) continue;
      add_name(names, ASN1_STRING_get0_data(g->d.dNSName), ASN1_STRING_length(g->d.dNSName));
    }
    GENERAL_NAMES_free(gens);
  }
  if (!names.empty()) return names;
  X509_NAME* subject = X509_get_subject_name(leaf);
  int idx = subject ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
  if (idx >= 0) {
    ASN1_STRING* d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, d);
    if (len > 0) add_name(names, utf8, len);
    OPENSSL_free(utf8);
  }
  ERR_clear_error();
  return names;
}

bool to_unix(const ASN1_TIME* t, std::int64_t& out) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return false;
  out = static_cast<std::int64_t>(timegm(&tm));
  return true;
}

certificate_result failure(std::string field, std::string message) {
  return {nullptr, std::move(field), std::move(message)};
}

std::string data_field(std::string_view key) { return "data[" + std::string(key) + "]"; }

// The key does not match the leaf: says whether it matches a later certificate of the chain
// (the usual mistake: the chain written in the wrong order).
std::string mismatch_message(const std::vector<x509_ptr>& chain, EVP_PKEY* key) {
  for (std::size_t i = 1; i < chain.size(); ++i) {
    if (X509_check_private_key(chain[i].get(), key) == 1) {
      ERR_clear_error();
      return "the private key does not match the first certificate of tls.crt but certificate #" +
             std::to_string(i + 1) + "; the leaf certificate must come first";
    }
  }
  ERR_clear_error();
  return "the private key does not match the certificate";
}

}  // namespace

std::string ascii_lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::uint64_t certificate_version(std::string_view cert_pem, std::string_view key_pem) {
  return fnv1a().add(cert_pem).add(key_pem).value();
}

std::string format_utc(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  if (!gmtime_r(&tt, &tm)) return std::to_string(t);
  char buf[32];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return n ? std::string(buf, n) : std::to_string(t);
}

std::string certificate_expiry_problem(const tls_certificate& c, std::int64_t now) {
  if (now != 0 && c.not_after < now) return "the certificate expired at " + format_utc(c.not_after);
  return {};
}

certificate_result parse_tls_secret(const secret& s, std::int64_t now) {
  if (s.type != tls_secret_type) {
    return failure("type", "must be " + std::string(tls_secret_type) + ", got \"" + s.type + "\"");
  }
  auto crt = s.data.find(std::string(tls_crt_key));
  if (crt == s.data.end() || crt->second.empty()) {
    return failure(data_field(tls_crt_key), "is missing or empty");
  }
  auto key_it = s.data.find(std::string(tls_key_key));
  if (key_it == s.data.end() || key_it->second.empty()) {
    return failure(data_field(tls_key_key), "is missing or empty");
  }
  std::string why;
  std::vector<x509_ptr> chain = read_chain(crt->second, why);
  if (chain.empty()) return failure(data_field(tls_crt_key), why);
  pkey_ptr key = read_key(key_it->second, why);
  if (!key) return failure(data_field(tls_key_key), why);
  X509* leaf = chain.front().get();
  if (X509_check_private_key(leaf, key.get()) != 1) {
    return failure(data_field(tls_key_key), mismatch_message(chain, key.get()));
  }
  auto c = std::make_shared<tls_certificate>();
  std::int64_t not_before = 0;
  if (!to_unix(X509_get0_notAfter(leaf), c->not_after) ||
      !to_unix(X509_get0_notBefore(leaf), not_before)) {
    ERR_clear_error();
    return failure(data_field(tls_crt_key), "the certificate's validity period cannot be read");
  }
  if (now != 0 && not_before > now) {
    return failure(data_field(tls_crt_key),
                   "the certificate is not valid before " + format_utc(not_before));
  }
  if (auto p = certificate_expiry_problem(*c, now); !p.empty()) {
    return failure(data_field(tls_crt_key), p);
  }
  c->names = certificate_names(leaf);
  if (c->names.empty()) {
    return failure(data_field(tls_crt_key),
                   "the certificate names no host (no DNS subjectAltName and no commonName)");
  }
  c->secret = s.meta.namespace_name + "/" + s.meta.name;
  c->cert_pem = crt->second;
  c->key_pem = key_it->second;
  c->version = certificate_version(c->cert_pem, c->key_pem);
  c->key_type = *key_type_of(key.get());
  ERR_clear_error();
  return {std::move(c), {}, {}};
}

bool certificate_covers(const tls_certificate& c, std::string_view host) {
  if (host.empty()) return false;
  for (const auto& n : c.names) {
    if (n == host) return true;
  }
  if (host.starts_with("*.")) return false;  // a wildcard host needs the same wildcard name
  auto dot = host.find('.');
  if (dot == std::string_view::npos || dot == 0) return false;
  std::string_view parent = host.substr(dot + 1);
  for (const auto& n : c.names) {
    if (n.size() > 2 && n.starts_with("*.") && std::string_view(n).substr(2) == parent) {
      return true;
    }
  }
  return false;
}

std::string certificate_names_text(const tls_certificate& c) {
  std::string out;
  std::size_t shown = 0;
  for (const auto& n : c.names) {
    if (shown == 5) {
      out += ", ...";
      break;
    }
    if (shown++) out += ", ";
    out += n;
  }
  return out;
}

std::string check_ca_bundle(std::string_view pem) {
  if (pem.empty()) return "is missing or empty";
  std::string why;
  if (read_chain(pem, why).empty()) return why;
  return {};
}

}  // namespace portico::config
