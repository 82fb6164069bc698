#include "config/annotations.hpp"
#include "config/annotation_ctx.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <re2/re2.h>

#include "config/cluster_state.hpp"
#include "config/fnv.hpp"
#include "config/client_auth.hpp"
#include "config/htpasswd.hpp"
#include "config/ip_set.hpp"
#include "config/request_template.hpp"
#include "config/ingress_check.hpp"
#include "config/tls_annotations.hpp"

namespace portico::config {

const std::vector<annotation_spec>& annotation_registry() {
  static const std::vector<annotation_spec> registry = {
      {"affinity", annotation_support::supported, "\"cookie\": the client stays on one endpoint (a cookie names it), across requests and connections"},
      {"affinity-canary-behavior", annotation_support::supported, "\"sticky\" (default): a client a canary served stays on the canary; \"legacy\": the canary's own affinity"},
      {"affinity-mode", annotation_support::supported, "\"balanced\" (default: a consistent hash, scaling moves few sessions) or \"persistent\" (never moved while the endpoint is ready)"},
      {"allowlist-source-range", annotation_support::supported, "addresses and networks (comma-separated, IPv4 and IPv6) that may use the Ingress's routes; others get 403 (wins over whitelist-source-range)"},
      {"app-root", annotation_support::supported, "a request for \"/\" is redirected (302) to this path"},
      {"auth-always-set-cookie", annotation_support::supported, "\"true\": the authentication answer's Set-Cookie reaches the client whatever the status (by default only with 200, 201, 204, 206, 301, 302, 303, 304, 307, 308)"},
      {"auth-cache-duration", annotation_support::supported, "statuses and a time (\"200 202 401 5m\", default; comma-separated rules): how long answers are cached with auth-cache-key"},
      {"auth-cache-key", annotation_support::supported, "nginx variables (\"$remote_user$http_authorization\"): authentication answers are cached per worker under this key"},
      {"auth-keepalive", annotation_support::supported, "idle connections kept to the authentication service (default 0: one connection per subrequest, \"Connection: close\")"},
      {"auth-keepalive-requests", annotation_support::supported, "subrequests per kept connection (default 1000)"},
      {"auth-keepalive-share-vars", annotation_support::ignored, "accepted; no effect (no nginx variables to share)"},
      {"auth-keepalive-timeout", annotation_support::supported, "seconds a kept connection may stay idle (default 60)"},
      {"auth-method", annotation_support::supported, "the subrequest's method (default GET); with it X-Original-URI and X-Scheme are sent"},
      {"auth-proxy-set-headers", annotation_support::supported, "a ConfigMap (Ingress's namespace) whose data are headers set on the subrequest"},
      {"auth-realm", annotation_support::supported, "the realm of WWW-Authenticate"},
      {"auth-request-redirect", annotation_support::supported, "the X-Auth-Request-Redirect sent to the service (default: the request URI)"},
      {"auth-response-headers", annotation_support::supported, "headers (comma-separated) copied from the 2xx authentication answer to the upstream request; a client's own of these names never reaches the upstream"},
      {"auth-secret", annotation_support::supported, "the Secret (name, or namespace/name) with the users: an htpasswd file (bcrypt, $apr1$, {SHA}, $1$/$5$/$6$/$y$, DES crypt) or, for digest, an htdigest file"},
      {"auth-secret-type", annotation_support::supported, "auth-file (default: the Secret's key \"auth\" is an htpasswd file) or auth-map (each key a user, its value the hash)"},
      {"auth-signin", annotation_support::supported, "a URL (nginx variables allowed) a 401 from the service redirects to (302), with the original URL in auth-signin-redirect-param"},
      {"auth-signin-redirect-param", annotation_support::supported, "the query parameter of auth-signin carrying the original URL (default rd)"},
      {"auth-snippet", annotation_support::refused, "snippets are never applied (the CVE-2021-25742 / CVE-2025-1974 class); the rest of the Ingress is served"},
      {"auth-tls-error-page", annotation_support::supported, "a URL the 400 for a missing or bad certificate redirects to (302)"},
      {"auth-tls-match-cn", annotation_support::supported, "\"CN=<regex>\": a certificate whose subject DN does not match gets 403"},
      {"auth-tls-pass-certificate-to-upstream", annotation_support::supported, "\"true\": the client certificate goes upstream in ssl-client-cert (URL-encoded PEM)"},
      {"auth-tls-secret", annotation_support::supported, "the Secret (Ingress's namespace) whose ca.crt verifies client certificates (ca.crl: revoked ones), for every host of the Ingress; the oldest Ingress of a host decides"},
      {"auth-tls-verify-client", annotation_support::supported, "on (default: a request without a valid certificate gets 400), optional, optional_no_ca, off"},
      {"auth-tls-verify-depth", annotation_support::supported, "the certificate chain depth (default 1)"},
      {"auth-type", annotation_support::supported, "\"basic\" or \"digest\" (with auth-secret): 401 unless the credentials match (digest: RFC 7616 MD5, qop auth, htdigest users of auth-realm)"},
      {"auth-url", annotation_support::supported, "the authentication service (http/https URL, nginx variables allowed): each request is first sent there without body; 2xx passes, 401/403 are answered, anything else 500"},
      {"backend-protocol", annotation_support::supported, "HTTP, HTTPS, GRPC (h2c), GRPCS (HTTP/2 over TLS) (AUTO_HTTP as HTTP); AJP, FCGI are reported"},
      {"canary", annotation_support::supported, "\"true\": the Ingress's paths become the alternative backend of another Ingress's same host and path"},
      {"canary-by-cookie", annotation_support::supported, "a cookie whose value \"always\"/\"never\" sends the request to the canary or not"},
      {"canary-by-header", annotation_support::supported, "a header whose value \"always\"/\"never\" sends the request to the canary or not (checked before the cookie)"},
      {"canary-by-header-pattern", annotation_support::supported, "a regex (RE2) the header's value is searched with: a match goes to the canary"},
      {"canary-by-header-value", annotation_support::supported, "this exact header value goes to the canary (instead of \"always\")"},
      {"canary-weight", annotation_support::supported, "requests out of canary-weight-total that go to the canary when header and cookie do not decide"},
      {"canary-weight-total", annotation_support::supported, "the weight's total (default 100)"},
      {"client-body-buffer-size", annotation_support::ignored, "controller-wide only: --client-body-buffer-size or the ConfigMap key"},
      {"configuration-snippet", annotation_support::refused, "snippets are never applied (the CVE-2021-25742 / CVE-2025-1974 class); the rest of the Ingress is served"},
      {"connection-proxy-header", annotation_support::supported, "the Connection header sent upstream (\"keep-alive\" or \"close\")"},
      {"cors-allow-credentials", annotation_support::supported, "Access-Control-Allow-Credentials: true unless \"false\""},
      {"cors-allow-headers", annotation_support::supported, "Access-Control-Allow-Headers (default DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization)"},
      {"cors-allow-methods", annotation_support::supported, "Access-Control-Allow-Methods (default GET, PUT, POST, DELETE, PATCH, OPTIONS)"},
      {"cors-allow-origin", annotation_support::supported, "origins (comma-separated; *.x for one label; default *): a matching Origin is echoed, others get no CORS headers"},
      {"cors-expose-headers", annotation_support::supported, "Access-Control-Expose-Headers (default none)"},
      {"cors-max-age", annotation_support::supported, "Access-Control-Max-Age, seconds (default 1728000)"},
      {"custom-headers", annotation_support::supported, "\"ns/name\" of a ConfigMap whose data are headers added to responses"},
      {"custom-http-errors", annotation_support::supported, "these statuses (comma-separated) are answered by default-backend or --default-backend-service, with X-Code, X-Format, X-Original-URI, X-Namespace, X-Ingress-Name, X-Service-Name, X-Service-Port, X-Request-ID"},
      {"default-backend", annotation_support::supported, "a Service of the Ingress's namespace (its first port): answers custom-http-errors, and every request while the rule's Service has no endpoints"},
      {"denylist-source-range", annotation_support::supported, "addresses and networks answered 403 (checked before the allow-list); replaces the ConfigMap's list"},
      {"disable-proxy-intercept-errors", annotation_support::supported, "\"true\": upstream statuses of this Ingress are never replaced by error pages (custom-http-errors)"},
      {"enable-access-log", annotation_support::supported, "\"false\": no access log line for the Ingress's requests"},
      {"enable-cors", annotation_support::supported, "\"true\": Access-Control-* headers on the route's answers; OPTIONS is answered 204 by Portico (before access checks, as ingress-nginx)"},
      {"enable-global-auth", annotation_support::supported, "\"false\": the ConfigMap's global-auth-url does not apply to this Ingress"},
      {"enable-modsecurity", annotation_support::denies, "no web application firewall: the Ingress's routes answer 503"},
      {"enable-opentelemetry", annotation_support::unsupported, "no tracing export"},
      {"enable-owasp-core-rules", annotation_support::denies, "no web application firewall: the Ingress's routes answer 503"},
      {"enable-rewrite-log", annotation_support::ignored, "no rewrite log"},
      {"fastcgi-index", annotation_support::unsupported, "FastCGI backends are not supported"},
      {"fastcgi-params-configmap", annotation_support::unsupported, "FastCGI backends are not supported"},
      {"force-ssl-redirect", annotation_support::supported, "the HTTPS redirect even without TLS for the host"},
      {"from-to-www-redirect", annotation_support::supported, "requests for www.<host> (or <host> for a www. host) are redirected to the host (http-redirect-code, 308), unless an Ingress serves that name"},
      {"http2-push-preload", annotation_support::ignored, "HTTP/2 server push is obsolete (browsers removed it)"},
      {"limit-allowlist", annotation_support::supported, "addresses and networks the limits do not apply to (wins over limit-whitelist)"},
      {"limit-burst-multiplier", annotation_support::supported, "the burst of limit-rps and limit-rpm, as a multiple of the rate (default 5)"},
      {"limit-connections", annotation_support::supported, "requests in progress at once per client address; beyond, limit-conn-status-code (503)"},
      {"limit-rate", annotation_support::supported, "kilobytes per second each response of the route is sent at (nginx limit_rate, per request; 0: no limit)"},
      {"limit-rate-after", annotation_support::supported, "kilobytes of each response sent at full speed before limit-rate applies"},
      {"limit-rpm", annotation_support::supported, "requests per minute per client address, as limit-rps"},
      {"limit-rps", annotation_support::supported, "requests per second per client address (burst: limit-burst-multiplier times it, as nginx's limit_req nodelay); beyond, limit-req-status-code (503); exact across workers"},
      {"limit-whitelist", annotation_support::supported, "the older name of limit-allowlist"},
      {"load-balance", annotation_support::supported, "round_robin or ewma (the lower latency of two random endpoints; per worker); the canary's own applies to it"},
      {"mirror-host", annotation_support::supported, "the Host of the mirror copies (default: mirror-target's host, without port)"},
      {"mirror-request-body", annotation_support::supported, "\"off\": copies go without the body (default \"on\"; a body over 1 MiB, streamed or spooled is not copied and the request is not mirrored)"},
      {"mirror-target", annotation_support::supported, "a copy of every request goes to this http(s) URL ($request_uri and the other variables of auth-url after the host; the host: an IP, a Service's <name>.<namespace>.svc name (its endpoints), or DNS); the answer is dropped and never delays or alters the client's; on a canary Ingress not used"},
      {"modsecurity-snippet", annotation_support::refused, "snippets are never applied (the CVE-2021-25742 / CVE-2025-1974 class); the rest of the Ingress is served"},
      {"modsecurity-transaction-id", annotation_support::denies, "no web application firewall: the Ingress's routes answer 503"},
      {"opentelemetry-operation-name", annotation_support::unsupported, "no tracing export"},
      {"opentelemetry-trust-incoming-span", annotation_support::unsupported, "no tracing export"},
      {"permanent-redirect", annotation_support::supported, "every request is redirected to this URL"},
      {"permanent-redirect-code", annotation_support::supported, "status of permanent-redirect (default 301)"},
      {"preserve-trailing-slash", annotation_support::supported, "the HTTPS redirect keeps a trailing '/'"},
      {"proxy-body-size", annotation_support::supported, "request body limit (nginx size; 0: none); 413 beyond"},
      {"proxy-buffer-size", annotation_support::ignored, "responses always stream through fixed 64 KiB buffers"},
      {"proxy-buffering", annotation_support::ignored, "responses always stream through fixed buffers (proxy-buffering off)"},
      {"proxy-buffers-number", annotation_support::ignored, "responses always stream through fixed 64 KiB buffers"},
      {"proxy-busy-buffers-size", annotation_support::ignored, "responses always stream through fixed 64 KiB buffers"},
      {"proxy-connect-timeout", annotation_support::supported, "upstream connect timeout, seconds"},
      {"proxy-cookie-domain", annotation_support::unsupported, "cookie and Location rewriting is not implemented"},
      {"proxy-cookie-path", annotation_support::unsupported, "cookie and Location rewriting is not implemented"},
      {"proxy-http-version", annotation_support::supported, "\"1.0\" or \"1.1\" towards the upstream"},
      {"proxy-max-temp-file-size", annotation_support::ignored, "responses always stream through fixed 64 KiB buffers"},
      {"proxy-next-upstream", annotation_support::supported, "when a failed attempt moves to the next endpoint (error timeout http_5xx ... off)"},
      {"proxy-next-upstream-timeout", annotation_support::supported, "time for all attempts, seconds (0: none)"},
      {"proxy-next-upstream-tries", annotation_support::supported, "attempts at most (0: as many as endpoints)"},
      {"proxy-read-timeout", annotation_support::supported, "time between two reads from the upstream, seconds"},
      {"proxy-redirect-from", annotation_support::unsupported, "cookie and Location rewriting is not implemented"},
      {"proxy-redirect-to", annotation_support::unsupported, "cookie and Location rewriting is not implemented"},
      {"proxy-request-buffering", annotation_support::supported, "\"off\": stream the request body instead of receiving it first"},
      {"proxy-send-timeout", annotation_support::supported, "time between two writes to the upstream, seconds"},
      {"proxy-ssl-ciphers", annotation_support::supported, "the OpenSSL cipher list (TLS 1.2) offered to the upstream"},
      {"proxy-ssl-name", annotation_support::supported, "the SNI and verification name sent upstream"},
      {"proxy-ssl-protocols", annotation_support::supported, "TLSv1.2 and/or TLSv1.3 towards the upstream (default both; ingress-nginx renders TLSv1.2 alone)"},
      {"proxy-ssl-secret", annotation_support::supported, "\"namespace/name\" of the Secret with the upstream CA (ca.crt) and, with tls.crt and tls.key, the client certificate presented to the upstream"},
      {"proxy-ssl-server-name", annotation_support::ignored, "SNI is always sent to TLS upstreams"},
      {"proxy-ssl-verify", annotation_support::supported, "verify the upstream certificate against proxy-ssl-secret's ca.crt"},
      {"proxy-ssl-verify-depth", annotation_support::supported, "the upstream certificate chain depth checked (default OpenSSL's 100; ingress-nginx's nginx 1)"},
      {"relative-redirects", annotation_support::ignored, "redirect locations are absolute"},
      {"rewrite-target", annotation_support::supported, "the URI sent upstream, with $1-$9 from the path as a regex; makes the host's paths regexes (use-regex)"},
      {"satisfy", annotation_support::ignored, "only meaningful with authentication"},
      {"secure-verify-ca-secret", annotation_support::unsupported, "removed from ingress-nginx; use proxy-ssl-secret"},
      {"server-alias", annotation_support::supported, "more host names (comma-separated; exact or *.x) served like the Ingress's hosts; the oldest Ingress of a host sets them; names that are hosts of their own are skipped"},
      {"server-snippet", annotation_support::refused, "snippets are never applied (the CVE-2021-25742 / CVE-2025-1974 class); the rest of the Ingress is served"},
      {"service-upstream", annotation_support::supported, "\"true\": the upstream is the Service's ClusterIP and port instead of its endpoints (endpoints when it has no ClusterIP)"},
      {"session-cookie-change-on-failure", annotation_support::supported, "\"true\": when the cookie's endpoint fails, the retry's endpoint gets a new cookie; default: retried on the same endpoint"},
      {"session-cookie-conditional-samesite-none", annotation_support::supported, "omit SameSite=None for user agents known to mishandle it"},
      {"session-cookie-domain", annotation_support::supported, "the cookie's Domain"},
      {"session-cookie-expires", annotation_support::supported, "seconds: the cookie's Expires (default: a session cookie)"},
      {"session-cookie-max-age", annotation_support::supported, "seconds: the cookie's Max-Age"},
      {"session-cookie-name", annotation_support::supported, "the cookie's name (default INGRESSCOOKIE)"},
      {"session-cookie-path", annotation_support::supported, "the cookie's Path (default: the Ingress path; needed with use-regex)"},
      {"session-cookie-samesite", annotation_support::supported, "None, Lax or Strict"},
      {"session-cookie-secure", annotation_support::supported, "\"true\": Secure on plain HTTP too (HTTPS requests always get it)"},
      {"ssl-ciphers", annotation_support::unsupported, "per-host ciphers are not implemented; the controller's policy applies"},
      {"ssl-passthrough", annotation_support::unsupported, "TLS passthrough is not implemented; TLS is terminated"},
      {"ssl-prefer-server-ciphers", annotation_support::ignored, "the server's cipher order always wins"},
      {"ssl-redirect", annotation_support::supported, "plain HTTP to a TLS host gets the HTTPS redirect (default true)"},
      {"stream-snippet", annotation_support::refused, "snippets are never applied (the CVE-2021-25742 / CVE-2025-1974 class); the rest of the Ingress is served"},
      {"temporal-redirect", annotation_support::supported, "every request is redirected to this URL (wins over permanent-redirect)"},
      {"temporal-redirect-code", annotation_support::supported, "status of temporal-redirect (default 302)"},
      {"upstream-hash-by", annotation_support::supported, "a consistent hash of the key ($request_uri, $uri, $args, $remote_addr, $host, $scheme, $request_method, $http_*, $cookie_*, $arg_* and text): adding or removing an endpoint moves few keys"},
      {"upstream-hash-by-subset", annotation_support::supported, "\"true\": the key picks a subset of endpoints, a random one of it serves"},
      {"upstream-hash-by-subset-size", annotation_support::supported, "endpoints per subset (default 3)"},
      {"upstream-vhost", annotation_support::supported, "the Host header sent upstream"},
      {"use-port-in-redirects", annotation_support::unsupported, "not implemented yet"},
      {"use-regex", annotation_support::supported, "every path of the host is a case-insensitive regex anchored at its start (RE2), tried longest first"},
      {"whitelist-source-range", annotation_support::supported, "the older name of allowlist-source-range; replaces the ConfigMap's list"},
      {"x-forwarded-prefix", annotation_support::supported, "sent upstream as X-Forwarded-Prefix with rewrite-target"},
  };
  return registry;
}

const annotation_spec* find_annotation(std::string_view key) {
  const auto& r = annotation_registry();
  auto it = std::lower_bound(r.begin(), r.end(), key,
                             [](const annotation_spec& s, std::string_view k) { return s.key < k; });
  return it != r.end() && it->key == key ? &*it : nullptr;
}

std::string_view support_text(annotation_support s) {
  switch (s) {
    case annotation_support::supported: return "supported";
    case annotation_support::ignored: return "accepted, no effect";
    case annotation_support::unsupported: return "not supported";
    case annotation_support::refused: return "refused";
    case annotation_support::denies: return "not supported, route answers 503";
  }
  return "";
}

using annotation_detail::trim;

void annotation_detail::add_error(std::vector<build_error>& errors, const ingress& ing,
                                  const std::string& field, std::string message) {
  errors.push_back({"Ingress", ing.meta.namespace_name, ing.meta.name, field, std::move(message)});
}

using annotation_detail::add_error;

our_annotations collect_annotations(const ingress& ing, std::string_view prefix,
                                    std::vector<build_error>& errors) {
  our_annotations out;
  auto take = [&](std::string_view p, bool alias) {
    for (const auto& [key, value] : ing.meta.annotations) {
      if (key.size() <= p.size() + 1 || key.compare(0, p.size(), p) != 0 || key[p.size()] != '/')
        continue;
      std::string name = key.substr(p.size() + 1);
      auto it = out.find(name);
      if (it == out.end()) {
        out.emplace(std::move(name), our_annotation{key, value});
      } else if (alias && it->second.value != value) {
        add_error(errors, ing, "metadata.annotations[" + key + "]",
                  "also set as " + it->second.written_key + " with another value; that one is used");
      }
    }
  };
  take(prefix, false);
  if (prefix != alias_annotations_prefix) take(alias_annotations_prefix, true);
  return out;
}


namespace {

using ctx = annotation_reader::ctx;
using decoder = void (*)(ctx&, std::string_view value);
using namespace annotation_detail;

// limit-rate, limit-rate-after: whole kilobytes (ingress-nginx renders them with "k").
void kilobytes(ctx& c, std::string_view v, std::uint64_t& out) {
  auto n = parse_uint(trim(v));
  if (n && *n <= (1ULL << 40)) out = *n * 1024;
  else c.bad("a whole number of kilobytes");
}

void seconds(ctx& c, std::string_view v, milliseconds& out) {
  if (auto t = parse_nginx_time(v)) out = *t;
  else c.bad("a number of seconds");
}



// rewrite-target: "" when `t` is a replacement Portico applies as nginx's rewrite does: a
// path ("/", "/$2", "/api/$1?x=$2"), a capture first ("$1"), or an absolute http(s) URL
// (answered as a 302 redirect); $0-$9 are the only variables.
std::string rewrite_target_problem(std::string_view t) {
  if (t.empty()) return "empty";
  for (std::size_t i = 0; i < t.size(); ++i) {
    const auto ch = static_cast<unsigned char>(t[i]);
    if (ch <= 0x20 || ch == 0x7f || ch == '"') return "no spaces, quotes or control characters";
    if (ch == '$' && (i + 1 == t.size() || t[i + 1] < '0' || t[i + 1] > '9'))
      return "variables other than $0-$9 are not supported";
  }
  if (t.front() == '/' || t.front() == '$' || t.starts_with("http://") || t.starts_with("https://"))
    return "";
  return "must start with '/', a capture or http(s)://";
}

void redirect_code(ctx& c, std::string_view v, unsigned& out) {
  // ingress-nginx: a code outside 300-308 falls back to the default.
  auto n = parse_uint(v);
  if (n && *n >= 300 && *n <= 308) out = static_cast<unsigned>(*n);
  else c.bad("a redirect status between 300 and 308");
}

void custom_headers(ctx& c, std::string_view v) {
  std::string ref(trim(v));
  const auto slash = ref.find('/');
  const std::string& ns = c.ing.meta.namespace_name;
  if (slash != std::string::npos && ref.substr(0, slash) != ns) {
    c.error("ConfigMap " + ref + " is in another namespace; only ConfigMaps of namespace " + ns +
            " can be used; the Ingress's routes answer 503");
    return c.deny("custom-headers names a ConfigMap of another namespace");
  }
  const std::string key = slash == std::string::npos ? ns + "/" + ref : ref;
  auto it = c.state.config_maps.find(key);
  if (it == c.state.config_maps.end()) {
    c.error("ConfigMap " + key + " not found; the Ingress's routes answer 503");
    return c.deny("custom-headers ConfigMap " + key + " not found");
  }
  const auto& allowed = c.settings.global_allowed_response_headers;
  for (const auto& [name, value] : it->second.data) {
    const bool name_ok = !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
      return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '-' || ch == '_';
    });
    const bool value_ok = !value.empty() && std::none_of(value.begin(), value.end(), [](char ch) {
      return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
    });
    std::string why;
    if (!name_ok || !value_ok) why = "invalid header name or value \"" + name + "\"";
    else if (std::find(allowed.begin(), allowed.end(), name) == allowed.end())
      why = "header " + name + " is not in the ConfigMap key global-allowed-response-headers";
    if (!why.empty()) {
      c.error("ConfigMap " + key + ": " + why + "; the Ingress's routes answer 503");
      return c.deny("custom-headers: " + why);
    }
    c.p.response_headers.emplace_back(name, value);
  }
}

