// The immutable routing Snapshot that config::build() produces and proxy/ reads.
// A Snapshot never changes after build; unchanged clusters are shared between Snapshots.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/chunked_ptrs.hpp"
#include "config/controller_config.hpp"
#include "config/route_policy.hpp"

namespace re2 {
class RE2;
}

namespace portico::config {

enum class match_kind : std::uint8_t { exact, prefix };

// One address a request can be sent to.
struct endpoint {
  std::string ip;  // numeric IPv4 or IPv6 text, no brackets
  std::uint16_t port = 0;
  std::string node_name;
  bool ready = true;        // false: serving-but-terminating fallback
  std::string to_string() const;  // "10.0.0.1:8080" / "[fd00::1]:8080"
};

// Upstream TLS of a cluster (nginx.ingress.kubernetes.io/backend-protocol: "HTTPS").
struct upstream_tls {
  bool verify = false;        // proxy-ssl-verify: "on"
  std::string ca_pem;         // ca.crt of the proxy-ssl-secret Secret; used when verify
  std::string ca_secret;      // "namespace/name" of that Secret (for logs)
  std::string server_name;    // proxy-ssl-name; empty: the request's host without port
  // tls.crt / tls.key of the proxy-ssl-secret Secret: the client certificate presented to the
  // upstream (mutual TLS). Empty: none. The key never leaves the process.
  std::string client_cert_pem;
  std::string client_key_pem;
  unsigned verify_depth = 0;  // proxy-ssl-verify-depth (0: OpenSSL's default, 100)
  // proxy-ssl-protocols: the allowed versions (0: TLS 1.2 and 1.3).
  static constexpr std::uint8_t tls12 = 1, tls13 = 2;
  std::uint8_t protocols = 0;
  std::string ciphers;        // proxy-ssl-ciphers (OpenSSL list; "" OpenSSL's default)
  // proxy-ssl-secret names a client certificate that cannot be used: never connect.
  bool client_cert_unusable = false;
};

// The endpoints behind one Service port. Identity (id) is stable across Snapshots so that
// balancer and health state keyed by it survive a swap.
struct cluster {
  std::string id;              // "namespace/service:port" (port as written in the Ingress)
  std::string namespace_name;
  std::string service_name;
  std::string service_port;    // the Ingress's port: number or name, as text
  std::vector<endpoint> endpoints;  // ready ones; serving+terminating only when none is ready
  std::uint64_t version = 0;   // hash of the endpoint list; equal version => equal endpoints
  // Non-null: the endpoints speak TLS. TLS and plain clusters of one Service port have
  // different ids, so their pools, balancers and health never mix.
  std::shared_ptr<const upstream_tls> tls;
  // ingress-nginx's upstream name ("<namespace>-<service>-<port>") and the backend key of its
  // affinity cookies (md5(md5(name) .. name), hex): a cookie's "|<key>" says which backend,
  // a route's or its canary's, the client is tied to.
  std::string upstream_name;
  std::string affinity_key;
  // service-upstream: the one endpoint is the Service's ClusterIP (id ends in "+svc").
  bool service_upstream = false;
};

// Lower-case hex MD5 (ingress-nginx's ngx.md5), for affinity cookie values.
std::string md5_hex(std::string_view data);

// A canary Ingress's backend for one route (annotation canary: "true" on another Ingress with
// the same host, path and path type): the alternative backend some requests are sent to.
struct canary_route {
  std::shared_ptr<const cluster> backend;  // never null
  std::string namespace_name;              // of the canary Ingress
  std::string ingress_name;
  std::string service_name;
  std::string service_port;
  // ingress-nginx's upstream name "<namespace>-<service>-<port>": the `canary` label of the
  // request metrics for the requests it serves.
  std::string upstream_name;
  // Which requests it takes (policy->canary) and, with affinity-canary-behavior "legacy", its
  // own affinity; every other setting is the main route's. Never null.
  route_policy_ptr policy;
};

// ingress-nginx's upstream name of a Service port: "<namespace>-<service>-<port>".
std::string upstream_name(std::string_view namespace_name, std::string_view service,
                          std::string_view port);

// A Gateway API backendRef of a route: its cluster (null: the ref is invalid, requests
// drawn for it answer 500) and weight.
struct route;

struct weighted_backend {
  std::shared_ptr<const cluster> backend;
  std::uint32_t weight = 0;
  // Non-null: when this backend is drawn, this copy of the route serves the request (same
  // index and names): the backendRef's own filters (HTTPBackendRef.Filters) in its policy,
  // or a protocol other than the route's (the Service port's appProtocol) in upstream_h2.
  std::shared_ptr<const route> variant;
};

// A Gateway API RequestMirror, or the ingress-nginx mirror-target, of a route: a copy of
// numerator out of denominator requests goes to one endpoint of `backend` (proxy/mirror.hpp).
struct mirror_backend {
  std::shared_ptr<const cluster> backend;
  std::uint32_t numerator = 1;
  std::uint32_t denominator = 1;
  std::string name;  // "ns/service:port", for logs
  // An ingress-nginx mirror-target (config/annotations_mirror.hpp): the copy is made from the
  // client's request as that annotation says. Null: a Gateway API RequestMirror.
  std::shared_ptr<const ingress_mirror> target;
};

// What a matched request is sent to, and the names metrics and logs report.
struct route {
  std::uint32_t index = 0;     // position in snapshot::routes(); per-Snapshot side tables use it
  std::string host;            // rule host as written ("" for any host, "*.foo.com" wildcard)
  std::string path;            // rule path ("" for an Ingress default backend)
  match_kind kind = match_kind::prefix;
  std::string path_type;       // "Exact", "Prefix", "ImplementationSpecific" (for display)
  std::string namespace_name;
  std::string ingress_name;
  std::string service_name;
  std::string service_port;
  bool is_default_backend = false;  // from an Ingress's spec.defaultBackend
  // A plain-HTTP request is answered 308 to https:// (the host is in the Ingress's spec.tls and
  // ssl-redirect is not "false", or force-ssl-redirect is "true").
  bool ssl_redirect = false;
  // The HTTPS redirect keeps a trailing '/' of the request URI (preserve-trailing-slash);
  // by default one is removed, as ingress-nginx does.
  bool preserve_trailing_slash = false;
  // no-auth-locations: the ConfigMap's global authentication does not apply to this path.
  bool auth_exempt = false;
  // What the Ingress's annotations (over the ConfigMap defaults) ask for. Never null.
  route_policy_ptr policy = default_route_policy();
  // Never null. An empty endpoint list means the route answers 503.
  std::shared_ptr<const cluster> backend;
  // backend-protocol GRPC or GRPCS: requests go to the endpoints over HTTP/2 (cleartext with
  // prior knowledge, or TLS with `backend->tls`), whatever the client spoke.
  bool upstream_h2 = false;
  // rewrite-target: nginx's `rewrite "(?i)<path>" <target> break;` -- the path as an
  // unanchored, case-insensitive RE2 regex whose captures feed policy->rewrite.target.
  // Compiled once per build; null when the route does not rewrite (no target, or the target
  // equals the path, as ingress-nginx decides).
  std::shared_ptr<const re2::RE2> rewrite_regex;
  // Non-null: a canary Ingress shares this route (config/build.cpp).
  std::shared_ptr<const canary_route> canary;
  // custom-http-errors: who answers the listed statuses (the default-backend annotation's
  // Service, else --default-backend-service); with default-backend it also serves every request
  // while `backend` has no endpoints. Null: none.
  std::shared_ptr<const cluster> error_backend;
  // From an HTTPRoute rule (ingress_name names the HTTPRoute, path_type its match type).
  bool gateway = false;
  // From a GRPCRoute rule (with `gateway`; upstream_h2 set): a backendRef that cannot be used
  // answers 503, which a gRPC client hears as UNAVAILABLE (GRPCRouteRule.BackendRefs).
  bool grpc = false;
  // HTTPRoute backendRefs when there is more than one or one cannot be used: each request
  // draws one by weight out of weight_total; a null backend answers 500. Empty: `backend`.
  std::vector<weighted_backend> weighted;
  std::uint64_t weight_total = 0;
  // HTTPRoute RequestMirror filters: where copies of the requests go. Empty: none.
  std::vector<mirror_backend> mirrors;
};

// What a Gateway API match may test beyond host and path (config/gateway_table.hpp).
// `header` returns the first field of that name (any case), `has_header` whether there is one.
struct request_attrs {
  std::string_view method;
  std::string_view query;  // without '?'
  bool tls = false;        // arrived on the HTTPS listener (443) rather than HTTP (80)
  const void* ctx = nullptr;
  std::string_view (*header)(const void* ctx, std::string_view name) = nullptr;
  bool (*has_header)(const void* ctx, std::string_view name) = nullptr;
  // The listener slot the connection was accepted on, as a Gateway listener port: 0 for the
  // main listeners (--http-port is 80, --https-port 443, by `tls`), else the port of
  // --gateway-http-ports or --gateway-https-ports it came in on.
  std::uint16_t listener_port = 0;
  std::uint16_t slot() const { return listener_port != 0 ? listener_port : (tls ? 443 : 80); }
};

class gateway_table;
struct gateway_status;

// An error found while building, attached to one object. The object is skipped (or the part
// named by `field`), every other object keeps serving.
struct build_error {
  std::string kind;            // "Ingress", "Service", ...
  std::string namespace_name;
  std::string name;
  std::string field;           // "spec.rules[0].http.paths[1].backend.service.port"
  std::string message;
  std::string to_string() const;  // "Ingress default/web: spec.rules[0]...: message"
};

// The key type of a certificate. A TLS connection holds at most one certificate per key type
// (OpenSSL's slots); the client's signature algorithms choose among them.
enum class tls_key_type : std::uint8_t { rsa, rsa_pss, ec, ed25519, ed448 };
inline constexpr std::size_t tls_key_type_count = 5;
// "RSA", "RSA-PSS", "EC", "Ed25519", "Ed448".
std::string_view key_type_name(tls_key_type t);

// A certificate and its key from a kubernetes.io/tls Secret, checked by build(): the PEM
// parses, the key matches, keys and signatures are strong enough to be served. One outside
// its validity period is kept (and reported), as ingress-nginx serves it.
struct tls_certificate {
  std::string secret;              // "namespace/name"
  std::string cert_pem;            // tls.crt: leaf first, then its chain
  std::string key_pem;             // tls.key
  std::vector<std::string> names;  // DNS subjectAltNames (CN when there are none), lower-case
  std::int64_t not_before = 0;     // validity start, seconds since the epoch
  std::int64_t not_after = 0;      // expiry, seconds since the epoch
  std::uint64_t version = 0;       // hash of cert_pem and key_pem: equal => same material
  tls_key_type key_type = tls_key_type::ec;
};

// The certificates one server name is served with: at most one per key type, in key type
// order (an RSA and an ECDSA certificate from two Secrets, as nginx serves two
// ssl_certificate lines). Empty: the default certificate answers.
using tls_certificates = std::vector<std::shared_ptr<const tls_certificate>>;

// Host lookups by string_view (no key string is made per handshake).
struct tls_host_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};
using tls_host_map =
    std::unordered_map<std::string, tls_certificates, tls_host_hash, std::equal_to<>>;

