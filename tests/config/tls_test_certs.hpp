// Test helpers for TLS: certificates and keys generated in the test with OpenSSL (EC P-256,
// RSA, Ed25519; self-signed or signed by a test CA; chosen names and validity), Secrets
// holding them, and Ingresses with spec.tls and annotations.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/cluster_state.hpp"

namespace portico::config::testing {

// The fixed "now" of TLS tests (2027-01-15T08:00:00Z); build_options::now is set to it.
inline constexpr std::int64_t tls_now = 1'800'000'000;
inline constexpr std::int64_t day = 86'400;

struct pkey_deleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct x509_deleter {
  void operator()(X509* x) const { X509_free(x); }
};
using test_pkey = std::unique_ptr<EVP_PKEY, pkey_deleter>;
using test_x509 = std::unique_ptr<X509, x509_deleter>;

enum class key_kind { ec, rsa, ed25519, rsa1024 };

inline test_pkey make_key(key_kind k = key_kind::ec) {
  switch (k) {
    case key_kind::rsa: return test_pkey(EVP_RSA_gen(2048));
    case key_kind::rsa1024: return test_pkey(EVP_RSA_gen(1024));
    case key_kind::ed25519: return test_pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    case key_kind::ec: break;
  }
  return test_pkey(EVP_EC_gen("P-256"));
}

struct cert_spec {
  std::string cn = "test";
  std::vector<std::string> dns;  // subjectAltName DNS entries (none: no SAN extension)
  std::int64_t not_before = tls_now - day;
  std::int64_t not_after = tls_now + 365 * day;
  bool ca = false;
  bool sha1 = false;  // signed with SHA-1 instead of SHA-256
};

// A certificate for `key`, signed by `issuer_key` (issuer certificate `issuer`), or
// self-signed when they are null.
inline test_x509 make_x509(const cert_spec& s, EVP_PKEY* key, X509* issuer = nullptr,
                           EVP_PKEY* issuer_key = nullptr) {
  static long serial = 1;
  test_x509 x(X509_new());
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), serial++);
  ASN1_TIME_set(X509_getm_notBefore(x.get()), static_cast<time_t>(s.not_before));
  ASN1_TIME_set(X509_getm_notAfter(x.get()), static_cast<time_t>(s.not_after));
  X509_set_pubkey(x.get(), key);
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(s.cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : x.get(), x.get(), nullptr, nullptr, 0);
  auto add_ext = [&](int nid, const std::string& value) {
    X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    X509_add_ext(x.get(), e, -1);
    X509_EXTENSION_free(e);
  };
  if (!s.dns.empty()) {
    std::string san;
    for (const auto& d : s.dns) san += (san.empty() ? "DNS:" : ",DNS:") + d;
    add_ext(NID_subject_alt_name, san);
  }
  if (s.ca) add_ext(NID_basic_constraints, "critical,CA:TRUE");
  EVP_PKEY* signer = issuer_key ? issuer_key : key;
  bool ed = EVP_PKEY_get_base_id(signer) == EVP_PKEY_ED25519;
  X509_sign(x.get(), signer, ed ? nullptr : s.sha1 ? EVP_sha1() : EVP_sha256());
  return x;
}

inline std::string bio_text(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(b);
  return out;
}

inline std::string pem_of(X509* x) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  return bio_text(b);
}

inline std::string pem_of(EVP_PKEY* k, const char* passphrase = nullptr) {
  BIO* b = BIO_new(BIO_s_mem());
  if (passphrase) {
    PEM_write_bio_PrivateKey(b, k, EVP_aes_128_cbc(), nullptr, 0, nullptr,
                             const_cast<char*>(passphrase));
  } else {
    PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
  }
  return bio_text(b);
}

struct test_cert {
  std::string cert_pem;
  std::string key_pem;
};

// A self-signed certificate with its key.
inline test_cert make_cert(const cert_spec& s, key_kind k = key_kind::ec) {
  test_pkey key = make_key(k);
  test_x509 x = make_x509(s, key.get());
  return {pem_of(x.get()), pem_of(key.get())};
}

inline test_cert make_cert_for(std::vector<std::string> dns, key_kind k = key_kind::ec) {
  cert_spec s;
  s.cn = dns.empty() ? "test" : dns.front();
  s.dns = std::move(dns);
  return make_cert(s, k);
}

inline secret tls_secret(const std::string& ns, const std::string& name, const test_cert& c,
                         const std::string& type = "kubernetes.io/tls") {
  secret s;
  s.meta.namespace_name = ns;
  s.meta.name = name;
  s.type = type;
  s.data["tls.crt"] = c.cert_pem;
  s.data["tls.key"] = c.key_pem;
  return s;
}

struct tls_entry {
  std::vector<std::string> hosts;
  std::string secret;  // empty: no secretName
};

// An Ingress of class portico: one rule per host (path "/" Prefix to service `svc` port 80),
// spec.tls entries, annotations.
inline std::string tls_ingress(const std::string& ns, const std::string& name,
                               const std::string& created, const std::vector<std::string>& hosts,
                               const std::vector<tls_entry>& tls,
                               const std::map<std::string, std::string>& annotations = {},
                               const std::string& svc = "a") {
  std::string y = "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " +
                  name + "\n  namespace: " + ns + "\n  creationTimestamp: \"" + created + "\"\n";
  if (!annotations.empty()) {
    y += "  annotations:\n";
    for (const auto& [k, v] : annotations) y += "    \"" + k + "\": \"" + v + "\"\n";
  }
  y += "spec:\n  ingressClassName: portico\n";
  if (!tls.empty()) {
    y += "  tls:\n";
    for (const auto& t : tls) {
      std::string item;
      if (!t.hosts.empty()) {
        item += "hosts: [";
        for (std::size_t i = 0; i < t.hosts.size(); ++i) {
          item += (i ? ", \"" : "\"") + t.hosts[i] + "\"";
        }
        item += "]";
      }
      if (!t.secret.empty()) {
        item += (item.empty() ? "secretName: " : ", secretName: ") + t.secret;
      }
      y += "  - {" + item + "}\n";
    }
  }
  y += "  rules:\n";
  for (const auto& h : hosts) {
    y += "  - host: \"" + h + "\"\n    http:\n      paths:\n      - path: /\n" +
         "        pathType: Prefix\n        backend: {service: {name: " + svc +
         ", port: {number: 80}}}\n";
  }
  return y;
}

// Services a and b (port 80) in namespace ns, each with one ready endpoint.
inline constexpr const char* tls_services = R"(
---
apiVersion: v1
kind: Service
metadata: {name: a, namespace: ns}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: b, namespace: ns}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: a-1, namespace: ns, labels: {kubernetes.io/service-name: a}}
addressType: IPv4
ports: [{name: http, port: 8443}]
endpoints: [{addresses: [10.0.0.1]}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: b-1, namespace: ns, labels: {kubernetes.io/service-name: b}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.0.0.2]}]
)";

}  // namespace portico::config::testing
