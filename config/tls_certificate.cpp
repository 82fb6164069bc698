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
#include <utility>
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

// Why a PEM text that did not read may be so, for the shapes users get wrong: base64-encoded
// once more, an END line run into the next BEGIN line, a key where a certificate belongs.
// Empty, or " (...)" to append to the error.
std::string pem_hint(std::string_view pem) {
  std::size_t first = pem.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && pem.substr(first).starts_with("LS0tLS1CRUdJTi"))
    return " (the text is base64 of \"-----BEGIN\": encoded twice? data values are base64 of "
           "the PEM text, stringData values the PEM text itself)";
  if (pem.find("----------BEGIN ") != std::string_view::npos)
    return " (an END line runs into the next BEGIN line: a newline is missing between "
           "concatenated PEM files)";
  if (pem.find("-----BEGIN CERTIFICATE-----") == std::string_view::npos &&
      pem.find("PRIVATE KEY-----") != std::string_view::npos)
    return " (it holds a private key: are tls.crt and tls.key swapped?)";
  return {};
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
      why = "no PEM certificate (\"-----BEGIN CERTIFICATE-----\") found" + pem_hint(pem);
    } else {
      why = "PEM certificate #" + std::to_string(out.size() + 1) + " cannot be read: " +
            openssl_reason() + pem_hint(pem);
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

// The first PEM private key block of `pem` and what follows it ("" when there is none).
// Blocks before it, such as the "EC PARAMETERS" of `openssl ecparam -genkey` or the
// certificate of a combined PEM, are skipped, as OpenSSL's PEM_read_bio_PrivateKey (nginx)
// and Go's tls.X509KeyPair (ingress-nginx) skip them.
std::string_view from_key_block(std::string_view pem) {
  constexpr std::string_view begin = "-----BEGIN ";
  for (std::size_t at = pem.find(begin); at != std::string_view::npos;
       at = pem.find(begin, at + 1)) {
    std::size_t label = at + begin.size();
    std::size_t end = pem.find("-----", label);
    if (end == std::string_view::npos) break;
    if (pem.substr(label, end - label).ends_with("PRIVATE KEY")) return pem.substr(at);
  }
  return {};
}

// Why an encrypted key block is refused, or "" when `block` (from from_key_block) is not.
std::string encrypted_key_problem(std::string_view block) {
  const char* how = nullptr;
  std::string_view head = block.substr(0, block.find("-----END "));
  if (block.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
    how = "\"BEGIN ENCRYPTED PRIVATE KEY\"";
  else if (head.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos)
    how = "\"Proc-Type: 4,ENCRYPTED\"";
  if (how == nullptr) return {};
  return std::string("the private key is encrypted (") + how +
         "); it must be stored unencrypted (openssl pkey -in tls.key -out plain.key)";
}

pkey_ptr read_key(std::string_view pem, std::string& why) {
  std::string_view block = from_key_block(pem);
  if (block.empty()) {
    why = "no PEM private key (\"-----BEGIN ... PRIVATE KEY-----\") found" + pem_hint(pem);
    if (pem.find("-----BEGIN CERTIFICATE-----") != std::string_view::npos &&
        pem.find("PRIVATE KEY-----") == std::string_view::npos)
      why += " (it holds a certificate: are tls.crt and tls.key swapped?)";
    return nullptr;
  }
  if (why = encrypted_key_problem(block); !why.empty()) return nullptr;
  ERR_clear_error();
  pkey_ptr key = decode_key(block);
  if (!key) {
    why = "the private key cannot be read (damaged, or not a key): " + openssl_reason();
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

// OpenSSL's security level 2 (112 bits), which the proxy's TLS context is pinned to
// (proxy/tls_server.cpp): SSL_use_cert_and_key refuses a chain below it (ssl_security_cert:
// every key of the chain, every signature but a self-signed certificate's), so the build
// refuses it first, saying why.
constexpr int minimum_security_bits = 112;

std::string key_type_text(const EVP_PKEY* key) {
  if (auto t = key_type_of(key)) return std::string(key_type_name(*t));
  const char* sn = OBJ_nid2sn(EVP_PKEY_get_base_id(key));
  return sn != nullptr ? sn : "unknown";
}

// "the RSA key has 1024 bits; ..." (whose: "the", "certificate #2's"), or "".
std::string key_strength_problem(const EVP_PKEY* key, const std::string& whose) {
  if (key == nullptr) return whose + " public key cannot be read";
  if (EVP_PKEY_get_security_bits(key) >= minimum_security_bits) return {};
  const bool ec = key_type_of(key) == tls_key_type::ec;
  return whose + " " + key_type_text(key) + " key has " +
         std::to_string(EVP_PKEY_get_bits(key)) + " bits; at least " + (ec ? "224" : "2048") +
         " are needed (OpenSSL security level 2)";
}

std::string signature_problem(X509* x, std::size_t index) {
  if ((X509_get_extension_flags(x) & EXFLAG_SS) != 0) return {};  // not checked, as OpenSSL
  int md = NID_undef, pk = NID_undef, bits = -1;
  if (X509_get_signature_info(x, &md, &pk, &bits, nullptr) != 1) bits = -1;
  if (bits >= minimum_security_bits) return {};
  const char* sn = md == NID_undef ? nullptr : OBJ_nid2sn(md);
  std::string name = md == NID_sha1  ? "SHA-1"
                     : md == NID_md5 ? "MD5"
                     : sn != nullptr ? sn
                                     : "an unknown hash";
  return "certificate #" + std::to_string(index + 1) + " is signed with " + name +
         "; SHA-256 or stronger is needed (OpenSSL security level 2)";
}

// The first key or signature of the chain under the security level: (tls.crt or tls.key, why).
std::pair<std::string_view, std::string> strength_problem(const std::vector<x509_ptr>& chain,
                                                          const EVP_PKEY* leaf_key) {
  // Every return leaves OpenSSL's error queue empty: X509_get0_pubkey() queues a decode error
  // for a certificate whose key does not parse (found by the tls_secret fuzzer).
  struct clear_on_return {
    ~clear_on_return() { ERR_clear_error(); }
  } clear;
  if (auto p = key_strength_problem(leaf_key, "the"); !p.empty()) return {tls_key_key, p};
  for (std::size_t i = 0; i < chain.size(); ++i) {
    if (i > 0) {
      std::string whose = "certificate #" + std::to_string(i + 1) + "'s";
      if (auto p = key_strength_problem(X509_get0_pubkey(chain[i].get()), whose); !p.empty())
        return {tls_crt_key, p};
    }
    if (auto p = signature_problem(chain[i].get(), i); !p.empty()) return {tls_crt_key, p};
  }
  return {};
}

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
  if (now == 0) return {};
  if (c.not_after < now) return "the certificate expired at " + format_utc(c.not_after);
  if (c.not_before > now) {
    return "the certificate is not valid before " + format_utc(c.not_before);
  }
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
  if (auto [field, problem] = strength_problem(chain, key.get()); !problem.empty()) {
    return failure(data_field(field), problem);
  }
  auto c = std::make_shared<tls_certificate>();
  if (!to_unix(X509_get0_notAfter(leaf), c->not_after) ||
      !to_unix(X509_get0_notBefore(leaf), c->not_before)) {
    ERR_clear_error();
    return failure(data_field(tls_crt_key), "the certificate's validity period cannot be read");
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
  // Outside its validity period: still the certificate (a warning for the caller to report).
  std::string validity = certificate_expiry_problem(*c, now);
  return {std::move(c), validity.empty() ? std::string() : data_field(tls_crt_key),
          std::move(validity)};
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
