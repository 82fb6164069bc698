// The TLS table of a build: which certificate each TLS server name gets, from the spec.tls of
// the served Ingresses and their kubernetes.io/tls Secrets (ingress-nginx semantics).
//
// - Every host listed in spec.tls[].hosts (lower-case, "*.foo.com" kept as written) maps to
//   the certificate of that entry's Secret (same namespace as the Ingress). It maps to null
//   (the default certificate) when the entry has no secretName, the Secret is missing or
//   broken, or the certificate does not name the host (exact or single-label wildcard
//   subjectAltName): ingress-nginx serves the default certificate then too.
// - A rule host of an Ingress with a non-empty spec.tls that no entry lists (for example an
//   entry without hosts) gets the first certificate of that Ingress's spec.tls that names it,
//   as ingress-nginx's extractTLSSecretName does. When none names it, it maps to null after
//   every Ingress was seen, unless another Ingress configured it (exactly or by wildcard), and
//   a build_error says so: ingress-nginx also serves it as a TLS server with the default
//   certificate (and redirects it to HTTPS).
// - Oldest Ingress first: the first Ingress that configures a host keeps it; a younger one
//   naming another Secret for it gets a build_error. One extension: a host may carry one
//   certificate per key type (an RSA and an ECDSA one, as nginx serves two ssl_certificate
//   lines; the client's signature algorithms choose). A later spec.tls entry, of the same
//   Ingress or a younger one, naming the host with another Secret adds that Secret's
//   certificate when the host's first entry has a good certificate and none of its
//   certificates has the new one's key type; otherwise it gets a build_error naming the
//   Secret that keeps the host (or the key type) and is ignored. A rule host that no entry
//   lists gets the first certificate of each key type among its Ingress's certificates that
//   name it.
// - A certificate outside its validity period (build_options::now) is served, with a
//   build_error against its Secret, as ingress-nginx serves it with a warning in its log.
// - Certificates are parsed once per Secret per build, and not at all when the Secret's data
//   equals that of a certificate in the previous Snapshot (build_options::previous).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/build.hpp"

namespace portico::config {

// Whether TLS is configured for a (lower-case) host: its name or its single-label wildcard
// is in by_host, even with a null certificate. Decides the default of route::ssl_redirect.
bool tls_configured_for(const tls_table& t, std::string_view lower_host);

class tls_table_builder {
 public:
  tls_table_builder(const cluster_state& state, const build_options& opts,
                    std::vector<build_error>& errors);

  // The spec.tls of one served, valid Ingress. Call oldest first.
  void add_ingress(const ingress& ing);

  // The certificate of Secret "ns/name", parsed at most once per build; null when it is
  // missing (reported by the caller) or unusable (reported here, once, against the Secret).
  // `consequence` ends the error message ("its hosts get the default certificate").
  std::shared_ptr<const tls_certificate> certificate(
      const std::string& ns, const std::string& name, bool* missing,
      std::string_view consequence = "its hosts get the default certificate");

  // The table (call once, after every add_ingress).
  std::shared_ptr<const tls_table> finish();

 private:
  // One spec.tls entry's certificate for a host. The first entry of a host decides whether
  // it is served with Secrets (a good certificate) or with the default certificate (null).
  struct host_entry {
    std::shared_ptr<const tls_certificate> cert;  // null: no secretName, missing or unusable
    std::string ingress;  // "ns/name" of the Ingress that configured the host
    std::string secret;   // "ns/name" of its Secret ("" when the entry has none)
  };
  struct implicit_host {
    std::string host;
    std::string ingress_ns, ingress_name, field;
  };

  std::shared_ptr<const tls_certificate> load(const secret& s, std::string_view consequence);
  void assign(const ingress& ing, const std::string& host,
              std::shared_ptr<const tls_certificate> cert, const std::string& secret,
              const std::string& field);
  void add_rule_hosts(const ingress& ing,
                      const std::vector<std::shared_ptr<const tls_certificate>>& certs,
                      const std::vector<std::string>& listed);
  void add_default_certificate(tls_table& t);
  void error(const ingress& ing, std::string field, std::string message);

  const cluster_state& state_;
  const build_options& opts_;
  std::vector<build_error>& errors_;
  // Good certificates of the previous Snapshot by Secret, for reuse when the data is equal.
  std::unordered_map<std::string, std::shared_ptr<const tls_certificate>> previous_;
  // This build's results by Secret "ns/name" (null: unusable, already reported).
  std::unordered_map<std::string, std::shared_ptr<const tls_certificate>> loaded_;
  // By host: its first entry, then one per further key type (only when all are good).
  std::unordered_map<std::string, std::vector<host_entry>> hosts_;
  std::vector<implicit_host> implicit_;
};

}  // namespace portico::config