// ingress-nginx's BasicChars: letters, digits and - . _ ~ / :

// A cookie or header name: an RFC 9110 token.
bool token_chars(std::string_view v) {
  return !v.empty() && std::all_of(v.begin(), v.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
  });
}


// session-cookie-expires / -max-age: whole seconds, as ingress-nginx's (^0|-?[1-9]\d*$).
void cookie_seconds(ctx& c, std::string_view v, std::string& out) {
  const auto t = trim(v);
  auto digits = t.starts_with('-') ? t.substr(1) : t;
  const bool ok = !digits.empty() && (t == "0" || (digits.front() != '0' && parse_uint(digits)));
  if (ok) out = std::string(t);
  else c.bad("a whole number of seconds", "the cookie gets no such attribute");
}

// Names (header, cookie) with ingress-nginx's BasicChars that are also tokens.
void name_value(ctx& c, std::string_view v, std::string& out, std::string_view what) {
  const auto t = trim(v);
  if (token_chars(t) && basic_chars(t)) out = std::string(t);
  else c.bad(std::string(what) + " (letters, digits, - . _ ~)", "ignored");
}

// cors-allow-origin entries, as ingress-nginx's corsOriginRegex: "scheme://[*.]host[:port]",
// "null" or "*".
bool valid_cors_origin(std::string_view o) {
  if (o == "null") return true;
  const auto sep = o.find("://");
  if (sep == std::string_view::npos || sep == 0) return false;
  if (!std::all_of(o.begin(), o.begin() + static_cast<std::ptrdiff_t>(sep),
                   [](char ch) { return ch >= 'a' && ch <= 'z'; }))
    return false;
  std::string_view rest = o.substr(sep + 3);
  if (rest.starts_with("*.")) rest.remove_prefix(2);
  const auto colon = rest.find(':');
  const auto host = rest.substr(0, colon);
  if (!std::all_of(host.begin(), host.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.';
      }))
    return false;
  if (colon == std::string_view::npos) return true;
  const auto port = rest.substr(colon + 1);
  return !port.empty() && std::all_of(port.begin(), port.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

void cors_allow_origin(ctx& c, std::string_view v) {
  auto& cors = c.p.cors;
  std::vector<std::string> origins;
  bool any = false, blank = true;
  while (!v.empty()) {
    const auto comma = v.find(',');
    const auto item = trim(v.substr(0, comma));
    v = comma == std::string_view::npos ? std::string_view{} : v.substr(comma + 1);
    if (item.empty()) continue;
    blank = false;
    if (item == "*") {
      any = true;
      break;
    }
    if (!valid_cors_origin(item)) {
      c.error("\"" + std::string(item) +
              "\" is not an origin (scheme://host[:port], *.host for one label, null or *); skipped");
      continue;
    }
    std::string o(item);
    for (auto& ch : o) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    origins.push_back(std::move(o));
  }
  if (any || blank) {  // "*", or nothing: every origin (ingress-nginx)
    cors.any_origin = true;
    cors.origins.clear();
    return;
  }
  cors.any_origin = false;
  cors.origins = std::move(origins);
  if (cors.origins.empty()) c.error("no valid origin; no CORS headers are sent");
}

// A list of words (letters, digits and `extra`) separated by commas and spaces, as
// ingress-nginx's CORS validators accept.
bool word_list(std::string_view v, std::string_view extra) {
  if (v.empty()) return false;
  return std::all_of(v.begin(), v.end(), [&](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == ',' || ch == ' ' ||
           extra.find(ch) != std::string_view::npos;
  });
}

// upstream-hash-by: text and $var / ${var} references, the variables Portico resolves.
// One decoder per supported key that the route policy holds (the TLS ones are read by
// tls_annotation_reader).
const std::vector<std::pair<std::string_view, decoder>>& decoders() {
  static const std::vector<std::pair<std::string_view, decoder>> table = {
      {"enable-cors",
       [](ctx& c, std::string_view v) { flag(c, v, c.p.cors.enabled); }},
      {"cors-allow-origin", cors_allow_origin},
      {"cors-allow-methods",
       [](ctx& c, std::string_view v) {
         const auto t = trim(v);
         if (word_list(t, "") && std::none_of(t.begin(), t.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
           c.p.cors.methods = std::string(t);
         else c.bad("methods separated by commas (GET, POST)");
       }},
      {"cors-allow-headers",
       [](ctx& c, std::string_view v) {
         const auto t = trim(v);
         if (word_list(t, "-_")) c.p.cors.headers = std::string(t);
         else c.bad("header names separated by commas");
       }},
      {"cors-expose-headers",
       [](ctx& c, std::string_view v) {
         const auto t = trim(v);
         if (word_list(t, "-_*")) c.p.cors.expose = std::string(t);
         else c.bad("header names (or *) separated by commas", "none are exposed");
       }},
      {"cors-allow-credentials",
       [](ctx& c, std::string_view v) { flag(c, v, c.p.cors.credentials); }},
      {"cors-max-age",
       [](ctx& c, std::string_view v) {
         const auto t = trim(v);
         auto digits = t.starts_with('-') ? t.substr(1) : t;
         if (parse_uint(digits)) c.p.cors.max_age = std::string(t);
         else c.bad("a number of seconds");
       }},
      {"affinity",
       [](ctx& c, std::string_view v) {
         if (trim(v) == "cookie") c.p.affinity.enabled = true;
         else c.bad("\"cookie\"", "no affinity");
       }},
      {"affinity-canary-behavior",
       [](ctx& c, std::string_view v) {
         if (trim(v) == "sticky" || trim(v) == "legacy") c.p.affinity.canary_legacy = trim(v) == "legacy";
         else c.bad("\"sticky\" or \"legacy\"");
       }},
      {"affinity-mode",
       [](ctx& c, std::string_view v) {
         if (trim(v) == "balanced" || trim(v) == "persistent") c.p.affinity.persistent = trim(v) == "persistent";
         else c.bad("\"balanced\" or \"persistent\"");
       }},
      {"app-root",
       [](ctx& c, std::string_view v) {
         if (valid_path_value(trim(v))) c.p.redirect.app_root = std::string(trim(v));
         else c.bad("a path starting with '/'", "ignored");
       }},
      {"canary", [](ctx& c, std::string_view v) { flag(c, v, c.p.canary.enabled); }},
      {"canary-by-cookie",
       [](ctx& c, std::string_view v) { name_value(c, v, c.p.canary.cookie, "a cookie name"); }},
      {"canary-by-header",
       [](ctx& c, std::string_view v) { name_value(c, v, c.p.canary.header, "a header name"); }},
      {"canary-by-header-pattern",
       [](ctx& c, std::string_view v) {
         const auto t = trim(v);
         re2::RE2::Options o;
         o.set_log_errors(false);
         auto re = std::make_shared<const re2::RE2>(re2::StringPiece(t.data(), t.size()), o);
         if (!t.empty() && re->ok()) {
           c.p.canary.header_pattern = std::string(t);
           c.p.canary.pattern = std::move(re);
         } else {
           c.bad("a regular expression (RE2)" + (t.empty() ? std::string() : ": " + re->error()),
                 "ignored");
         }
       }},
      {"canary-by-header-value",
       [](ctx& c, std::string_view v) {
         const auto t = trim(v);
         if (!t.empty() && basic_chars(t)) c.p.canary.header_value = std::string(t);
         else c.bad("a header value (letters, digits, - . _ ~ / :)", "ignored");
       }},
      {"canary-weight",
       [](ctx& c, std::string_view v) {
         if (auto n = parse_uint(v); n && *n <= 1000000) c.p.canary.weight = static_cast<unsigned>(*n);
         else c.bad("a non-negative integer", "weight 0");
       }},
      {"canary-weight-total",
       [](ctx& c, std::string_view v) {
         if (auto n = parse_uint(v); n && *n <= 1000000) c.p.canary.weight_total = static_cast<unsigned>(*n);
         else c.bad("a non-negative integer", "the total is 100");
       }},
      {"connection-proxy-header",
       [](ctx& c, std::string_view v) {
         const auto t = trim(v);
         if (t == "keep-alive" || t == "close" || t == "upgrade") c.p.connection_header = std::string(t);
         else c.bad("\"keep-alive\", \"close\" or \"upgrade\"");
       }},
      {"custom-headers", custom_headers},
      {"from-to-www-redirect", [](ctx& c, std::string_view v) { flag(c, v, c.p.redirect.from_to_www); }},
      {"custom-http-errors",
       [](ctx& c, std::string_view v) {
         std::vector<std::uint16_t> codes;
         std::string_view rest = v;
         while (!rest.empty()) {
           const auto comma = rest.find(',');
           const auto item = trim(rest.substr(0, comma));
           rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
           if (item.empty()) continue;
           auto n = parse_uint(item);
           if (!n || *n < 400 || *n > 599)
             return c.bad("a comma-separated list of 4xx/5xx statuses", "ignored");
           codes.push_back(static_cast<std::uint16_t>(*n));
         }
         c.p.custom_http_errors = std::move(codes);
       }},
      {"default-backend",
       [](ctx& c, std::string_view v) {
         std::string why;
         const auto t = trim(v);
         if (!t.empty() && t.size() <= 63 && valid_rule_host(t, &why) && t.find('.') == std::string_view::npos)
           c.p.default_backend = std::string(t);
         else c.bad("the name of a Service in the Ingress's namespace", "ignored");
       }},
      {"disable-proxy-intercept-errors",
       [](ctx& c, std::string_view v) { flag(c, v, c.no_intercept); }},
      {"enable-access-log",
       [](ctx& c, std::string_view v) { flag(c, v, c.p.access_log); }},
      {"permanent-redirect",
       [](ctx& c, std::string_view v) {
         if (valid_redirect_url(trim(v))) c.p.redirect.permanent = std::string(trim(v));
         else c.bad("an http:// or https:// URL", "ignored");
       }},
      {"permanent-redirect-code",
       [](ctx& c, std::string_view v) { redirect_code(c, v, c.p.redirect.permanent_code); }},
      {"preserve-trailing-slash",
       [](ctx& c, std::string_view v) { flag(c, v, c.p.redirect.preserve_trailing_slash); }},
      {"proxy-body-size",
       [](ctx& c, std::string_view v) {
         if (auto n = parse_nginx_size(v)) c.p.body_size = *n;
         else c.bad("an nginx size (8k, 1m, 0)");
       }},
      {"proxy-connect-timeout",
       [](ctx& c, std::string_view v) { seconds(c, v, c.p.connect_timeout); }},
      {"proxy-http-version",
       [](ctx& c, std::string_view v) {
         if (trim(v) == "1.1") c.p.http_version = 11;
         else if (trim(v) == "1.0") c.p.http_version = 10;
         else c.bad("\"1.0\" or \"1.1\"");
       }},
      {"proxy-next-upstream",
       [](ctx& c, std::string_view v) {
         std::string word;
         if (auto f = parse_next_upstream(v, &word)) c.p.next_upstream = *f;
         else c.bad("words of: error timeout invalid_header http_500 http_502 http_503 "
                    "http_504 http_403 http_404 http_429 non_idempotent off");
       }},
      {"proxy-next-upstream-timeout",
       [](ctx& c, std::string_view v) { seconds(c, v, c.p.next_upstream_timeout); }},
      {"proxy-next-upstream-tries",
       [](ctx& c, std::string_view v) {
         if (auto n = parse_uint(v)) c.p.next_upstream_tries = static_cast<unsigned>(*n);
         else c.bad("a non-negative integer");
       }},
      {"proxy-read-timeout", [](ctx& c, std::string_view v) { seconds(c, v, c.p.read_timeout); }},
      {"proxy-request-buffering",
       [](ctx& c, std::string_view v) {
         if (trim(v) == "on") c.p.request_buffering = true;
         else if (trim(v) == "off") c.p.request_buffering = false;
         else c.bad("\"on\" or \"off\"");
       }},
      {"proxy-send-timeout", [](ctx& c, std::string_view v) { seconds(c, v, c.p.send_timeout); }},
      {"server-alias",
       [](ctx& c, std::string_view v) {
         std::string_view rest = v;
         while (!rest.empty()) {
           const auto comma = rest.find(',');
           std::string name(trim(rest.substr(0, comma)));
           rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
           if (name.empty()) continue;
           for (auto& ch : name) ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
           std::string why;
           if (!valid_rule_host(name, &why)) {
             c.bad("host names separated by commas (\"" + name + "\": " + why + ")",
                   "that name is ignored");
             continue;
           }
           if (std::find(c.p.aliases.begin(), c.p.aliases.end(), name) == c.p.aliases.end())
             c.p.aliases.push_back(std::move(name));
         }
       }},
      {"service-upstream", [](ctx& c, std::string_view v) { flag(c, v, c.p.service_upstream); }},
      {"session-cookie-change-on-failure",
       [](ctx& c, std::string_view v) { flag(c, v, c.p.affinity.change_on_failure); }},
      {"load-balance",
       [](ctx& c, std::string_view v) {
         if (trim(v) == "round_robin") c.p.load_balance = balance_mode::round_robin;
         else if (trim(v) == "ewma") c.p.load_balance = balance_mode::ewma;
         else c.bad("\"round_robin\" or \"ewma\"");
       }},
      {"limit-rate", [](ctx& c, std::string_view v) { kilobytes(c, v, c.p.limit_rate); }},
      {"limit-rate-after", [](ctx& c, std::string_view v) { kilobytes(c, v, c.p.limit_rate_after); }},
      {"upstream-hash-by",
       [](ctx& c, std::string_view v) {
         std::string why;
         auto parts = parse_request_template(trim(v), why);
         if (why.empty()) {
           c.p.hash_by = std::move(parts);
           c.p.hash_by_text = std::string(trim(v));
         } else {
           c.bad("an nginx variable expression such as $request_uri (" + why + ")", "ignored");
         }
       }},
      {"upstream-hash-by-subset-size",
       [](ctx& c, std::string_view v) {
         auto n = parse_uint(v);
         if (!n || *n == 0 || *n > 1000) return c.bad("a positive integer", "the size is 3");
         c.subset_size = static_cast<unsigned>(*n);
       }},
      {"upstream-hash-by-subset",
       [](ctx& c, std::string_view v) {
         bool on = false;
         flag(c, v, on);
         if (on && c.p.hash_by_subset_size == 0) c.p.hash_by_subset_size = 3;
         if (!on) c.p.hash_by_subset_size = 0;
       }},
      {"session-cookie-conditional-samesite-none",
       [](ctx& c, std::string_view v) { flag(c, v, c.p.affinity.conditional_samesite_none); }},
      {"session-cookie-domain",
       [](ctx& c, std::string_view v) {
         const auto t = trim(v);
         if (!t.empty() && basic_chars(t) && t.find('/') == std::string_view::npos)
           c.p.affinity.domain = std::string(t);
         else c.bad("a domain name", "the cookie gets no Domain");
       }},
      {"session-cookie-expires",
       [](ctx& c, std::string_view v) { cookie_seconds(c, v, c.p.affinity.expires); }},
      {"session-cookie-max-age",
       [](ctx& c, std::string_view v) { cookie_seconds(c, v, c.p.affinity.max_age); }},
      {"session-cookie-name",
       [](ctx& c, std::string_view v) {
         name_value(c, v, c.p.affinity.cookie_name, "a cookie name");
       }},
      {"session-cookie-path",
       [](ctx& c, std::string_view v) {
         const auto t = trim(v);
         if (valid_path_value(t) && t.find(';') == std::string_view::npos) c.p.affinity.path = std::string(t);
         else c.bad("a path starting with '/'", "the cookie's Path is the Ingress path");
       }},
      {"session-cookie-samesite",
       [](ctx& c, std::string_view v) {
         std::string t(trim(v));
         for (auto& ch : t) ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
         if (t == "none") c.p.affinity.samesite = "None";
         else if (t == "lax") c.p.affinity.samesite = "Lax";
         else if (t == "strict") c.p.affinity.samesite = "Strict";
         else c.bad("None, Lax or Strict", "the cookie gets no SameSite");
       }},
      {"session-cookie-secure",
       [](ctx& c, std::string_view v) { flag(c, v, c.p.affinity.secure); }},
      {"temporal-redirect",
       [](ctx& c, std::string_view v) {
         if (valid_redirect_url(trim(v))) c.p.redirect.temporal = std::string(trim(v));
         else c.bad("an http:// or https:// URL", "ignored");
       }},
      {"temporal-redirect-code",
       [](ctx& c, std::string_view v) { redirect_code(c, v, c.p.redirect.temporal_code); }},
      {"upstream-vhost",
       [](ctx& c, std::string_view v) {
         std::string why;
         const auto t = trim(v);
         const auto colon = t.rfind(':');
         const auto host = colon == std::string_view::npos ? t : t.substr(0, colon);
         const auto port = colon == std::string_view::npos ? std::string_view{} : t.substr(colon + 1);
         if (!host.empty() && valid_rule_host(host, &why) && !host.starts_with("*.") &&
             (colon == std::string_view::npos || parse_uint(port)))
           c.p.upstream_vhost = std::string(t);
         else c.bad("a host name (optionally :port)", "ignored");
       }},
      {"rewrite-target",
       [](ctx& c, std::string_view v) {
         const auto t = trim(v);
         std::string why = rewrite_target_problem(t);
         if (why.empty()) c.p.rewrite.target = std::string(t);
         else c.bad("a URI with $1-$9 (" + why + ")", "ignored");
       }},
      {"use-regex",
       [](ctx& c, std::string_view v) { flag(c, v, c.p.rewrite.use_regex); }},
      {"x-forwarded-prefix",
       [](ctx& c, std::string_view v) {
         if (valid_path_value(trim(v))) c.p.rewrite.x_forwarded_prefix = std::string(trim(v));
         else c.bad("a path starting with '/'", "ignored");
       }},
  };
  return table;
}

// whitelist-source-range / allowlist-source-range and denylist-source-range: an invalid or
// empty list is a protection not applied, so the routes answer 503 (ingress-nginx denies the
// location too).
decoder find_decoder(std::string_view key) {
  for (const auto& [k, d] : decoders())
    if (k == key) return d;
  return nullptr;
}

}  // namespace

route_policy_ptr annotation_reader::read(const ingress& ing, const our_annotations& anns) {
  if (!anns.empty()) return read_all(ing, anns);
  if (defaults_) return defaults_;
  // Nothing of an Ingress without annotations reaches its policy; kept unless reading it
  // reported something (the ConfigMap's global auth, say), which each Ingress then reports.
  const std::size_t errors_before = errors_.size();
  route_policy_ptr p = read_all(ing, anns);
  if (errors_.size() == errors_before) defaults_ = p;
  return p;
}

route_policy_ptr annotation_reader::read_all(const ingress& ing, const our_annotations& anns) {
  route_policy p = settings_.route_defaults();
  ctx c{ing, p, state_, settings_, errors_};
  for (const auto& [key, a] : anns) {
    c.current = &a;
    const annotation_spec* spec = find_annotation(key);
    // "false", "off", "0" or nothing asks for nothing, whatever the key.
    const auto t = trim(a.value);
    const bool asks_nothing = t.empty() || t == "off" || parse_bool_text(t) == false;
    if (spec == nullptr) {
      c.error("not supported: not an ingress-nginx annotation Portico knows; ignored");
      continue;
    }
    switch (spec->support) {
      case annotation_support::supported:
        if (decoder d = find_decoder(key)) d(c, a.value);
        break;
      case annotation_support::ignored: break;
      case annotation_support::unsupported:
        if (!asks_nothing) c.error("not supported: " + std::string(spec->note) + "; ignored");
        break;
      case annotation_support::refused:
        c.error("refused: " + std::string(spec->note));
        break;
      case annotation_support::denies:
        if (asks_nothing) break;
        c.error("not supported: " + std::string(spec->note));
        c.deny("annotation " + a.written_key + " asks for a protection Portico does not apply");
        break;
    }
  }
  source_ranges(c, anns);
  limits(c, anns);
  fnv1a secret_content;
  basic_auth(c, anns, secret_content);
  client_certificates(c, anns, secret_content);
  external_authentication(c, anns, secret_content);
  mirror(c, anns);
  if (p.hash_by_subset_size != 0) p.hash_by_subset_size = c.subset_size;
  if (c.no_intercept) p.custom_http_errors.clear();
  if (p.hash_by.empty()) p.hash_by_subset_size = 0;
  // ingress-nginx: canary-* without canary "true" is a configuration error.
  const auto& cn = p.canary;
  if (!cn.enabled && (cn.weight > 0 || !cn.header.empty() || !cn.header_value.empty() ||
                      !cn.cookie.empty() || !cn.header_pattern.empty())) {
    for (const auto& [key, a] : anns) {
      if (!key.starts_with("canary-")) continue;
      c.current = &a;
      c.error("canary-* is configured but canary is not \"true\"; ignored");
      break;
    }
    p.canary = canary_policy{};
  }
  fnv1a h;
  h.add(settings_.hash);
  for (const auto& [key, a] : anns) h.add(key).add(a.value);
  for (const auto& [k, v] : p.response_headers) h.add(k).add(v);  // the ConfigMap's content
  h.add(secret_content.value());  // the auth-secret's users
  p.hash = h.value();
  return std::make_shared<const route_policy>(std::move(p));
}

namespace {
std::string md_escape(std::string_view s) {
  std::string out;
  for (char ch : s) {
    if (ch == '|') out += "\\|";
    else out += ch;
  }
  return out;
}
}  // namespace

std::string annotation_table_markdown() {
  std::string out = "| annotation | Portico | note |\n|---|---|---|\n";
  for (const auto& s : annotation_registry()) {
    out += "| `" + std::string(s.key) + "` | " + std::string(support_text(s.support)) + " | " +
           md_escape(s.note) + " |\n";
  }
  return out;
}

std::string setting_table_markdown() {
  std::string out = "| ConfigMap key | Portico | note |\n|---|---|---|\n";
  for (const auto& s : setting_registry()) {
    std::string_view sup = s.support == setting_support::supported     ? "supported"
                           : s.support == setting_support::ignored     ? "accepted, no effect"
                           : s.support == setting_support::unsupported ? "not supported"
                                                                       : "not supported, routes answer 503";
    out += "| `" + std::string(s.key) + "` | " + std::string(sup) + " | " + md_escape(s.note) + " |\n";
  }
  return out;
}

}  // namespace portico::config