// Which certificates a TLS server name gets: hosts from every served Ingress's spec.tls
// (lower-case; "*.foo.com" wildcards as listed), oldest Ingress first when two name the same
// host. A host whose Secrets are missing or broken maps to an empty set: the default
// certificate.
struct client_auth;
using client_auth_map = std::unordered_map<std::string, std::shared_ptr<const client_auth>,
                                           tls_host_hash, std::equal_to<>>;

struct tls_table {
  tls_host_map by_host;
  // Wildcard keys of by_host from Gateway HTTPS listener hostnames: "*.example.com" there
  // covers one or more labels ("a.b.example.com"), as Gateway API hostnames do; Ingress
  // spec.tls wildcards cover one label.
  std::set<std::string, std::less<>> multi_label_wildcards;
  // auth-tls-*: the hosts (and their aliases) that ask for client certificates.
  client_auth_map client_auth_by_host;
  // --default-ssl-certificate when it names a good Secret; null: the proxy's own self-signed.
  std::shared_ptr<const tls_certificate> default_cert;
  // Every distinct good certificate (by_host values and default_cert), for metrics and caches.
  std::vector<std::shared_ptr<const tls_certificate>> certificates;
};

class snapshot;

// Builder-side host table; defined in config/route_table.hpp.
struct host_table;

