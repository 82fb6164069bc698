// Every knob of the data plane, with ingress-nginx's defaults. Filled from flags by main.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/controller_config.hpp"

namespace portico::proxy {

using std::chrono::milliseconds;

// A log line from the data plane: level ("info", "warn", "error") and message. Called from
// any thread.
using log_fn = std::function<void(const char* level, const std::string& message)>;

// Who may read the admin port's /debug/* (--debug-endpoints).
enum class debug_endpoints : std::uint8_t {
  loopback,  // peers from 127.0.0.0/8 and ::1 only; others get 403
  all,       // every peer that reaches the admin port
  off,       // nobody: 404
};

struct server_options {
  // --default-backend-service "namespace/name" (custom-http-errors); "" none.
  std::string default_backend_service;
  std::string listen_address = "0.0.0.0";
  std::uint16_t http_port = 8080;
  std::uint16_t https_port = 8443;  // --https-port; 0: no HTTPS listener
  // --gateway-http-ports, --gateway-https-ports: extra listeners, each on its own port, that
  // serve the Gateway listeners with that port number (HTTP, HTTPS with the same certificates
  // as --https-port). Never 80 or 443 (Gateway listeners there use the main ports).
  std::vector<std::uint16_t> gateway_http_ports, gateway_https_ports;
  std::string admin_address = "0.0.0.0";
  std::uint16_t admin_port = 10254;
  unsigned workers = 0;  // 0: one per core
  // Client connections per worker (plain, TLS and handshaking). At the limit a worker stops
  // accepting until one of its connections closes; new ones wait in the listen backlog.
  // ingress-nginx's max-worker-connections default; 0 = no limit.
  std::size_t max_connections = 16384;
  debug_endpoints debug = debug_endpoints::loopback;

  // Timeouts (ingress-nginx: proxy-connect-timeout 5s, proxy-read/send-timeout 60s,
  // client-header/body-timeout 60s, keep-alive 75s).
  milliseconds connect_timeout{5000};
  milliseconds read_timeout{60000};
  milliseconds send_timeout{60000};
  milliseconds client_header_timeout{60000};
  milliseconds client_body_timeout{60000};
  milliseconds keepalive_timeout{75000};
  milliseconds tunnel_idle_timeout{3600000};  // idle WebSocket/upgrade tunnels

  std::size_t max_header_bytes = 32 * 1024;  // 431 beyond
  std::size_t max_header_fields = 100;       // 431 beyond; 0 = no cap
  std::uint64_t max_body_bytes = 1024 * 1024;  // 413 beyond (proxy-body-size); 0 = unlimited

  // Request bodies (ingress-nginx proxy-request-buffering on, client-body-buffer-size 8k):
  // the whole body is received before an upstream connection is taken, in memory up to
  // client_body_buffer_size, then in an unnamed file under client_body_temp_path. Off: the
  // body streams to the upstream as it arrives.
  bool proxy_request_buffering = true;
  std::size_t client_body_buffer_size = 8 * 1024;
  std::string client_body_temp_path = "/tmp";
  // A body must keep arriving at this average rate (bytes/s) once client_body_timeout has
  // passed since it started: its deadline is start + client_body_timeout + received / rate
  // (besides client_body_timeout between two reads). 0: no rate floor.
  std::uint64_t client_body_min_rate = 500;
  // Content-Length bodies with 64 KiB or more left are moved socket -> pipe -> socket with
  // splice(2) when both sides are plain TCP (proxy/body_splice.hpp). Off: read and written.
  bool body_splice = true;
  // Keep-alive connections per worker whose session, after an answer, waits for the next
  // request itself for 100-200 ms (no trip through an idle_conn; a few KB each while it
  // waits). The others, and these after the wait, wait in an idle_conn.
  std::size_t warm_waits = 64;

  // Header names with '_' are dropped unless this is on (ingress-nginx
  // enable-underscores-in-headers; nginx underscores_in_headers).
  bool enable_underscores_in_headers = false;
  // Upgrade protocols forwarded to upstreams (any case); other tokens are removed from the
  // request, and a 101 naming another protocol is answered 502.
  std::vector<std::string> upgrade_protocols{"websocket"};
  // HTTP/2 to clients: "h2" offered by ALPN on HTTPS (and the ConfigMap's use-http2), and
  // cleartext HTTP/2 with prior knowledge (h2c) on the plain port.
  bool http2 = true;
  bool h2c = true;

  // Upstream pools, per worker per endpoint.
  std::size_t upstream_keepalive_connections = 320;  // ingress-nginx upstream-keepalive-connections
  milliseconds upstream_keepalive_timeout{60000};
  unsigned max_tries = 3;  // proxy_next_upstream_tries
  unsigned eject_after_failures = 3;  // consecutive failures before ejection
  milliseconds eject_base{5000};      // first ejection; doubles, capped at eject_max
  milliseconds eject_max{60000};

  // Client-sent X-Forwarded-* / X-Real-IP are trusted only from these CIDRs.
  std::vector<std::string> trusted_proxies;

  bool access_log = true;

  // HTTPS responses carry Strict-Transport-Security (ingress-nginx ConfigMap keys hsts,
  // hsts-max-age, hsts-include-subdomains, hsts-preload).
  bool hsts = true;
  std::uint64_t hsts_max_age = 31536000;
  bool hsts_include_subdomains = true;
  bool hsts_preload = false;

  // Shutdown: /healthz fails at once, listeners close after shutdown_delay, in-flight work
  // gets shutdown_grace (worker-shutdown-timeout 240s) to finish.
  milliseconds shutdown_delay{5000};
  milliseconds shutdown_grace{240000};

  // Labels of every ingress-nginx metric.
  std::string controller_namespace = "";
  std::string controller_class = "portico.dev/ingress-controller";
  std::string controller_pod = "";

  // Request metric cardinality, ingress-nginx's flags of the same names (resolved once by
  // proxy/metric_shards.hpp resolve_metric_options).
  bool metrics_per_host = true;             // the `host` label
  bool metrics_per_undefined_host = false;  // default-backend requests of unnamed hosts too
  bool report_status_classes = false;       // status "2xx".."5xx" instead of the code
  std::vector<std::string> exclude_socket_metrics;  // request families not exported
  // Histogram upper bounds (--time-buckets, --length-buckets, --size-buckets), checked by
  // proxy::parse_buckets; unset: ingress-nginx's defaults.
  std::optional<std::vector<double>> time_buckets, length_buckets, size_buckets;

  // Where the data plane's own log lines go (default: stderr, plain).
  log_fn log;
};

// The controller settings these flags give: the defaults a ConfigMap (--configmap) overrides
// and every Snapshot carries (config::controller_config).
config::controller_config settings_from(const server_options& o);

}  // namespace portico::proxy
