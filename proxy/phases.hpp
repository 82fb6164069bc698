// The named phases of a routed request, the same for every protocol that produces a request:
//
//   access -> redirect -> rewrite -> pick backend -> forward -> response
//
// Each is a plain function over the request and the route's typed policy (config/route_policy.hpp,
// decoded once per Snapshot); none parses annotation text. access and redirect may answer the
// request themselves; rewrite says what goes upstream; forward (http_forward.cpp) sends it;
// response adds what the route and the controller settings add to the answer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/controller_config.hpp"
#include "config/snapshot.hpp"
#include "proxy/header_rewrite.hpp"

namespace portico::proxy {

enum class phase_result : std::uint8_t { next, answered };

// What the phases read of a request.
struct request_view {
  std::string_view method;
  std::string_view host;    // as received (may carry ":port")
  std::string_view target;  // as received: path and query (origin-form)
  std::string_view path;    // the normalized path routing matched
  bool tls = false;
  std::uint16_t https_port = 443;  // of the listener clients reach for HTTPS
  // The client address: the socket peer, or the trusted forwarded-for / PROXY protocol one.
  std::string_view client_ip;
  // The Gateway listener port of a connection accepted on a --gateway-http-ports or
  // --gateway-https-ports port; 0 on the main listeners (a Gateway's 80 and 443).
  std::uint16_t listener_port = 0;
};

// An answer a phase gives instead of forwarding: a status and, for redirects, a Location.
struct local_answer {
  unsigned status = 0;
  std::string location;
};

// access: whether the route may serve this request at all. A route whose policy is denied (a
// protection it asks for is not applied) answers 503; a client address in the deny-list, or
// outside the allow-list, 403. Basic authentication follows (proxy/basic_auth.hpp: it needs
// the worker's credential cache).
phase_result access_phase(const config::route& r, const request_view& req, local_answer& out);

// cors: the Access-Control-* fields of an answer to a request with this Origin ("" none), as
// ingress-nginx sets them; false (nothing added) when the route has no CORS or the origin is
// not allowed. A request with method OPTIONS that CORS applies to is a preflight: the proxy
// answers it with 204 (before access checks, as ingress-nginx's rewrite phase does).
bool cors_phase(const config::cors_policy& c, std::string_view origin,
                std::vector<std::pair<std::string_view, std::string_view>>& set_headers);
// Whether `origin` matches an allowed origin (lowercased; "*." stands for one label).
bool cors_origin_allowed(const config::cors_policy& c, std::string_view origin);

// redirect: HTTP -> HTTPS (ssl-redirect, force-ssl-redirect), temporal-redirect,
// permanent-redirect, app-root, in ingress-nginx's order.
phase_result redirect_phase(const config::route& r, const request_view& req,
                            const config::controller_config& settings, local_answer& out);

// rewrite: what the upstream request says beside the forwarding headers.
struct upstream_rewrite {
  std::string_view host;  // non-empty: the Host sent upstream (upstream-vhost)
  // Header fields set on the upstream request (replacing the client's of the same name).
  std::vector<std::pair<std::string_view, std::string_view>> set_headers;
  std::string_view connection;  // non-empty: the Connection header sent upstream
  unsigned http_version = 11;
};
void rewrite_phase(const config::route& r, const config::controller_config& settings,
                   upstream_rewrite& out);

// rewrite (the URI): rewrite-target, as nginx's `rewrite "(?i)<path>" <target> break;` on a
// route that has one (config::route::rewrite_regex). When the route's regex matches the
// normalized path, the target with $0-$9 replaced by its captures becomes the URI sent
// upstream, escaped as nginx escapes a rewritten URI; the request's query follows it ("&" after
// the target's own query; dropped when the target ends with '?'). A target that is an
// absolute http(s) URL is answered as a 302 redirect to it instead.
enum class uri_rewrite : std::uint8_t { none, rewritten, redirect };
uri_rewrite rewrite_uri(const config::route& r, std::string_view path, std::string_view query,
                        std::string& out);

// rewrite (the URI) of an HTTPRoute rule's URLRewrite path (config::rewrite_policy::
// gateway_path): ReplaceFullPath, or ReplacePrefixMatch of the route's PathPrefix; the
// request's query follows. Returns false when the route has none.
bool gateway_rewrite_uri(const config::route& r, std::string_view path, std::string_view query,
                         std::string& out);
// The path of an HTTPPathModifier applied to `path` (the route's PathPrefix for a prefix edit).
std::string gateway_edit_path(const config::path_edit& e, std::string_view route_path,
                              std::string_view path);
// What an HTTPRoute match may test beyond host and path, from a parsed request.
// `listener_port`: the Gateway listener port it arrived on (0: a main listener).
config::request_attrs gateway_request_attrs(const message_head& h, std::string_view method,
                                            std::string_view target, bool tls,
                                            std::uint16_t listener_port = 0);

// pick backend: the route's backend or its canary's, in ingress-nginx's order: a client whose
// affinity cookie names one of the two backends stays on it; then canary-by-header (its value
// "always"/"never", canary-by-header-value, canary-by-header-pattern), canary-by-cookie
// ("always"/"never"), canary-weight out of canary-weight-total.
struct backend_pick {
  // Never null after the phase, except for an HTTPRoute backendRef that cannot be used: 500.
  const config::cluster* cluster = nullptr;
  const config::canary_route* canary = nullptr;      // non-null: the canary serves it
  const config::affinity_policy* affinity = nullptr; // non-null: cookie affinity applies
  // The endpoint key of the client's affinity cookie ("" none): the balancer looks it up.
  std::string_view sticky_key;
  // The policy whose load-balance and upstream-hash-by choose the endpoint: the canary
  // Ingress's when the canary serves (as in ingress-nginx), else the route's.
  const config::route_policy* balance = nullptr;
  // Non-null: the drawn HTTPRoute backendRef's own route (config::weighted_backend::variant)
  // serves the request in place of the matched one.
  const config::route* variant = nullptr;
};
// `random` is a uniformly distributed number (the weight draw).
void pick_backend_phase(const config::route& r, const message_head& h, std::uint64_t random,
                        backend_pick& out);

// The value of the first field named `name` (any case); empty when there is none.
std::string_view find_header(const message_head& h, std::string_view name);
// The value of cookie `name` in the Cookie fields; nullopt when absent.
std::optional<std::string_view> find_cookie(const message_head& h, std::string_view name,
                                            bool any_case = false);

// The affinity cookie of a new pick: "<name>=<key>|<backend key>; ..." as ingress-nginx's
// sticky balancer sets it. `path` is the route's path (when the policy names none).
void affinity_cookie(const config::affinity_policy& a, std::string_view key,
                     std::string_view backend_key, std::string_view path, bool https,
                     std::string_view user_agent, std::int64_t now_seconds, std::string& out);
// upstream-hash-by: the request's key. `path` is the normalized path ($uri), `remote_addr`
// the client address after the trusted forwarding headers.
struct hash_inputs {
  std::string_view target;  // as received ($request_uri)
  std::string_view path;
  std::string_view host;    // as received (port and case are dropped for $host)
  std::string_view remote_addr;
  std::string_view method;
  bool tls = false;
  std::string_view pass_scheme;  // $pass_access_scheme ("" : the scheme)
  std::string_view server_port;  // $server_port
};
// The value of a request template (config/request_template.hpp) for one request; `out` is
// replaced. (Its first use was upstream-hash-by, hence the name.)
void hash_key(const std::vector<config::hash_part>& parts, const message_head& h,
              const hash_inputs& in, std::string& out);
inline void expand_template(const config::request_template& t, const message_head& h,
                            const hash_inputs& in, std::string& out) {
  hash_key(t, h, in, out);
}
// Appends `s` with every byte but letters, digits and -._~ as %XX (set-misc's set_escape_uri,
// ingress-nginx's $escaped_request_uri).
void append_uri_component(std::string& out, std::string_view s);

// limit-rate (nginx limit_rate): the bytes a response may still send `elapsed` seconds after
// its request started, having sent `sent`: rate x (elapsed + 1) + after - sent (nginx gives one
// second of credit). Negative: it is ahead of its rate.
double rate_allowance(std::uint64_t rate, std::uint64_t after, double elapsed, std::uint64_t sent);

// Whether a User-Agent handles SameSite=None (ingress-nginx's same_site_none_compatible).
bool same_site_none_compatible(std::string_view user_agent);

// response: header fields set on every answer of the route (custom-headers, then the
// ConfigMap's add-headers), replacing the upstream's of the same name.
void response_phase(const config::route* r, const config::controller_config& settings,
                    std::vector<std::pair<std::string_view, std::string_view>>& set_headers);

}  // namespace portico::proxy
