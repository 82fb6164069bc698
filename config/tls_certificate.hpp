// Certificates and CA bundles from Secrets, parsed and checked with OpenSSL's libcrypto.
// Pure functions of their input (the time is passed in): no I/O, no clocks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "config/model.hpp"
#include "config/snapshot.hpp"

namespace portico::config {

inline constexpr std::string_view tls_secret_type = "kubernetes.io/tls";
inline constexpr std::string_view tls_crt_key = "tls.crt";
inline constexpr std::string_view tls_key_key = "tls.key";
inline constexpr std::string_view ca_crt_key = "ca.crt";

// tls_certificate::version for a certificate and key: FNV-1a of both. Equal Secret data =>
// equal version, so a cache can be probed without parsing.
std::uint64_t certificate_version(std::string_view cert_pem, std::string_view key_pem);

struct certificate_result {
  std::shared_ptr<const tls_certificate> cert;  // null on error
  // On error: where and why, in words an operator can act on. With a certificate: a warning
  // (outside its validity period; still served, as ingress-nginx does).
  std::string field;    // "type", "data[tls.crt]", "data[tls.key]"
  std::string message;
};

// Parses and checks a kubernetes.io/tls Secret: its type, tls.crt (a PEM chain, leaf first;
// text around the PEM blocks and CRLF line ends are fine), tls.key (the first PEM private key
// block: an unencrypted RSA, EC, Ed25519 or Ed448 key; blocks before it are skipped), that
// the key belongs to the leaf, that every key and signature of the chain meets OpenSSL's
// security level 2 (what the proxy can serve), and, when now != 0, whether now lies within the
// leaf's validity period (a warning, not an error).
certificate_result parse_tls_secret(const secret& s, std::int64_t now);

// The time checks alone (for a certificate parsed by an earlier build): empty when now == 0
// or now lies within the validity period, else why not ("the certificate expired at ...").
std::string certificate_expiry_problem(const tls_certificate& c, std::int64_t now);

// Whether the certificate names `host` (lower-case): an equal DNS name, or a single-label
// wildcard name "*.foo.com" for "a.foo.com". A wildcard host "*.foo.com" is covered only by
// the same wildcard name.
bool certificate_covers(const tls_certificate& c, std::string_view host);

// The names of a certificate for messages: "a.com, *.b.com" (at most a few, then "...").
std::string certificate_names_text(const tls_certificate& c);

// Checks that `pem` holds one or more PEM certificates and nothing unreadable. Empty when
// good, else the reason.
std::string check_ca_bundle(std::string_view pem);

// ASCII lower-case (host names).
std::string ascii_lower(std::string s);

// "2026-01-02T03:04:05Z" for seconds since the epoch.
std::string format_utc(std::int64_t t);

}  // namespace portico::config
