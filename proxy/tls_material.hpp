// A parsed certificate: the leaf, its private key and the chain, ready to be put on a TLS
// connection with SSL_use_cert_and_key. Immutable once made; shared between connections (the
// OpenSSL objects are reference counted and only read).
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace portico::proxy {

class tls_material {
 public:
  tls_material(X509* leaf, EVP_PKEY* key, STACK_OF(X509)* chain);  // takes ownership
  ~tls_material();
  tls_material(const tls_material&) = delete;
  tls_material& operator=(const tls_material&) = delete;

  X509* leaf() const { return leaf_; }
  EVP_PKEY* key() const { return key_; }
  STACK_OF(X509)* chain() const { return chain_; }

  // Puts this certificate on `ssl`, replacing the one of its key type only (clear the
  // others first with SSL_certs_clear). False when OpenSSL refuses it.
  bool use_on(SSL* ssl) const;
  // Puts this certificate on a context (the default one, before any connection uses it).
  bool use_on(SSL_CTX* ctx) const;

 private:
  X509* leaf_;
  EVP_PKEY* key_;
  STACK_OF(X509)* chain_;
};

using tls_material_ptr = std::shared_ptr<const tls_material>;

// Parses tls.crt (leaf first, then its chain) and tls.key. Null when either does not parse or
// the key does not belong to the leaf; `error` then says why.
tls_material_ptr parse_tls_material(std::string_view cert_pem, std::string_view key_pem,
                                    std::string* error = nullptr);

// A self-signed certificate made now (ECDSA P-256, valid one year), for connections without a
// configured certificate. Subject CN as ingress-nginx's: "Kubernetes Ingress Controller Fake
// Certificate", subjectAltName DNS:ingress.local.
tls_material_ptr make_self_signed_material();

// The leaf's notAfter as seconds since the epoch (0 when it cannot be read).
std::int64_t not_after_seconds(X509* cert);

// PEM text of a certificate (for tests and the debug output).
std::string certificate_pem(X509* cert);

}  // namespace portico::proxy
