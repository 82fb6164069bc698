// Controller-wide settings: ingress-nginx's ConfigMap keys, typed. The defaults are
// ingress-nginx's, or what the command-line flags say (build_options::defaults); the ConfigMap
// named by --configmap wins where both set a key, as an operator coming from ingress-nginx
// expects. A Snapshot carries the settings it was built with, so a ConfigMap change applies
// to the next request without a restart.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/route_policy.hpp"

namespace portico::config {

struct config_map;
struct cluster_state;
struct build_error;

struct controller_config {
  // Per-route defaults (annotations override them per Ingress).
  std::uint64_t proxy_body_size = 1024 * 1024;
  milliseconds proxy_connect_timeout{5000};
  milliseconds proxy_read_timeout{60000};
  milliseconds proxy_send_timeout{60000};
  std::uint16_t proxy_next_upstream = next_upstream::defaults;
  unsigned proxy_next_upstream_tries = 3;
  milliseconds proxy_next_upstream_timeout{0};
  bool proxy_request_buffering = true;
  unsigned proxy_http_version = 11;
  bool ssl_redirect = true;
  bool force_ssl_redirect = false;
  bool enable_access_log = true;  // disable-access-log: "true" turns it off
  // Requests
  std::size_t client_body_buffer_size = 8 * 1024;
  milliseconds client_header_timeout{60000};
  milliseconds client_body_timeout{60000};
  milliseconds keep_alive{75000};      // keep-alive (seconds in the ConfigMap)
  unsigned keep_alive_requests = 1000;  // requests per client connection; 0: no limit
  bool enable_underscores_in_headers = false;
  // HTTP/2 to clients: offered by ALPN on HTTPS (use-http2); streams per connection
  // (http2-max-concurrent-streams, nginx's default).
  bool use_http2 = true;
  std::uint32_t http2_max_concurrent_streams = 128;
  // Requests one HTTP/2 connection serves before a graceful GOAWAY (http2-max-requests; 0:
  // keep-alive-requests, which nginx applies to HTTP/2 since 1.19.7). One decoded header
  // field (name + value) and the whole decoded list of an HTTP/2 request
  // (http2-max-field-size, http2-max-header-size; 0: --max-header-size bounds both): over
  // either, the stream is answered 431.
  unsigned http2_max_requests = 0;
  std::size_t http2_max_field_size = 0;
  std::size_t http2_max_header_size = 0;
  // Upstream connections
  std::size_t upstream_keepalive_connections = 320;
  milliseconds upstream_keepalive_timeout{60000};
  unsigned upstream_keepalive_requests = 10000;  // requests per upstream connection
  // Redirects and HSTS
  unsigned http_redirect_code = 308;
  bool hsts = true;
  std::uint64_t hsts_max_age = 31536000;
  bool hsts_include_subdomains = true;
  bool hsts_preload = false;
  // The client address
  bool use_forwarded_headers = false;  // trust X-Forwarded-* from proxy-real-ip-cidr
  bool enable_real_ip = false;         // the client address from forwarded-for-header
  std::string forwarded_for_header = "X-Forwarded-For";
  bool compute_full_forwarded_for = false;  // append to a trusted X-Forwarded-For
  std::vector<std::string> proxy_real_ip_cidr{"0.0.0.0/0", "::/0"};
  // Without use-forwarded-headers or enable-real-ip: the --trusted-proxies flag's CIDRs.
  std::vector<std::string> trusted_proxies;
  bool use_proxy_protocol = false;  // PROXY protocol v1/v2 on the listeners
  // Source address lists: whitelist-source-range and denylist-source-range are every
  // Ingress's default lists (its annotation replaces them); block-cidrs answers 403 to every
  // request from these addresses, on every host.
  source_policy source_ranges;
  std::shared_ptr<const ip_set> block_cidrs;  // null: none
  unsigned limit_req_status_code = 503;   // limit-rps / limit-rpm refusals
  unsigned limit_conn_status_code = 503;  // limit-connections refusals
  std::uint64_t limit_rate = 0;           // limit-rate default (bytes per second)
  std::uint64_t limit_rate_after = 0;     // limit-rate-after default (bytes)
  std::string block_cidrs_text;
  milliseconds proxy_protocol_header_timeout{5000};
  // Misc
  bool retry_non_idempotent = false;
  bool service_upstream = false;
  std::string load_balance = "round_robin";
  bool allow_snippet_annotations = false;  // accepted; snippets are never applied
  std::vector<std::pair<std::string, std::string>> add_headers;        // to every response
  std::vector<std::pair<std::string, std::string>> proxy_set_headers;  // to every upstream request
  std::vector<std::uint16_t> custom_http_errors;
  // --default-backend-service "namespace/name": answers custom-http-errors (first port).
  std::string default_backend_service;
  std::vector<std::string> global_allowed_response_headers;  // custom-headers may set only these
  std::vector<std::string> no_tls_redirect_locations{"/.well-known/acme-challenge"};
  // global-auth-*: the external authentication of every route without its own auth-url
  // (null: none); routes whose path starts with one of no_auth_locations skip it.
  std::shared_ptr<const external_auth> global_auth;
  std::vector<std::string> no_auth_locations{"/.well-known/acme-challenge"};
  // allow-cross-namespace-resources: annotations may name another namespace's Secrets and
  // ConfigMaps (ingress-nginx's default, and Portico's: false).
  bool allow_cross_namespace_resources = false;

