// The typed, immutable policy of a route: what ingress-nginx annotations (and ConfigMap
// defaults) mean for the requests it serves. Decoded once per build in config/ (see
// config/annotations.hpp); the proxy reads fields and never parses annotation text. Routes of
// one Ingress share one policy object.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace re2 {
class RE2;
}

namespace portico::config {

class ip_set;
struct htpasswd;
struct client_auth;
struct external_auth;
struct ingress_mirror;

using std::chrono::milliseconds;

// proxy-next-upstream: when a failed attempt moves on to the next endpoint.
namespace next_upstream {
inline constexpr std::uint16_t error = 1 << 0;           // connect/send/read failed
inline constexpr std::uint16_t timeout = 1 << 1;
inline constexpr std::uint16_t invalid_header = 1 << 2;  // malformed response head
inline constexpr std::uint16_t http_500 = 1 << 3;
inline constexpr std::uint16_t http_502 = 1 << 4;
inline constexpr std::uint16_t http_503 = 1 << 5;
inline constexpr std::uint16_t http_504 = 1 << 6;
inline constexpr std::uint16_t http_403 = 1 << 7;
inline constexpr std::uint16_t http_404 = 1 << 8;
inline constexpr std::uint16_t http_429 = 1 << 9;
inline constexpr std::uint16_t non_idempotent = 1 << 10;  // also retry POST, LOCK, PATCH
inline constexpr std::uint16_t off = 1 << 11;             // never
inline constexpr std::uint16_t defaults = error | timeout;  // ingress-nginx "error timeout"
}  // namespace next_upstream

// Gateway API HTTPPathModifier (RequestRedirect and URLRewrite path): the whole path, or the
// part the route's PathPrefix matched, is replaced by `value`.
struct path_edit {
  enum class kind : std::uint8_t { none, full, prefix };
  kind k = kind::none;
  std::string value;
};

// Gateway API RequestRedirect: every request is answered with a redirect built from the
// request and these fields (apis/v1/httproute_types.go, HTTPRequestRedirectFilter).
struct gateway_redirect {
  bool enabled = false;
  std::string scheme;      // "" the request's
  std::string hostname;    // "" the request's (without port)
  std::uint16_t port = 0;  // 0: the scheme's well-known port, else the listener's
  path_edit path;          // none: the request's path
  unsigned status = 302;
};

// Gateway API RequestHeaderModifier / ResponseHeaderModifier.
struct header_edits {
  std::vector<std::pair<std::string, std::string>> set;  // replace fields of that name
  std::vector<std::pair<std::string, std::string>> add;  // appended beside existing ones
  std::vector<std::string> remove;
  bool empty() const { return set.empty() && add.empty() && remove.empty(); }
};

struct redirect_policy {
  std::string permanent;  // permanent-redirect: every request is answered with this Location
  unsigned permanent_code = 301;
  std::string temporal;   // temporal-redirect (wins over permanent, as in ingress-nginx)
  unsigned temporal_code = 302;
  std::string app_root;   // app-root: a request for "/" gets 302 to this path
  bool preserve_trailing_slash = false;
  // from-to-www-redirect: requests for www.<host> (or <host> without "www.") are redirected
  // to the Ingress's host (config/build.cpp decides per host, the proxy answers).
  bool from_to_www = false;
  gateway_redirect gateway;  // an HTTPRoute rule's RequestRedirect filter
  bool empty() const { return permanent.empty() && temporal.empty() && app_root.empty(); }
};

struct rewrite_policy {
  std::string target;              // rewrite-target with $1..$9 ("" none)
  std::string x_forwarded_prefix;  // x-forwarded-prefix header value ("" none)
  bool use_regex = false;          // use-regex (or rewrite-target): the host's paths are regexes
  path_edit gateway_path;          // an HTTPRoute rule's URLRewrite path
};

// canary, canary-by-*, canary-weight*: this Ingress's paths are not routes of their own; each
// is the alternative backend of the route another Ingress serves with the same host, path and
// path type (config/build.cpp). Which requests it takes (proxy/phases.hpp pick_backend_phase),
// as ingress-nginx decides: the header, then the cookie, then the weight.
struct canary_policy {
  bool enabled = false;       // canary: "true"
  std::string header;         // canary-by-header: its value "always"/"never" decides
  std::string header_value;   // canary-by-header-value: this exact value means "always"
  std::string header_pattern; // canary-by-header-pattern (RE2, unanchored search)
  std::shared_ptr<const re2::RE2> pattern;  // compiled header_pattern (null: none)
  std::string cookie;         // canary-by-cookie: its value "always"/"never" decides
  unsigned weight = 0;        // canary-weight: requests out of weight_total
  unsigned weight_total = 100;  // canary-weight-total (values below 100 count as 100)
};

// affinity: cookie and session-cookie-*: the client is kept on one endpoint by a cookie whose
// value names it ("<endpoint key>|<backend key>", the layout ingress-nginx uses).
struct affinity_policy {
  bool enabled = false;     // affinity: "cookie"
  bool persistent = false;  // affinity-mode: "persistent" (default "balanced")
  bool canary_legacy = false;  // affinity-canary-behavior: "legacy" (default "sticky")
  std::string cookie_name = "INGRESSCOOKIE";
  std::string path;         // session-cookie-path ("" the route's path)
  std::string domain;       // session-cookie-domain
  std::string samesite;     // session-cookie-samesite: "None", "Lax", "Strict" ("" none)
  bool conditional_samesite_none = false;  // omit SameSite=None for browsers that mishandle it
  bool secure = false;      // session-cookie-secure (HTTPS requests always get Secure)
  std::string expires;      // session-cookie-expires, seconds ("" none)
  std::string max_age;      // session-cookie-max-age, seconds ("" none)
  bool change_on_failure = false;  // session-cookie-change-on-failure
};

// load-balance: how an endpoint is chosen when neither affinity nor upstream-hash-by decides.
enum class balance_mode : std::uint8_t { round_robin, ewma };

// One piece of a value with nginx variables (upstream-hash-by "$request_uri", auth-url
// "https://$host/oauth2/auth", auth-cache-key "$remote_user$http_authorization"): a literal or a
// request variable, parsed by config/request_template.hpp and resolved per request by
// proxy/phases.hpp expand_template().
struct hash_part {
  enum class kind : std::uint8_t {
    literal, request_uri, uri, args, remote_addr, host, scheme, method, http, cookie, arg,
    escaped_request_uri,  // $request_uri escaped as set-misc's set_escape_uri does
    http_host,            // the Host header as received (port included)
    pass_access_scheme,   // the scheme, or a trusted X-Forwarded-Proto (ingress-nginx)
    remote_user,          // the user of Basic credentials
    is_args,              // "?" when the request has a query
    server_port,          // the listener's port
  };
  kind k = kind::literal;
  std::string text;  // literal text, or the header / cookie / argument name
};
using request_template = std::vector<hash_part>;

// whitelist-source-range (allowlist-source-range), denylist-source-range and the ConfigMap's
// lists: who may reach the route, by the client address (after the trusted forwarding
// headers or PROXY protocol). Denied first, then allowed; anyone else gets 403.
struct source_policy {
  std::shared_ptr<const ip_set> allow;  // null: every address
  std::shared_ptr<const ip_set> deny;   // null: none
  std::string allow_text, deny_text;    // as written, for portico routes
};

// enable-cors and cors-*: the Access-Control-* headers of the route's answers, and the
// preflight (OPTIONS) answered with 204 by the proxy. ingress-nginx's defaults.
struct cors_policy {
  bool enabled = false;
  bool any_origin = true;  // cors-allow-origin "*" (the default)
  // Lowercased origins "scheme://host[:port]"; "*." before the host stands for one label.
  std::vector<std::string> origins;
  std::string methods = "GET, PUT, POST, DELETE, PATCH, OPTIONS";
  std::string headers =
      "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,"
      "Range,Authorization";
  std::string expose;  // "" none
  bool credentials = true;
  std::string max_age = "1728000";
};

// auth-type basic with auth-secret (auth-file or auth-map) and auth-realm: 401 with
// WWW-Authenticate unless the request's Basic credentials match a user's htpasswd hash.
struct basic_auth_policy {
  std::shared_ptr<const htpasswd> users;  // null: no authentication
  std::string realm;
  std::string secret;  // "ns/name", for portico routes (never its content)
  // auth-type digest: users hold HA1 = MD5(user:realm:password), hex, of `realm` (htdigest),
  // checked as RFC 7616 MD5 with qop "auth" (proxy/digest_auth.hpp).
  bool digest = false;
};

// limit-rps, limit-rpm, limit-connections per client address (proxy/rate_limit.hpp), shared
// by the Ingress's routes (one zone per Ingress, as ingress-nginx names them).
struct limit_policy {
  unsigned rps = 0, rpm = 0, connections = 0;  // 0: no such limit
  unsigned burst_multiplier = 5;               // limit-burst-multiplier
  std::shared_ptr<const ip_set> allowlist;     // limit-allowlist / limit-whitelist: not limited
  std::string zone;                            // "ns/name" of the Ingress
  bool any() const { return rps != 0 || rpm != 0 || connections != 0; }
};

struct route_policy {
  // Requests
  std::uint64_t body_size = 1024 * 1024;  // proxy-body-size; 0: unlimited
  bool request_buffering = true;          // proxy-request-buffering
  // Upstream
  milliseconds connect_timeout{5000};  // proxy-connect-timeout
  milliseconds read_timeout{60000};    // proxy-read-timeout
  milliseconds send_timeout{60000};    // proxy-send-timeout
  std::uint16_t next_upstream = next_upstream::defaults;
  unsigned next_upstream_tries = 3;     // 0: no limit but the endpoints
  milliseconds next_upstream_timeout{0};  // 0: no limit
  // HTTPRoute timeouts (GEP-1742), from the first attempt on: request covers every attempt
  // until the response is read from the upstream, attempt each one (backendRequest). Past
  // either the answer is 504 (a response already begun is cut). 0: none.
  milliseconds request_timeout{0};
  milliseconds attempt_timeout{0};
  unsigned http_version = 11;           // proxy-http-version: 10 or 11
  std::string upstream_vhost;           // upstream-vhost: the Host sent upstream ("" keep)
  std::string connection_header;        // connection-proxy-header ("" default)
  // Balancing, as ingress-nginx chooses its balancer: cookie affinity, else upstream-hash-by
  // (a consistent hash of the key; with -subset a random endpoint of the key's subset), else
  // load-balance.
  balance_mode load_balance = balance_mode::round_robin;
  std::vector<hash_part> hash_by;  // empty: none
  std::string hash_by_text;        // as written
  unsigned hash_by_subset_size = 0;  // upstream-hash-by-subset "true": its -size (default 3)
  // service-upstream: requests go to the Service's ClusterIP and port (kube-proxy balances)
  // instead of its endpoints.
  bool service_upstream = false;
  // custom-http-errors (annotation, else the ConfigMap's): these statuses, from the upstream or
  // Portico's own 502/503/504, are replaced by the error backend's answer
  // (config::route::error_backend) to a request carrying X-Code and the request's names.
  std::vector<std::uint16_t> custom_http_errors;
  std::string default_backend;  // default-backend: a Service of the Ingress's namespace
  // Responses
  // limit-rate / limit-rate-after (kilobytes in the annotation and the ConfigMap, bytes here):
  // each response is sent at most at this rate once its first limit_rate_after bytes are out
  // (nginx limit_rate, per request). 0: no limit.
  std::uint64_t limit_rate = 0;
  std::uint64_t limit_rate_after = 0;
  std::vector<std::pair<std::string, std::string>> response_headers;  // custom-headers
  bool access_log = true;  // enable-access-log
  // HTTPRoute RequestHeaderModifier (upstream request) and ResponseHeaderModifier (answer).
  header_edits request_edits;
  header_edits response_edits;

