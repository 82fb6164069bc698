// PEM/Secret loading (config/tls_certificate.hpp): a kubernetes.io/tls Secret's tls.crt and
// tls.key, and CA bundles (ca.crt). The input is what users have in a combined PEM file: the
// certificate chain, then the private key (the key starts at the first "-----BEGIN" line that
// names a PRIVATE KEY; without one, the whole input is tried as both).
// Invariants: no exception; on failure the field is "data[tls.crt]" or "data[tls.key]" and the
// message says why; on success the names are lower-case host names the certificate covers and
// the chain also reads as a CA bundle; OpenSSL's error queue is left empty (the control thread
// builds TLS contexts next, and a stale error there is read as theirs).
#include <openssl/err.h>

#include <exception>
#include <string>

#include "config/tls_certificate.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace portico::fuzz {
namespace {

// Where the key starts: the first "-----BEGIN" whose line names a PRIVATE KEY.
std::size_t key_start(std::string_view pem) {
  for (auto at = pem.find("-----BEGIN"); at != std::string_view::npos;
       at = pem.find("-----BEGIN", at + 1)) {
    const auto eol = pem.find('\n', at);
    if (pem.substr(at, eol == std::string_view::npos ? eol : eol - at).find("PRIVATE KEY") !=
        std::string_view::npos)
      return at;
  }
  return std::string_view::npos;
}

void check_queue_empty(const char* after) {
  const unsigned long e = ERR_peek_error();
  if (e == 0) return;
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  fail(std::string("OpenSSL error queue not empty after ") + after + ": " + buf);
}

void check_certificate(const config::tls_certificate& c, const config::secret& s) {
  PORTICO_FUZZ_CHECK(!c.names.empty(), "a certificate without names");
  for (const auto& n : c.names) {
    PORTICO_FUZZ_CHECK(!n.empty() && n.find('\0') == std::string::npos && n.back() != '.', shown(n));
    PORTICO_FUZZ_CHECK(config::ascii_lower(n) == n, shown(n));
    PORTICO_FUZZ_CHECK(config::certificate_covers(c, n), shown(n) + " not covered");
  }
  (void)config::certificate_names_text(c);
  PORTICO_FUZZ_CHECK(c.version == config::certificate_version(c.cert_pem, c.key_pem), "version");
  PORTICO_FUZZ_CHECK(c.secret == "default/fuzz", c.secret);
  const std::string ca = config::check_ca_bundle(s.data.at("tls.crt"));
  PORTICO_FUZZ_CHECK(ca.empty(), "tls.crt read as a certificate but not as a CA bundle: " + ca);
}

}  // namespace
}  // namespace portico::fuzz

PORTICO_FUZZ_TARGET(tls_secret) {
  using namespace portico;
  const std::string_view pem(reinterpret_cast<const char*>(data), size);
  const auto k = fuzz::key_start(pem);
  config::secret s;
  s.meta.namespace_name = "default";
  s.meta.name = "fuzz";
  s.type = "kubernetes.io/tls";
  s.data["tls.crt"] = std::string(k == std::string_view::npos ? pem : pem.substr(0, k));
  s.data["tls.key"] = std::string(k == std::string_view::npos ? pem : pem.substr(k));
  const std::int64_t now = size % 2 ? 0 : 1767225600;  // unchecked, or 2026-01-01T00:00:00Z
  try {
    ERR_clear_error();
    const auto r = config::parse_tls_secret(s, now);
    fuzz::check_queue_empty("parse_tls_secret");
    if (r.cert) {
      fuzz::check_certificate(*r.cert, s);
    } else {
      PORTICO_FUZZ_CHECK(r.field == "data[tls.crt]" || r.field == "data[tls.key]", r.field);
      PORTICO_FUZZ_CHECK(!r.message.empty(), r.field);
    }
    fuzz::check_queue_empty("the certificate checks");
    (void)config::check_ca_bundle(pem);
    fuzz::check_queue_empty("check_ca_bundle");
  } catch (const fuzz::invariant_failure&) {
    throw;
  } catch (const std::exception& e) {
    fuzz::fail(std::string("threw: ") + e.what());
  }
  return 0;
}