  // The proxy's trusted CIDRs for X-Forwarded-* (see use_forwarded_headers).
  const std::vector<std::string>& trusted_cidrs() const {
    return use_forwarded_headers || enable_real_ip ? proxy_real_ip_cidr : trusted_proxies;
  }
  // Non-empty: a ConfigMap protection Portico does not apply is set; every route answers 503.
  std::string denied;
  std::uint64_t hash = 0;  // of the ConfigMap's data (and the referenced ConfigMaps)

  // The route policy every Ingress starts from.
  route_policy route_defaults() const;
};

using controller_config_ptr = std::shared_ptr<const controller_config>;

// supported: applied; ignored: accepted, no effect here (its note says why); unsupported: a
// build_error, no effect; denies: a protection Portico does not apply, so every route answers
// 503 while it is set (never served unprotected).
enum class setting_support : std::uint8_t { supported, ignored, unsupported, denies };

struct setting_spec {
  std::string_view key;
  setting_support support;
  std::string_view note;  // what it does here, or why it is ignored/unsupported
};

// Every ingress-nginx ConfigMap key Portico knows, for the README table and the errors.
const std::vector<setting_spec>& setting_registry();

// Applies the ConfigMap `cm` (may be null: the defaults stay) over `defaults`. Errors name
// the ConfigMap and the key (field "data[<key>]"); a bad value leaves that key's default.
// ConfigMap references (add-headers, proxy-set-headers: "ns/name") are read from `state`.
controller_config decode_controller_config(const config_map* cm, const controller_config& defaults,
                                           const cluster_state& state,
                                           std::vector<build_error>& errors);

// Parsers shared with the annotation decoders (ingress-nginx's syntax; booleans are
// parse_bool_text of config/tls_annotations.hpp).
// nginx size syntax: "1m", "8k", "1g", "100" (bytes); nullopt when malformed.
std::optional<std::uint64_t> parse_nginx_size(std::string_view v);
// nginx time syntax, a bare number being seconds: "60", "5s", "500ms", "1m", "1h".
std::optional<milliseconds> parse_nginx_time(std::string_view v);
// A value without surrounding spaces, tabs and line breaks (YAML block scalars end in one).
std::string_view trim_value(std::string_view v);
// A decimal number, spaces around allowed; nullopt otherwise.
std::optional<std::uint64_t> parse_uint(std::string_view v);
// proxy-next-upstream value: "error timeout http_502" / "off". nullopt on an unknown word.
std::optional<std::uint16_t> parse_next_upstream(std::string_view v, std::string* bad_word);

}  // namespace portico::config
