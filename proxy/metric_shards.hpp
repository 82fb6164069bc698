// Per-worker request metric shards, summed at scrape time.
//
// Each worker_observer owns one worker_shard and is its only writer. A shard holds one
// route_stats block per route label set (namespace, ingress, service, host, path), so counters
// survive Snapshot swaps; a block holds one request_cell per (method, status). Counters are
// std::atomic written by the single writer with a relaxed load + store (a plain mov, no lock
// prefix) and read by the scrape with relaxed loads.
// Structure changes (a new block or cell: rare) happen under shard_set's mutex, which the
// scrape also takes; the owning worker reads the structure without it, since nobody else
// writes it.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <prometheus/metric_family.h>

#include "config/snapshot.hpp"
#include "proxy/observe.hpp"
#include "proxy/server_options.hpp"

namespace portico::proxy {

// ingress-nginx's defaults: --time-buckets = prometheus.DefBuckets,
// --length-buckets = prometheus.LinearBuckets(10, 10, 10).
inline constexpr std::array<double, 11> time_buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                        0.5,   1,    2.5,   5,    10};
inline constexpr std::array<double, 10> length_buckets = {10, 20, 30, 40, 50,
                                                          60, 70, 80, 90, 100};

// Single-writer increment: relaxed load + store, no read-modify-write instruction.
inline void bump(std::atomic<std::uint64_t>& a, std::uint64_t d = 1) noexcept {
  a.store(a.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
}

template <std::size_t N>
struct histogram_cell {
  std::array<std::atomic<std::uint64_t>, N + 1> counts{};  // per bucket, not cumulative; [N] = +Inf
  std::atomic<double> sum{0};

  void observe(double v, const std::array<double, N>& bounds) noexcept {
    std::size_t i = 0;
    while (i < N && v > bounds[i]) ++i;
    bump(counts[i]);
    sum.store(sum.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
  }
};

using time_histogram = histogram_cell<time_buckets.size()>;
using length_histogram = histogram_cell<length_buckets.size()>;

// Method names as labels. Unknown methods are reported as "OTHER" so a client cannot create
// unbounded series.
inline constexpr std::array<std::string_view, 10> method_names = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "OTHER"};
unsigned method_index(std::string_view method) noexcept;

// (method, status) as one integer: the per-block table is scanned by it.
inline std::uint32_t cell_key(unsigned method_idx, unsigned status) noexcept {
  return (method_idx << 16) | (status > 999 ? 0u : status);
}

// observer_bench: on_request = 225 instructions, 16-29 ns CPU with one route; 160-180 ns
// with 10,000 routes x 4 statuses visited in turn (cache misses on the cells).
struct request_cell {
  explicit request_cell(std::uint32_t k) : key(k) {}
  const std::uint32_t key;
  std::atomic<std::uint64_t> requests{0};
  time_histogram request_duration;   // always observed
  time_histogram response_duration;  // when an upstream answered
  time_histogram connect_duration;   // when an upstream connection was made
  time_histogram header_duration;    // when upstream response headers arrived
  length_histogram request_size;
  length_histogram response_size;
};

// ingress-nginx's socket request families, in exposition order (without the
// "nginx_ingress_controller_" prefix). Bit i of metric_options::excluded hides entry i.
inline constexpr std::array<std::string_view, 7> request_family_names = {
    "requests",         "request_duration_seconds", "response_duration_seconds",
    "connect_duration_seconds", "header_duration_seconds", "request_size", "response_size"};

// The operator's cardinality switches, resolved once at start-up (ingress-nginx's
// --metrics-per-host, --metrics-per-undefined-host, --report-status-classes,
// --exclude-socket-metrics). They choose label sets when a Snapshot is adopted and what the
// scrape writes; a routed request reads none of them (one without a route reads per_host and
// hides_undefined_hosts() to pick its block: worker_observer).
struct metric_options {
  bool per_host = true;             // the `host` label; off: no such label, hosts merged
  bool per_undefined_host = false;  // default-backend requests for hosts no rule names: exported
  bool status_classes = false;      // status "2xx".."5xx" instead of the code
  std::uint8_t excluded = 0;        // bit per request_family_names entry: not exported

  bool family_excluded(std::size_t i) const { return (excluded >> i) & 1u; }
  // Default-backend requests for hosts no rule names are counted but never exported (only
  // in nginx_process_requests_total), as ingress-nginx's socket collector skips them.
  bool hides_undefined_hosts() const { return per_host && !per_undefined_host; }
};

// Checks and resolves the switches of `o`. Throws std::invalid_argument for
// --metrics-per-undefined-host without --metrics-per-host (ingress-nginx refuses it too).
// Excluded names may carry the "nginx_ingress_controller_" prefix or not; names that are no
// socket metric of ingress-nginx are accepted and ignored, as ingress-nginx does, and listed in
// `ignored` when given (ingress-nginx's bytes_sent and ingress_upstream_latency_seconds are
// known but not exported by Portico: not listed).
metric_options resolve_metric_options(const server_options& o,
                                      std::vector<std::string>* ignored = nullptr);

struct route_labels {
  std::string namespace_name;
  std::string ingress;
  std::string service;
  std::string host;
  std::string path;
  std::string canary;  // the canary's upstream name for requests its canary served, else ""

  // The labels of the requests a route serves; host "" when !per_host (no host label).
  static route_labels of(const config::route& r, bool per_host);
  // The labels of the requests the route's canary served (r.canary non-null).
  static route_labels of_canary(const config::route& r, bool per_host);
  // The built-in default backend's: every route label empty but the host.
  static route_labels of_default_backend(std::string_view host);
  std::string key() const;                          // the fields joined by '\0'
};

// Which blocks a scrape writes out.
enum class export_rule : std::uint8_t {
  if_live,  // a route's: while a route of the live Snapshot has these labels
  always,   // the built-in default backend's (ingress-nginx never removes those series)
  never,    // requests ingress-nginx does not export (metric_options::hides_undefined_hosts)
};

struct route_stats {
  route_labels labels;
  std::string key;
  export_rule exported = export_rule::if_live;
  // Parallel arrays; append-only under shard_set's mutex. keys[i] == cells[i]->key.
  std::vector<std::uint32_t> keys;
  std::vector<std::unique_ptr<request_cell>> cells;

  // Owning worker only. Hot path: a scan of a few integers.
  request_cell* find(std::uint32_t k) const noexcept {
    for (std::size_t i = 0, n = keys.size(); i < n; ++i)
      if (keys[i] == k) return cells[i].get();
    return nullptr;
  }
};

struct worker_shard {
  worker_gauges gauges;
  std::unordered_map<std::string, std::unique_ptr<route_stats>> routes;  // by route_labels::key
};

// Labels every ingress-nginx metric carries.
struct controller_labels {
  std::string controller_namespace;
  std::string controller_class;
  std::string controller_pod;
};

class shard_set {
 public:
  explicit shard_set(controller_labels labels, metric_options options = {});
  const controller_labels& labels() const { return labels_; }
  const metric_options& options() const { return options_; }

  // A new shard for one worker_observer. Shards live as long as the set, so counters outlive
  // the observer that wrote them.
  worker_shard& add_shard();
  void add_gauges(worker_gauges* g);

  // Owning worker only: the block for a label set, created (under the mutex) when missing.
  // `rule` is taken when the block is created.
  route_stats& stats_for(worker_shard& shard, const route_labels& labels,
                         export_rule rule = export_rule::if_live);
  // Owning worker only: a new cell in `rs` (under the mutex).
  request_cell& add_cell(route_stats& rs, std::uint32_t key);

  // Control thread: the label sets of the live Snapshot (see metrics_registry::on_publish).
  void set_live_routes(const config::snapshot& snap);

  // Scrape: sums every shard into the ingress-nginx request families and the portico_*
  // gauges.
  std::vector<prometheus::MetricFamily> collect() const;

 private:
  struct totals;
  void sum_into(totals& t) const;
  void request_families(const totals& t, std::vector<prometheus::MetricFamily>& out) const;
  void gauge_families(const totals& t, std::vector<prometheus::MetricFamily>& out) const;

  controller_labels labels_;
  metric_options options_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<worker_shard>> shards_;
  std::vector<worker_gauges*> extra_gauges_;
  bool have_live_ = false;
  std::unordered_set<std::string> live_;
};

}  // namespace portico::proxy
