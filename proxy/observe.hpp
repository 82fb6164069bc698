// The seam between the request path and what watches it (metrics and the access log).
// Each worker owns one worker_observer and calls it only from its own thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include "config/snapshot.hpp"
#include "proxy/server_options.hpp"

namespace portico::proxy {

// Everything known about one finished request. Views are valid only during on_request().
struct request_record {
  const config::route* route = nullptr;  // null: built-in default backend (or a 4xx before routing)
  std::string_view host;         // Host without port, as sent
  std::string_view method;
  std::string_view target;       // request target as sent (path + query)
  std::string_view remote_addr;  // client address (after trusted X-Forwarded-For)
  std::string_view request_id;
  std::string_view upstream_addr;  // "ip:port" of the last endpoint tried, empty if none
  std::string_view canary;         // the canary's upstream name when the canary served it
  bool http2 = false;              // the request came on an HTTP/2 stream
  // The protocol spoken to the upstream ("HTTP/1.1", "HTTP/1.0", "h2c", "h2"); empty if none.
  std::string_view upstream_protocol;
  unsigned status = 0;             // status sent to the client
  unsigned upstream_status = 0;    // 0 when no upstream answered
  std::uint64_t request_bytes = 0;   // request line + headers + body as received
  std::uint64_t response_bytes = 0;  // status line + headers + body as sent
  double request_seconds = 0;        // first request byte to last response byte
  double upstream_connect_seconds = -1;   // -1: no upstream connection made for this request
  double upstream_header_seconds = -1;    // request sent start -> response header received
  double upstream_response_seconds = -1;  // request sent start -> response fully received
  std::chrono::system_clock::time_point start;
};

// Gauges the request path keeps per worker; written by the worker with relaxed stores, read
// at scrape time.
struct worker_gauges {
  std::atomic<std::int64_t> client_connections{0};
  std::atomic<std::int64_t> tunnels{0};
  std::atomic<std::int64_t> http2_connections{0};  // also counted in client_connections
  std::atomic<std::int64_t> http2_streams{0};      // HTTP/2 requests being served
  std::atomic<std::int64_t> http2_requests{0};     // a counter: requests that came on HTTP/2
  // Counters: requests sent to an upstream over HTTP/1.x, h2c (GRPC), h2 over TLS (GRPCS).
  std::atomic<std::int64_t> upstream_http1_requests{0};
  std::atomic<std::int64_t> upstream_h2c_requests{0};
  std::atomic<std::int64_t> upstream_h2_requests{0};
  std::atomic<std::int64_t> pooled_upstream_connections{0};
  std::atomic<std::int64_t> ejected_endpoints{0};
  std::atomic<std::int64_t> accept_errors{0};  // a counter: failed accept() calls
  std::atomic<std::int64_t> accept_paused{0};  // listeners not accepting now (back-off, full)
  // Counters of HTTPRoute RequestMirror copies (proxy/mirror.hpp): answered by the mirror,
  // failed (no endpoint, connect, write, timeout, no answer), skipped (body not whole in
  // memory or too large, too many copies in flight).
  std::atomic<std::int64_t> mirror_answered{0};
  std::atomic<std::int64_t> mirror_failed{0};
  std::atomic<std::int64_t> mirror_skipped{0};
};

// Updates a worker_gauges member from its owning worker, the only writer: a relaxed load and
// store (plain movs) instead of a locked read-modify-write. Readers use relaxed loads.
inline void gauge_add(std::atomic<std::int64_t>& g, std::int64_t d) noexcept {
  g.store(g.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
}

class metrics_registry;  // proxy/metrics.hpp: the process-wide registry (control thread)

class worker_observer {
 public:
  worker_observer(metrics_registry& reg, const server_options& opts, unsigned worker_index);
  ~worker_observer();
  worker_observer(const worker_observer&) = delete;
  worker_observer& operator=(const worker_observer&) = delete;

  // Called on the worker when it adopts a new Snapshot: resolves per-route metric handles
  // (by route index) so on_request does no lookup by labels.
  void on_snapshot(const config::snapshot& snap);
  void on_request(const request_record& rec);
  // Writes buffered access-log lines (called by the worker on a short timer and at exit).
  void flush();

  worker_gauges& gauges();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace portico::proxy
