#include "config/controller_config.hpp"

#include <algorithm>
#include <charconv>

#include "config/build.hpp"
#include "config/cluster_state.hpp"
#include "config/external_auth.hpp"
#include "config/fnv.hpp"
#include "config/ip_set.hpp"
#include "config/tls_annotations.hpp"

namespace portico::config {

route_policy controller_config::route_defaults() const {
  route_policy p;
  p.body_size = proxy_body_size;
  p.request_buffering = proxy_request_buffering;
  p.connect_timeout = proxy_connect_timeout;
  p.read_timeout = proxy_read_timeout;
  p.send_timeout = proxy_send_timeout;
  p.next_upstream = proxy_next_upstream;
  if (retry_non_idempotent) p.next_upstream |= next_upstream::non_idempotent;
  p.next_upstream_tries = proxy_next_upstream_tries;
  p.next_upstream_timeout = proxy_next_upstream_timeout;
  p.http_version = proxy_http_version;
  p.access_log = enable_access_log;
  p.service_upstream = service_upstream;
  p.custom_http_errors = custom_http_errors;
  p.load_balance = load_balance == "ewma" ? balance_mode::ewma : balance_mode::round_robin;
  p.source = source_ranges;
  p.denied = denied;
  p.ext_auth = global_auth;
  p.limit_rate = limit_rate;
  p.limit_rate_after = limit_rate_after;
  return p;
}

const std::vector<setting_spec>& setting_registry() {
  static const std::vector<setting_spec> registry = {
      {"access-log-params", setting_support::ignored, "logs are JSON lines on stdout and stderr"},
      {"access-log-path", setting_support::ignored, "logs are JSON lines on stdout and stderr"},
      {"add-headers", setting_support::supported, "\"ns/name\" of a ConfigMap whose data are headers added to every response"},
      {"allow-backend-server-header", setting_support::unsupported, "response header filtering is not implemented"},
      {"allow-cross-namespace-resources", setting_support::supported, "\"true\": annotations may name Secrets and ConfigMaps of other namespaces (auth-secret, auth-tls-secret, proxy-ssl-secret, auth-proxy-set-headers); default false"},
      {"allow-snippet-annotations", setting_support::ignored, "snippets are never applied, whatever this says"},
      {"annotation-value-word-blocklist", setting_support::ignored, "snippets are never applied; other annotations are typed and validated"},
      {"annotations-risk-level", setting_support::ignored, "snippets are never applied; other annotations are typed and validated"},
      {"bind-address", setting_support::ignored, "set by the --listen-address flag"},
      {"block-cidrs", setting_support::supported, "addresses and networks (comma-separated) answered 403 on every host, whatever an Ingress's own lists say"},
      {"block-referers", setting_support::denies, "source filtering is not implemented yet: every route answers 503 rather than unfiltered"},
      {"block-user-agents", setting_support::denies, "source filtering is not implemented yet: every route answers 503 rather than unfiltered"},
      {"brotli-level", setting_support::unsupported, "responses are passed as the upstream encoded them"},
      {"brotli-min-length", setting_support::unsupported, "responses are passed as the upstream encoded them"},
      {"brotli-types", setting_support::unsupported, "responses are passed as the upstream encoded them"},
      {"client-body-buffer-size", setting_support::supported, "request body bytes kept in memory before a temporary file"},
      {"client-body-timeout", setting_support::supported, "seconds to receive a request head / between two body reads"},
      {"client-header-buffer-size", setting_support::ignored, "set by --max-header-size and --max-header-fields"},
      {"client-header-timeout", setting_support::supported, "seconds to receive a request head / between two body reads"},
      {"compute-full-forwarded-for", setting_support::supported, "append the peer to a trusted X-Forwarded-For instead of replacing it"},
      {"custom-http-errors", setting_support::supported, "these statuses are answered by --default-backend-service (X-Code, X-Format, X-Original-URI, ... as ingress-nginx sends them); without one they pass through"},
      {"debug-connections", setting_support::unsupported, "not implemented"},
      {"default-type", setting_support::ignored, "Content-Type comes from the upstream"},
      {"denylist-source-range", setting_support::supported, "addresses and networks answered 403 on every route without its own denylist-source-range"},
      {"disable-access-log", setting_support::supported, "\"true\": no access log lines"},
      {"disable-ipv6", setting_support::ignored, "listeners follow --listen-address"},
      {"disable-ipv6-dns", setting_support::ignored, "listeners follow --listen-address"},
      {"enable-access-log-for-default-backend", setting_support::ignored, "every request is logged unless disable-access-log"},
      {"enable-aio-write", setting_support::ignored, "nginx internals with no counterpart"},
      {"enable-brotli", setting_support::unsupported, "responses are passed as the upstream encoded them"},
      {"enable-modsecurity", setting_support::denies, "no web application firewall: every route answers 503 rather than unprotected"},
      {"enable-multi-accept", setting_support::ignored, "nginx internals with no counterpart"},
      {"enable-ocsp", setting_support::unsupported, "not implemented"},
      {"enable-opentelemetry", setting_support::unsupported, "no tracing export"},
      {"enable-owasp-modsecurity-crs", setting_support::denies, "no web application firewall: every route answers 503 rather than unprotected"},
      {"enable-real-ip", setting_support::supported, "the client address from forwarded-for-header, trusted from proxy-real-ip-cidr"},
      {"enable-serial-reloads", setting_support::ignored, "nginx internals with no counterpart"},
      {"enable-syslog", setting_support::ignored, "logs are JSON lines on stdout and stderr"},
      {"enable-underscores-in-headers", setting_support::supported, "forward header names containing '_' (dropped by default)"},
      {"error-log-level", setting_support::ignored, "logs are JSON lines on stdout and stderr"},
      {"error-log-path", setting_support::ignored, "logs are JSON lines on stdout and stderr"},
      {"force-ssl-redirect", setting_support::supported, "default of the annotations of the same names"},
      {"forwarded-for-header", setting_support::supported, "the header the client address comes from (X-Forwarded-For)"},
      {"forwarded-for-proxy-protocol-header", setting_support::unsupported, "not implemented"},
      {"generate-request-id", setting_support::ignored, "a request ID is always generated when the client sent none"},
      {"geoip2-autoreload-in-minutes", setting_support::unsupported, "no GeoIP"},
      {"global-allowed-response-headers", setting_support::supported, "header names the custom-headers annotation may set"},
      {"global-auth-always-set-cookie", setting_support::supported, "auth-always-set-cookie for the global authentication"},
      {"global-auth-cache-duration", setting_support::supported, "auth-cache-duration for the global authentication"},
      {"global-auth-cache-key", setting_support::supported, "auth-cache-key for the global authentication"},
      {"global-auth-method", setting_support::supported, "auth-method for the global authentication"},
      {"global-auth-request-redirect", setting_support::supported, "auth-request-redirect for the global authentication"},
      {"global-auth-response-headers", setting_support::supported, "auth-response-headers for the global authentication"},
      {"global-auth-signin", setting_support::supported, "auth-signin for the global authentication"},
      {"global-auth-signin-redirect-param", setting_support::supported, "auth-signin-redirect-param for the global authentication (default rd)"},
      {"global-auth-snippet", setting_support::unsupported, "snippets are never applied (the CVE-2021-25742 / CVE-2025-1974 class)"},
      {"global-auth-url", setting_support::supported, "external authentication of every route without its own auth-url (enable-global-auth \"false\" and no-auth-locations exempt routes); an invalid URL makes every route answer 503"},
      {"grpc-buffer-size-kb", setting_support::unsupported, "gRPC messages stream through fixed per-stream buffers (64 KiB each way plus the HTTP/2 windows); there is no whole-response buffer to size"},
      {"gzip-disable", setting_support::unsupported, "responses are passed as the upstream encoded them"},
      {"gzip-level", setting_support::unsupported, "responses are passed as the upstream encoded them"},
      {"gzip-min-length", setting_support::unsupported, "responses are passed as the upstream encoded them"},
      {"gzip-types", setting_support::unsupported, "responses are passed as the upstream encoded them"},
      {"hide-headers", setting_support::unsupported, "response header filtering is not implemented"},
      {"hsts", setting_support::supported, "Strict-Transport-Security on HTTPS responses"},
      {"hsts-include-subdomains", setting_support::supported, "Strict-Transport-Security on HTTPS responses"},
      {"hsts-max-age", setting_support::supported, "Strict-Transport-Security on HTTPS responses"},
      {"hsts-preload", setting_support::supported, "Strict-Transport-Security on HTTPS responses"},
      {"http-access-log-path", setting_support::ignored, "logs are JSON lines on stdout and stderr"},
      {"http-redirect-code", setting_support::supported, "status of the HTTP to HTTPS redirect (301, 302, 307, 308)"},
      {"http-snippet", setting_support::unsupported, "snippets are never applied (the CVE-2021-25742 / CVE-2025-1974 class)"},
      {"http2-max-concurrent-streams", setting_support::supported, "streams one HTTP/2 connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS)"},
      {"http2-max-field-size", setting_support::supported, "largest decoded header field (name + value) of an HTTP/2 request; over it the stream is answered 431 (default: --max-header-size)"},
      {"http2-max-header-size", setting_support::supported, "largest decoded header list of an HTTP/2 request, also sent as SETTINGS_MAX_HEADER_LIST_SIZE; over it 431 (default: --max-header-size)"},
      {"http2-max-requests", setting_support::supported, "requests one HTTP/2 connection serves before a graceful GOAWAY (0, the default: keep-alive-requests, as nginx since 1.19.7)"},
      {"ignore-invalid-headers", setting_support::ignored, "invalid header names are always refused (400)"},
      {"jaeger-baggage-header", setting_support::unsupported, "no tracing export"},
      {"jaeger-collector-host", setting_support::unsupported, "no tracing export"},
      {"jaeger-collector-port", setting_support::unsupported, "no tracing export"},
      {"jaeger-debug-header", setting_support::unsupported, "no tracing export"},
      {"jaeger-endpoint", setting_support::unsupported, "no tracing export"},
      {"jaeger-propagation-format", setting_support::unsupported, "no tracing export"},
      {"jaeger-sampler-host", setting_support::unsupported, "no tracing export"},
      {"jaeger-sampler-param", setting_support::unsupported, "no tracing export"},
      {"jaeger-sampler-port", setting_support::unsupported, "no tracing export"},
      {"jaeger-sampler-type", setting_support::unsupported, "no tracing export"},
      {"jaeger-service-name", setting_support::unsupported, "no tracing export"},
      {"jaeger-trace-baggage-header-prefix", setting_support::unsupported, "no tracing export"},
      {"jaeger-trace-context-header-name", setting_support::unsupported, "no tracing export"},
      {"keep-alive", setting_support::supported, "seconds an idle client connection is kept"},
      {"keep-alive-requests", setting_support::supported, "requests served per client connection, then it is closed"},
      {"large-client-header-buffers", setting_support::ignored, "set by --max-header-size and --max-header-fields"},
      {"limit-conn-status-code", setting_support::supported, "the status of a request refused by limit-connections (default 503)"},
      {"limit-conn-zone-variable", setting_support::unsupported, "limits always count per client address (ingress-nginx's default $binary_remote_addr)"},
      {"limit-rate", setting_support::supported, "default of the annotation: kilobytes per second each response is sent at (0: no limit; ingress-nginx renders the value with \"k\" too)"},
      {"limit-rate-after", setting_support::supported, "default of the annotation: kilobytes of each response sent before limit-rate applies"},
      {"limit-req-status-code", setting_support::supported, "the status of a request refused by limit-rps or limit-rpm (default 503)"},
      {"load-balance", setting_support::supported, "round_robin (default) or ewma (the lower latency of two random endpoints; per worker)"},
      {"location-snippet", setting_support::unsupported, "snippets are never applied (the CVE-2021-25742 / CVE-2025-1974 class)"},
      {"log-format-escape-json", setting_support::ignored, "logs are JSON lines on stdout and stderr"},
      {"log-format-escape-none", setting_support::ignored, "logs are JSON lines on stdout and stderr"},
      {"log-format-stream", setting_support::ignored, "logs are JSON lines on stdout and stderr"},
      {"log-format-upstream", setting_support::ignored, "logs are JSON lines on stdout and stderr"},
      {"lua-shared-dicts", setting_support::ignored, "nginx internals with no counterpart"},
      {"main-snippet", setting_support::unsupported, "snippets are never applied (the CVE-2021-25742 / CVE-2025-1974 class)"},
      {"map-hash-bucket-size", setting_support::ignored, "nginx internals with no counterpart"},
      {"max-worker-connections", setting_support::ignored, "set by the --max-connections flag"},
      {"max-worker-open-files", setting_support::ignored, "nginx internals with no counterpart"},
      {"modsecurity-snippet", setting_support::unsupported, "snippets are never applied (the CVE-2021-25742 / CVE-2025-1974 class)"},
      {"nginx-status-ipv4-whitelist", setting_support::ignored, "no nginx status page; /metrics on the admin port"},
      {"nginx-status-ipv6-whitelist", setting_support::ignored, "no nginx status page; /metrics on the admin port"},
      {"no-auth-locations", setting_support::supported, "path prefixes (comma-separated, default /.well-known/acme-challenge) the global authentication skips"},
      {"no-tls-redirect-locations", setting_support::supported, "paths never redirected to HTTPS (ACME challenges)"},
      {"opentelemetry-config", setting_support::unsupported, "no tracing export"},
      {"opentelemetry-operation-name", setting_support::unsupported, "no tracing export"},
      {"opentelemetry-trust-incoming-span", setting_support::unsupported, "no tracing export"},
      {"otel-max-export-batch-size", setting_support::unsupported, "no tracing export"},
      {"otel-max-queuesize", setting_support::unsupported, "no tracing export"},
      {"otel-sampler", setting_support::unsupported, "no tracing export"},
      {"otel-sampler-parent-based", setting_support::unsupported, "no tracing export"},
      {"otel-sampler-ratio", setting_support::unsupported, "no tracing export"},
      {"otel-schedule-delay-millis", setting_support::unsupported, "no tracing export"},
      {"otel-service-name", setting_support::unsupported, "no tracing export"},
      {"otlp-collector-host", setting_support::unsupported, "no tracing export"},
      {"otlp-collector-port", setting_support::unsupported, "no tracing export"},
      {"proxy-add-original-uri-header", setting_support::unsupported, "not implemented"},
      {"proxy-body-size", setting_support::supported, "default request body limit (413 beyond; 0: none); annotation proxy-body-size overrides"},
      {"proxy-buffer-size", setting_support::ignored, "responses always stream through fixed 64 KiB buffers"},
      {"proxy-buffering", setting_support::ignored, "responses always stream through fixed 64 KiB buffers"},
      {"proxy-buffers-number", setting_support::ignored, "responses always stream through fixed 64 KiB buffers"},
      {"proxy-busy-buffers-size", setting_support::ignored, "responses always stream through fixed 64 KiB buffers"},
      {"proxy-connect-timeout", setting_support::supported, "default upstream timeouts in seconds; annotations override"},
      {"proxy-cookie-domain", setting_support::unsupported, "cookie and Location rewriting is not implemented"},
      {"proxy-cookie-path", setting_support::unsupported, "cookie and Location rewriting is not implemented"},
      {"proxy-headers-hash-bucket-size", setting_support::ignored, "nginx internals with no counterpart"},
      {"proxy-headers-hash-max-size", setting_support::ignored, "nginx internals with no counterpart"},
      {"proxy-next-upstream", setting_support::supported, "default retry policy; annotations override"},
      {"proxy-next-upstream-timeout", setting_support::supported, "default retry policy; annotations override"},
      {"proxy-next-upstream-tries", setting_support::supported, "default retry policy; annotations override"},
      {"proxy-protocol-header-timeout", setting_support::supported, "time to receive the PROXY protocol header, seconds (5)"},
      {"proxy-read-timeout", setting_support::supported, "default upstream timeouts in seconds; annotations override"},
      {"proxy-real-ip-cidr", setting_support::supported, "CIDRs whose forwarding headers are trusted"},
      {"proxy-redirect-from", setting_support::unsupported, "cookie and Location rewriting is not implemented"},
      {"proxy-request-buffering", setting_support::supported, "receive request bodies whole before connecting upstream (on/off)"},
      {"proxy-send-timeout", setting_support::supported, "default upstream timeouts in seconds; annotations override"},
      {"proxy-set-headers", setting_support::supported, "\"ns/name\" of a ConfigMap whose data are headers sent to every upstream"},
      {"proxy-ssl-location-only", setting_support::unsupported, "not implemented"},
      {"proxy-stream-next-upstream", setting_support::unsupported, "no TCP/UDP stream proxying"},
      {"proxy-stream-next-upstream-timeout", setting_support::unsupported, "no TCP/UDP stream proxying"},
      {"proxy-stream-next-upstream-tries", setting_support::unsupported, "no TCP/UDP stream proxying"},
      {"proxy-stream-responses", setting_support::unsupported, "no TCP/UDP stream proxying"},
      {"proxy-stream-timeout", setting_support::unsupported, "no TCP/UDP stream proxying"},
      {"relative-redirects", setting_support::ignored, "redirect locations are absolute"},
      {"retry-non-idempotent", setting_support::supported, "retry POST/PATCH/LOCK too (proxy-next-upstream non_idempotent)"},
      {"reuse-port", setting_support::ignored, "every worker always has its own SO_REUSEPORT listener"},
      {"server-name-hash-bucket-size", setting_support::ignored, "nginx internals with no counterpart"},
      {"server-name-hash-max-size", setting_support::ignored, "nginx internals with no counterpart"},
      {"server-snippet", setting_support::unsupported, "snippets are never applied (the CVE-2021-25742 / CVE-2025-1974 class)"},
      {"server-tokens", setting_support::ignored, "Portico's own answers say Server: portico, without a version; upstream Server headers pass unchanged"},
      {"service-upstream", setting_support::supported, "\"true\": every route's upstream is its Service's ClusterIP and port (the annotation sets it per Ingress)"},
      {"skip-access-log-urls", setting_support::ignored, "every request is logged unless disable-access-log"},
      {"ssl-buffer-size", setting_support::ignored, "session cache and rotated ticket keys are built in"},
      {"ssl-ciphers", setting_support::ignored, "TLS 1.2/1.3 with Mozilla's intermediate ciphers, fixed"},
      {"ssl-dh-param", setting_support::ignored, "TLS 1.2/1.3 with Mozilla's intermediate ciphers, fixed"},
      {"ssl-ecdh-curve", setting_support::ignored, "TLS 1.2/1.3 with Mozilla's intermediate ciphers, fixed"},
      {"ssl-protocols", setting_support::ignored, "TLS 1.2/1.3 with Mozilla's intermediate ciphers, fixed"},
      {"ssl-redirect", setting_support::supported, "default of the annotations of the same names"},
      {"ssl-reject-handshake", setting_support::unsupported, "not implemented"},
      {"ssl-session-cache", setting_support::ignored, "session cache and rotated ticket keys are built in"},
      {"ssl-session-cache-size", setting_support::ignored, "session cache and rotated ticket keys are built in"},
      {"ssl-session-ticket-key", setting_support::ignored, "session cache and rotated ticket keys are built in"},
      {"ssl-session-tickets", setting_support::ignored, "session cache and rotated ticket keys are built in"},
      {"ssl-session-timeout", setting_support::ignored, "session cache and rotated ticket keys are built in"},
      {"stream-access-log-path", setting_support::ignored, "logs are JSON lines on stdout and stderr"},
      {"stream-snippet", setting_support::unsupported, "snippets are never applied (the CVE-2021-25742 / CVE-2025-1974 class)"},
      {"strict-validate-path-type", setting_support::ignored, "paths are always validated"},
      {"syslog-host", setting_support::ignored, "logs are JSON lines on stdout and stderr"},
      {"syslog-port", setting_support::ignored, "logs are JSON lines on stdout and stderr"},
      {"upstream-keepalive-connections", setting_support::supported, "idle upstream connections kept per worker per endpoint"},
      {"upstream-keepalive-requests", setting_support::supported, "requests per upstream connection, then it is closed"},
      {"upstream-keepalive-time", setting_support::ignored, "connections are recycled by upstream-keepalive-requests and -timeout"},
      {"upstream-keepalive-timeout", setting_support::supported, "seconds an idle upstream connection is kept"},
      {"use-forwarded-headers", setting_support::supported, "trust X-Forwarded-* from proxy-real-ip-cidr"},
      {"use-geoip", setting_support::unsupported, "no GeoIP"},
      {"use-geoip2", setting_support::unsupported, "no GeoIP"},
      {"use-gzip", setting_support::unsupported, "responses are passed as the upstream encoded them"},
      {"use-http2", setting_support::supported, "HTTP/2 offered to HTTPS clients by ALPN"},
      {"use-proxy-protocol", setting_support::supported, "PROXY protocol v1/v2 required on the HTTP and HTTPS listeners; the client address from peers in proxy-real-ip-cidr"},
      {"variables-hash-bucket-size", setting_support::ignored, "nginx internals with no counterpart"},
      {"variables-hash-max-size", setting_support::ignored, "nginx internals with no counterpart"},
      {"whitelist-source-range", setting_support::supported, "the only addresses and networks served on every route without its own whitelist-source-range (others get 403)"},
      {"worker-cpu-affinity", setting_support::ignored, "nginx internals with no counterpart"},
      {"worker-processes", setting_support::ignored, "set by the --workers flag"},
      {"worker-shutdown-timeout", setting_support::ignored, "set by the --shutdown-grace flag"},
  };
  return registry;
}

std::string_view trim_value(std::string_view v) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!v.empty() && space(v.front())) v.remove_prefix(1);
  while (!v.empty() && space(v.back())) v.remove_suffix(1);
  return v;
}