// A Snapshot's routes and clusters: chunks shared with its endpoint-only successors.
using route_list = chunked_ptrs<route>;
using cluster_list = chunked_ptrs<cluster>;

class snapshot {
 public:
  snapshot(route_list routes, cluster_list clusters,
           std::shared_ptr<const host_table> hosts, std::uint64_t hash,
           std::shared_ptr<const tls_table> tls = nullptr,
           controller_config_ptr settings = nullptr,
           std::shared_ptr<const gateway_table> gateway = nullptr,
           std::shared_ptr<const gateway_status> gateway_status = nullptr);
  ~snapshot();

  // The route for a request, or nullptr: the built-in default backend answers 404.
  // `host` is the Host header as received (any case, may carry ":port");
  // `path` is the request target's path (no query).
  const route* find(std::string_view host, std::string_view path) const;
  // The same, with Gateway API routes: a host a Gateway listener or HTTPRoute claims is
  // served by its HTTPRoute matches only (404 when none matches); other hosts go to the
  // Ingress rules first, then to HTTPRoutes without hostnames, then to Ingress rules without
  // a host and the default backend.
  const route* find(std::string_view host, std::string_view path, const request_attrs& req) const;
  // Null when no Gateway of Portico's class is served.
  const std::shared_ptr<const gateway_table>& gateway_ptr() const { return gateway_; }
  // Never null (empty without Gateway API objects).
  const std::shared_ptr<const gateway_status>& gateway_status_ptr() const { return gateway_status_; }
  // from-to-www-redirect: the host a request for `host` (any case, may carry ":port") is
  // redirected to, or null. Consulted before find(): no Ingress serves such a name.
  const std::string* www_redirect(std::string_view host) const;