  redirect_policy redirect;
  rewrite_policy rewrite;
  source_policy source;
  cors_policy cors;
  basic_auth_policy basic_auth;
  limit_policy limits;
  // auth-tls-*: client certificates, applied per host (config/client_auth.hpp; the oldest
  // Ingress of a host that asks for them decides, as ingress-nginx's server does).
  std::shared_ptr<const client_auth> client_certs;
  // auth-url and its family (config/external_auth.hpp), or the ConfigMap's global-auth-url
  // when the Ingress has none and enable-global-auth is not "false". Null: none.
  std::shared_ptr<const external_auth> ext_auth;
  // mirror-target and family (config/annotations_mirror.hpp). Null: no mirroring.
  std::shared_ptr<const ingress_mirror> mirror;
  canary_policy canary;
  affinity_policy affinity;
  // server-alias: more names (lowercased; exact or "*.x") served exactly like each host of the
  // Ingress's rules.
  std::vector<std::string> aliases;

  // Non-empty: the route cannot be served as its Ingress asks (a protection Portico does not
  // apply, or a bad value of one); every request is answered 503 and the reason is a
  // build_error. Never served without the protection.
  std::string denied;

  std::uint64_t hash = 0;  // of the annotations it was decoded from and the settings' hash
};

using route_policy_ptr = std::shared_ptr<const route_policy>;

// ingress-nginx's defaults, shared (a route made without a policy has this one).
inline const route_policy_ptr& default_route_policy() {
  static const route_policy_ptr p = std::make_shared<const route_policy>();
  return p;
}

}  // namespace portico::config