std::optional<std::uint64_t> parse_uint(std::string_view v) {
  v = trim_value(v);
  std::uint64_t n = 0;
  auto r = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || r.ec != std::errc{} || r.ptr != v.data() + v.size()) return std::nullopt;
  return n;
}

namespace {

std::string_view trim(std::string_view v) { return trim_value(v); }

std::vector<std::string> split_list(std::string_view v) {
  std::vector<std::string> out;
  while (!v.empty()) {
    const auto comma = v.find(',');
    const auto item = trim(v.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    v = comma == std::string_view::npos ? std::string_view{} : v.substr(comma + 1);
  }
  return out;
}

const setting_spec* find_setting(std::string_view key) {
  const auto& r = setting_registry();
  auto it = std::lower_bound(r.begin(), r.end(), key,
                             [](const setting_spec& s, std::string_view k) { return s.key < k; });
  return it != r.end() && it->key == key ? &*it : nullptr;
}

// Decodes one ConfigMap: each key through its parser; errors name the key.
class settings_decoder {
 public:
  settings_decoder(const config_map& cm, controller_config& c, const cluster_state& state,
                   std::vector<build_error>& errors)
      : cm_(cm), c_(c), state_(state), errors_(errors) {}

  void run() {
    for (const auto& [key, value] : cm_.data) {
      const setting_spec* spec = find_setting(key);
      if (spec == nullptr) {
        error(key, "unknown key (not an ingress-nginx ConfigMap key Portico knows); ignored");
        continue;
      }
      switch (spec->support) {
        case setting_support::supported: apply(key, value); break;
        case setting_support::ignored: break;
        case setting_support::unsupported: {
          // "false", "off" or nothing asks for nothing: the default, which is what happens.
          const auto t = trim(value);
          if (!(t.empty() || t == "off" || t == "false"))
            error(key, "not supported: " + std::string(spec->note) + "; ignored");
          break;
        }
        case setting_support::denies:
          if (!trim(value).empty() && value != "false") {
            error(key, "not supported: " + std::string(spec->note));
            if (c_.denied.empty())
              c_.denied = "ConfigMap key " + key + " asks for a protection Portico does not apply";
          }
          break;
      }
    }
    global_auth();
  }

 private:
  // global-auth-*: collected, then decoded together by global_auth().
  void global_auth_key(const std::string& k, const std::string& v) {
    const std::string_view name = std::string_view(k).substr(12);
    auto& f = global_;
    if (name == "url") f.url = v;
    else if (name == "method") f.method = v;
    else if (name == "signin") f.signin = v;
    else if (name == "signin-redirect-param") f.signin_redirect_param = v;
    else if (name == "response-headers") f.response_headers = v;
    else if (name == "request-redirect") f.request_redirect = v;
    else if (name == "cache-key") f.cache_key = v;
    else if (name == "cache-duration") f.cache_duration = v;
    else if (name == "always-set-cookie") f.always_set_cookie = v;
  }
  // The global authentication; an URL that cannot be applied denies every route.
  void global_auth() {
    if (!global_.url || trim(*global_.url).empty()) {
      c_.global_auth = nullptr;
      return;
    }
    std::vector<auth_problem> problems;
    auto a = make_external_auth(global_, problems);
    for (const auto& pr : problems) {
      const std::string key = "global-" + pr.key;
      error(key, pr.deny ? pr.message + "; every route answers 503" : pr.message);
      if (pr.deny && c_.denied.empty())
        c_.denied = "ConfigMap key " + key + " is invalid: " + pr.message;
    }
    if (!a) {
      c_.global_auth = nullptr;
      return;
    }
    a->global = true;
    c_.global_auth = std::move(a);
  }

  void error(const std::string& key, std::string message) {
    errors_.push_back({"ConfigMap", cm_.meta.namespace_name, cm_.meta.name, "data[" + key + "]",
                       std::move(message)});
  }
  void bad(const std::string& key, const std::string& value, std::string_view want) {
    error(key, "must be " + std::string(want) + ", got \"" + value + "\"; the default applies");
  }

  void boolean(const std::string& k, const std::string& v, bool& out) {
    if (auto b = parse_bool_text(trim(v))) out = *b;
    else bad(k, v, "\"true\" or \"false\"");
  }
  void seconds(const std::string& k, const std::string& v, milliseconds& out) {
    if (auto t = parse_nginx_time(v)) out = *t;
    else bad(k, v, "a number of seconds (or nginx time: 500ms, 1m)");
  }
  template <class N>
  void number(const std::string& k, const std::string& v, N& out) {
    if (auto n = parse_uint(v)) out = static_cast<N>(*n);
    else bad(k, v, "a non-negative integer");
  }
  void size(const std::string& k, const std::string& v, std::uint64_t& out) {
    if (auto n = parse_nginx_size(v)) out = *n;
    else bad(k, v, "an nginx size (8k, 1m, 0)");
  }
  // An address list; a bad entry is a protection not applied: every route answers 503.
  std::shared_ptr<const ip_set> ip_list(const std::string& k, const std::string& v) {
    auto set = std::make_shared<ip_set>();
    const auto bad_entries = add_ip_list(v, *set);
    if (!bad_entries.empty()) {
      error(k, "\"" + bad_entries.front() + "\" is not an IP address or network; every route answers 503");
      if (c_.denied.empty()) c_.denied = "ConfigMap key " + k + " has an invalid entry";
      return nullptr;
    }
    if (set->empty()) return nullptr;
    return set;
  }
  void headers_from(const std::string& k, const std::string& v,
                    std::vector<std::pair<std::string, std::string>>& out);
  void apply(const std::string& k, const std::string& v);

  const config_map& cm_;
  controller_config& c_;
  external_auth_fields global_;
  const cluster_state& state_;
  std::vector<build_error>& errors_;
};

void settings_decoder::headers_from(const std::string& k, const std::string& v,
                                    std::vector<std::pair<std::string, std::string>>& out) {
  const auto ref = std::string(trim(v));
  const auto slash = ref.find('/');
  const std::string key = slash == std::string::npos ? cm_.meta.namespace_name + "/" + ref : ref;
  auto it = state_.config_maps.find(key);
  if (it == state_.config_maps.end()) {
    error(k, "ConfigMap " + key + " not found; no headers added");
    return;
  }
  out.clear();
  for (const auto& [name, value] : it->second.data) {
    const bool token = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '_';
    });
    const bool clean = std::none_of(value.begin(), value.end(),
                                    [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
    if (!token || !clean) {
      errors_.push_back({"ConfigMap", it->second.meta.namespace_name, it->second.meta.name,
                         "data[" + name + "]", "not a valid header name and value; skipped"});
      continue;
    }
    out.emplace_back(name, value);
  }
}

void settings_decoder::apply(const std::string& k, const std::string& v) {
  if (k == "proxy-body-size") size(k, v, c_.proxy_body_size);
  else if (k == "proxy-connect-timeout") seconds(k, v, c_.proxy_connect_timeout);
  else if (k == "proxy-read-timeout") seconds(k, v, c_.proxy_read_timeout);
  else if (k == "proxy-send-timeout") seconds(k, v, c_.proxy_send_timeout);
  else if (k == "proxy-next-upstream") {
    std::string word;
    if (auto f = parse_next_upstream(v, &word)) c_.proxy_next_upstream = *f;
    else bad(k, v, "words of: error timeout invalid_header http_500 http_502 http_503 http_504 "
                   "http_403 http_404 http_429 non_idempotent off (\"" + word + "\" is not)");
  } else if (k == "proxy-next-upstream-tries") number(k, v, c_.proxy_next_upstream_tries);
  else if (k == "proxy-next-upstream-timeout") seconds(k, v, c_.proxy_next_upstream_timeout);
  else if (k == "proxy-request-buffering") {
    if (trim(v) == "on") c_.proxy_request_buffering = true;
    else if (trim(v) == "off") c_.proxy_request_buffering = false;
    else bad(k, v, "\"on\" or \"off\"");
  } else if (k == "ssl-redirect") boolean(k, v, c_.ssl_redirect);
  else if (k == "force-ssl-redirect") boolean(k, v, c_.force_ssl_redirect);
  else if (k == "disable-access-log") {
    bool off = !c_.enable_access_log;
    boolean(k, v, off);
    c_.enable_access_log = !off;
  } else if (k == "client-body-buffer-size") {
    std::uint64_t n = c_.client_body_buffer_size;
    size(k, v, n);
    c_.client_body_buffer_size = static_cast<std::size_t>(n);
  } else if (k == "client-header-timeout") seconds(k, v, c_.client_header_timeout);
  else if (k == "client-body-timeout") seconds(k, v, c_.client_body_timeout);
  else if (k == "keep-alive") seconds(k, v, c_.keep_alive);
  else if (k == "keep-alive-requests") number(k, v, c_.keep_alive_requests);
  else if (k == "use-http2") boolean(k, v, c_.use_http2);
  else if (k == "http2-max-concurrent-streams") {
    unsigned n = c_.http2_max_concurrent_streams;
    number(k, v, n);
    if (n != 0) c_.http2_max_concurrent_streams = n;
  } else if (k == "http2-max-requests") number(k, v, c_.http2_max_requests);
  else if (k == "http2-max-field-size" || k == "http2-max-header-size") {
    std::size_t& field = k == "http2-max-field-size" ? c_.http2_max_field_size : c_.http2_max_header_size;
    std::uint64_t n = field;
    size(k, v, n);
    field = static_cast<std::size_t>(n);
  }
  else if (k == "enable-underscores-in-headers") boolean(k, v, c_.enable_underscores_in_headers);
  else if (k == "upstream-keepalive-connections") number(k, v, c_.upstream_keepalive_connections);
  else if (k == "upstream-keepalive-timeout") seconds(k, v, c_.upstream_keepalive_timeout);
  else if (k == "upstream-keepalive-requests") number(k, v, c_.upstream_keepalive_requests);
  else if (k == "http-redirect-code") {
    unsigned code = c_.http_redirect_code;
    number(k, v, code);
    if (code == 301 || code == 302 || code == 307 || code == 308) c_.http_redirect_code = code;
    else bad(k, v, "301, 302, 307 or 308");
  } else if (k == "hsts") boolean(k, v, c_.hsts);
  else if (k == "hsts-max-age") number(k, v, c_.hsts_max_age);
  else if (k == "hsts-include-subdomains") boolean(k, v, c_.hsts_include_subdomains);
  else if (k == "hsts-preload") boolean(k, v, c_.hsts_preload);
  else if (k == "use-forwarded-headers") boolean(k, v, c_.use_forwarded_headers);
  else if (k == "enable-real-ip") boolean(k, v, c_.enable_real_ip);
  else if (k == "forwarded-for-header") {
    if (!trim(v).empty()) c_.forwarded_for_header = std::string(trim(v));
  } else if (k == "compute-full-forwarded-for") boolean(k, v, c_.compute_full_forwarded_for);
  else if (k == "proxy-real-ip-cidr") c_.proxy_real_ip_cidr = split_list(v);
  else if (k == "use-proxy-protocol") boolean(k, v, c_.use_proxy_protocol);
  else if (k == "limit-req-status-code" || k == "limit-conn-status-code") {
    unsigned& out = k == "limit-req-status-code" ? c_.limit_req_status_code : c_.limit_conn_status_code;
    unsigned code = out;
    number(k, v, code);
    if (code >= 400 && code <= 599) out = code;
    else bad(k, v, "a status between 400 and 599");
  } else if (k == "whitelist-source-range") {
    c_.source_ranges.allow = ip_list(k, v);
    c_.source_ranges.allow_text = c_.source_ranges.allow ? std::string(trim(v)) : std::string();
  } else if (k == "denylist-source-range") {
    c_.source_ranges.deny = ip_list(k, v);
    c_.source_ranges.deny_text = c_.source_ranges.deny ? std::string(trim(v)) : std::string();
  } else if (k == "block-cidrs") {
    c_.block_cidrs = ip_list(k, v);
    c_.block_cidrs_text = c_.block_cidrs ? std::string(trim(v)) : std::string();
  }
  else if (k == "proxy-protocol-header-timeout") seconds(k, v, c_.proxy_protocol_header_timeout);
  else if (k == "load-balance") {
    if (trim(v) == "round_robin" || trim(v) == "ewma") c_.load_balance = std::string(trim(v));
    else bad(k, v, "\"round_robin\" or \"ewma\"");
  } else if (k == "retry-non-idempotent") boolean(k, v, c_.retry_non_idempotent);
  else if (k == "service-upstream") boolean(k, v, c_.service_upstream);
  else if (k == "add-headers") headers_from(k, v, c_.add_headers);
  else if (k == "proxy-set-headers") headers_from(k, v, c_.proxy_set_headers);
  else if (k == "no-tls-redirect-locations") c_.no_tls_redirect_locations = split_list(v);
  else if (k == "limit-rate" || k == "limit-rate-after") {
    std::uint64_t kb = 0;
    number(k, v, kb);
    if (kb <= (1ULL << 40)) (k == "limit-rate" ? c_.limit_rate : c_.limit_rate_after) = kb * 1024;
  }
  else if (k == "allow-cross-namespace-resources") boolean(k, v, c_.allow_cross_namespace_resources);
  else if (k == "no-auth-locations") c_.no_auth_locations = split_list(v);
  else if (k.starts_with("global-auth-")) global_auth_key(k, v);
  else if (k == "global-allowed-response-headers") c_.global_allowed_response_headers = split_list(v);
  else if (k == "custom-http-errors") {
    std::vector<std::uint16_t> codes;
    for (const auto& item : split_list(v)) {
      auto n = parse_uint(item);
      if (!n || *n < 400 || *n > 599) {
        bad(k, v, "a comma-separated list of 4xx/5xx statuses");
        return;
      }
      codes.push_back(static_cast<std::uint16_t>(*n));
    }
    c_.custom_http_errors = std::move(codes);
  }
}

}  // namespace

std::optional<std::uint64_t> parse_nginx_size(std::string_view v) {
  v = trim(v);
  std::uint64_t n = 0;
  auto r = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || r.ec != std::errc{}) return std::nullopt;
  std::string_view unit(r.ptr, static_cast<std::size_t>(v.data() + v.size() - r.ptr));
  if (unit.empty()) return n;
  if (unit == "k" || unit == "K") return n << 10;
  if (unit == "m" || unit == "M") return n << 20;
  if (unit == "g" || unit == "G") return n << 30;
  return std::nullopt;
}