  const route_list& routes() const { return routes_; }
  const cluster_list& clusters() const { return clusters_; }
  const cluster* find_cluster(std::string_view id) const;
  std::uint64_t hash() const { return hash_; }  // config hash, as in nginx_ingress_controller_config_hash

  // TLS: the certificates for a ClientHello server name (any case, one trailing dot
  // ignored): exact host, then the single-label wildcard, then the longer suffix wildcards of
  // tls_table::multi_label_wildcards, longest first; nullptr when neither is listed or
  // its Secrets are unusable (then the default certificate, tls().default_cert or the
  // self-signed one, answers). Never empty. Allocates nothing.
  const tls_certificates* find_certificates(std::string_view server_name) const;
  // auth-tls-*: the client certificate settings of a server name or request host (any case,
  // ":port" and one trailing dot ignored; exact, then the single-label wildcard); null: none.
  const client_auth* find_client_auth(std::string_view host) const;
  // Never null (empty when no Ingress has spec.tls).
  const tls_table& tls() const { return *tls_; }
  const std::shared_ptr<const tls_table>& tls_ptr() const { return tls_; }
  // The host table (entries are indices into routes()): a Snapshot with the same routes at
  // the same indices may share it (config/incremental.hpp).
  const std::shared_ptr<const host_table>& hosts_ptr() const { return hosts_; }
  // The controller settings (flags, then the ConfigMap) this Snapshot was built with.
  const controller_config& settings() const { return *settings_; }
  const controller_config_ptr& settings_ptr() const { return settings_; }

 private:
  route_list routes_;
  cluster_list clusters_;
  std::shared_ptr<const host_table> hosts_;
  std::shared_ptr<const tls_table> tls_;
  controller_config_ptr settings_;
  std::shared_ptr<const gateway_table> gateway_;
  std::shared_ptr<const gateway_status> gateway_status_;
  std::unordered_map<std::string_view, const cluster*> cluster_by_id_;
  std::uint64_t hash_ = 0;
};

using snapshot_ptr = std::shared_ptr<const snapshot>;

}  // namespace portico::config
