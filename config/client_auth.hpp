// Client certificate authentication (auth-tls-*), which ingress-nginx applies per server
// (host): the CA bundle (and optional CRL) of auth-tls-secret, what the handshake asks of the
// client (auth-tls-verify-client), and what a request with a missing or bad certificate gets.
// The CA store is built once per Snapshot and shared read-only by the workers' handshakes
// (OpenSSL's X509_STORE is safe for concurrent verification).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <openssl/x509.h>

namespace re2 {
class RE2;
}

namespace portico::config {

enum class client_verify : std::uint8_t { on, off, optional, optional_no_ca };

struct client_auth {
  client_verify verify = client_verify::on;  // auth-tls-verify-client
  unsigned depth = 1;                        // auth-tls-verify-depth
  std::string error_page;                    // auth-tls-error-page: 302 to it on failure
  bool pass_certificate = false;             // auth-tls-pass-certificate-to-upstream
  std::string match_cn;                      // auth-tls-match-cn as written ("CN=...")
  std::shared_ptr<const re2::RE2> match_cn_re;  // searched in the subject DN (RFC 2253)
  std::shared_ptr<X509_STORE> store;         // CA certificates (+ CRL, checked for every CA)
  std::shared_ptr<STACK_OF(X509_NAME)> ca_names;  // sent in the CertificateRequest
  std::string secret;                        // "ns/name"
  bool has_crl = false;
  // Of the CA and CRL bytes and every setting: the TLS session id context of the hosts that
  // share it, and what a request's host must match on a connection (else 421).
  std::uint64_t id = 0;
};

// Builds the CA store from a Secret's ca.crt (one or more PEM certificates) and ca.crl
// (optional, PEM CRLs). Empty `why` on success.
std::shared_ptr<client_auth> make_client_auth(std::string_view ca_pem, std::string_view crl_pem,
                                              std::string& why);

}  // namespace portico::config