std::optional<milliseconds> parse_nginx_time(std::string_view v) {
  v = trim(v);
  std::uint64_t n = 0;
  auto r = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || r.ec != std::errc{}) return std::nullopt;
  std::string_view unit(r.ptr, static_cast<std::size_t>(v.data() + v.size() - r.ptr));
  std::uint64_t mult = 0;
  if (unit.empty() || unit == "s") mult = 1000;
  else if (unit == "ms") mult = 1;
  else if (unit == "m") mult = 60'000;
  else if (unit == "h") mult = 3'600'000;
  else if (unit == "d") mult = 86'400'000;
  else return std::nullopt;
  return milliseconds(n * mult);
}

std::optional<std::uint16_t> parse_next_upstream(std::string_view v, std::string* bad_word) {
  static constexpr std::pair<std::string_view, std::uint16_t> words[] = {
      {"error", next_upstream::error},       {"timeout", next_upstream::timeout},
      {"invalid_header", next_upstream::invalid_header},
      {"http_500", next_upstream::http_500}, {"http_502", next_upstream::http_502},
      {"http_503", next_upstream::http_503}, {"http_504", next_upstream::http_504},
      {"http_403", next_upstream::http_403}, {"http_404", next_upstream::http_404},
      {"http_429", next_upstream::http_429}, {"non_idempotent", next_upstream::non_idempotent},
      {"off", next_upstream::off}};
  std::uint16_t flags = 0;
  bool any = false;
  while (!v.empty()) {
    const auto sp = v.find_first_of(" \t");
    const auto w = v.substr(0, sp);
    v = sp == std::string_view::npos ? std::string_view{} : v.substr(sp + 1);
    if (w.empty()) continue;
    const auto it = std::find_if(std::begin(words), std::end(words),
                                 [&](const auto& p) { return p.first == w; });
    if (it == std::end(words)) {
      if (bad_word) *bad_word = std::string(w);
      return std::nullopt;
    }
    flags |= it->second;
    any = true;
  }
  if (!any) return std::nullopt;
  return (flags & next_upstream::off) != 0 ? next_upstream::off : flags;
}

controller_config decode_controller_config(const config_map* cm, const controller_config& defaults,
                                           const cluster_state& state,
                                           std::vector<build_error>& errors) {
  controller_config c = defaults;
  if (cm == nullptr) return c;
  settings_decoder(*cm, c, state, errors).run();
  fnv1a h;
  for (const auto& [k, v] : cm->data) h.add(k).add(v);
  for (const auto& [k, v] : c.add_headers) h.add(k).add(v);
  for (const auto& [k, v] : c.proxy_set_headers) h.add(k).add(v);
  c.hash = h.value();
  return c;
}

}  // namespace portico::config
