// The TLS annotations of an Ingress (ingress-nginx names and values), read once per Ingress.
//
// - nginx.ingress.kubernetes.io/ssl-redirect (default "true") and force-ssl-redirect
//   (default "false"): booleans as ingress-nginx reads them (Go strconv.ParseBool: 1 t T TRUE
//   true True, 0 f F FALSE false False). Another value is a build_error; the default applies.
// - backend-protocol: HTTP (default), AUTO_HTTP (as HTTP), HTTPS, GRPC (HTTP/2 with prior
//   knowledge, cleartext) or GRPCS (HTTP/2 over TLS, ALPN "h2", with the HTTPS settings
//   below), any case. AJP and FCGI are not supported and other values are invalid: a
//   build_error, and the routes stay (so their paths never fall through to another Ingress's
//   shorter prefix) speaking plain HTTP to the endpoints, which then fail those requests (502)
//   as they would with ingress-nginx's fallback to HTTP for invalid values.
// - With HTTPS or GRPCS: proxy-ssl-verify "on"/"off" (default off; another value is a build_error and
//   counts as "on": fail closed), proxy-ssl-secret "namespace/name" (same namespace as the
//   Ingress; its ca.crt, one or more PEM certificates), proxy-ssl-name (a DNS name; the SNI
//   and verification name instead of the request's host).
//   Verification without a usable CA is a build_error and the routes answer 503 (their
//   cluster has no endpoints): never a silent downgrade to no verification, and never a
//   fallback to the system trust store the Ingress did not ask for.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/annotations.hpp"
#include "config/build.hpp"

namespace portico::config {

// Keys without the prefix (config/annotations.hpp resolves --annotations-prefix and the alias).
inline constexpr std::string_view ssl_redirect_annotation = "ssl-redirect";
inline constexpr std::string_view force_ssl_redirect_annotation = "force-ssl-redirect";
inline constexpr std::string_view backend_protocol_annotation = "backend-protocol";
inline constexpr std::string_view proxy_ssl_verify_annotation = "proxy-ssl-verify";
inline constexpr std::string_view proxy_ssl_secret_annotation = "proxy-ssl-secret";
inline constexpr std::string_view proxy_ssl_name_annotation = "proxy-ssl-name";
inline constexpr std::string_view proxy_ssl_verify_depth_annotation = "proxy-ssl-verify-depth";
inline constexpr std::string_view proxy_ssl_protocols_annotation = "proxy-ssl-protocols";
inline constexpr std::string_view proxy_ssl_ciphers_annotation = "proxy-ssl-ciphers";

// "metadata.annotations[<name>]", the build_error field of an annotation.
std::string annotation_field(std::string_view name);

// Go strconv.ParseBool, which ingress-nginx uses for boolean annotations.
std::optional<bool> parse_bool_text(std::string_view v);

struct ingress_tls_policy {
  bool ssl_redirect = true;         // ssl-redirect: redirect when TLS is configured for the host
  bool force_ssl_redirect = false;  // force-ssl-redirect: redirect even without TLS
  // Non-null: backend-protocol HTTPS. Shared by every route of the Ingress. Verification
  // without a usable CA stays in it (verify true, ca_pem empty): upstream_tls_unusable().
  std::shared_ptr<const upstream_tls> upstream;
  // backend-protocol GRPC (cleartext HTTP/2) or GRPCS (HTTP/2 over `upstream`'s TLS).
  bool upstream_h2 = false;
};

// Reads the annotations of Ingresses; CA Secrets are checked once per build.
class tls_annotation_reader {
 public:
  tls_annotation_reader(const cluster_state& state, std::vector<build_error>& errors)
      : state_(state), errors_(errors) {}
  // The ConfigMap's allow-cross-namespace-resources: proxy-ssl-secret may name another
  // namespace's Secret.
  void allow_cross_namespace(bool allow) { cross_namespace_ = allow; }

  // `anns`: the Ingress's annotations of ours; `defaults`: ssl-redirect and force-ssl-redirect
  // as the ConfigMap (or ingress-nginx) sets them.
  ingress_tls_policy read(const ingress& ing, const our_annotations& anns,
                          const ingress_tls_policy& defaults);

 private:
  struct ca_result {
    std::string pem;      // empty: unusable
    bool missing = false;
  };
  std::shared_ptr<const upstream_tls> read_upstream(const ingress& ing);
  bool read_bool(const ingress& ing, std::string_view name, bool fallback);
  const ca_result& ca_secret(const std::string& ns, const std::string& name);
  void error(const ingress& ing, std::string_view annotation, std::string message);
  const std::string* annotation(std::string_view name) const;

  const our_annotations* anns_ = nullptr;  // of the Ingress being read
  bool cross_namespace_ = false;

  const cluster_state& state_;
  std::vector<build_error>& errors_;
  std::unordered_map<std::string, ca_result> cas_;  // by "ns/name"
};

}  // namespace portico::config
