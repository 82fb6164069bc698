// Per-worker request metric shards, summed at scrape time.
//
// Each worker_observer owns one worker_shard and is its only writer. A shard holds one
// route_stats block per route label set (namespace, ingress, service, host, path), so counters
// survive Snapshot swaps; a block holds one request_cell per (method, status). Counters are
// std::atomic written by the single writer with a relaxed load + store (a plain mov, no lock
// prefix) and read by the scrape with relaxed loads.
// Structure changes (a new block or cell: rare) happen under shard_set's mutex, which the
// scrape also takes while it sums (not while it writes text); the owning worker reads the
// structure without it, since nobody else writes it.
#pragma once

#include <algorithm>
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

// ingress-nginx's defaults (pkg/flags/flags.go): --time-buckets = prometheus.DefBuckets,
// --length-buckets = prometheus.LinearBuckets(10, 10, 10), --size-buckets =
// prometheus.ExponentialBuckets(10, 10, 7).
inline constexpr std::array<double, 11> default_time_buckets = {0.005, 0.01, 0.025, 0.05, 0.1,
                                                                0.25,  0.5,  1,     2.5,  5, 10};
inline constexpr std::array<double, 10> default_length_buckets = {10, 20, 30, 40, 50,
                                                                  60, 70, 80, 90, 100};
inline constexpr std::array<double, 7> default_size_buckets = {10,     100,    1000, 10000,
                                                               100000, 1e+06, 1e+07};

// A histogram's upper bounds (Prometheus `le`), strictly increasing, without the implicit
// +Inf. Chosen once at start-up (--time-buckets, --length-buckets).
class bucket_bounds {
 public:
  bucket_bounds() = default;
  explicit bucket_bounds(std::vector<double> upper) : upper_(std::move(upper)) {}
  template <std::size_t N>
  explicit bucket_bounds(const std::array<double, N>& a) : upper_(a.begin(), a.end()) {}

  std::size_t size() const noexcept { return upper_.size(); }
  const std::vector<double>& upper() const noexcept { return upper_; }

  // The bucket an observation falls in: the first i with v <= upper[i], size() for +Inf.
  // A linear scan up to 16 bounds (the defaults: 11 and 10; most observations stop at the
  // first bounds), a binary search beyond. observer_bench BM_bucket_index, values spread over
  // the whole range on a loaded 2-core machine: 5.5-8 ns CPU for 11 bounds, 4-5.5 ns for 40;
  // on_request unchanged within noise against the compile-time bounds it replaced.
  std::size_t index(double v) const noexcept {
    const double* b = upper_.data();
    const std::size_t n = upper_.size();
    if (n <= linear_max) {
      std::size_t i = 0;
      while (i < n && v > b[i]) ++i;
      return i;
    }
    return static_cast<std::size_t>(std::lower_bound(b, b + n, v) - b);
  }

 private:
  static constexpr std::size_t linear_max = 16;
  std::vector<double> upper_;
};

// Parses one value of --time-buckets, --length-buckets or --size-buckets as ingress-nginx
// does (a comma-separated list of floats; repeating the flag appends) and checks it as
// client_golang does when it builds the histogram: strictly increasing, a trailing +Inf
// dropped (the +Inf bucket is implicit). Also refused here: an empty item, NaN. Throws
// std::invalid_argument naming `flag` and the offending item.
std::vector<double> parse_buckets(std::string_view flag, const std::vector<std::string>& values);

// Single-writer increment: relaxed load + store, no read-modify-write instruction.
inline void bump(std::atomic<std::uint64_t>& a, std::uint64_t d = 1) noexcept {
  a.store(a.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
}

// One histogram of a request_cell: per-bucket counts (not cumulative; [bounds.size()] is
// +Inf) in the cell's storage, and the sum.
struct histogram_cell {
  std::atomic<std::uint64_t>* counts = nullptr;
  std::atomic<double> sum{0};

  void observe(double v, const bucket_bounds& bounds) noexcept {
    bump(counts[bounds.index(v)]);
    sum.store(sum.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
  }
};

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
// The bucket counts of the six histograms are one array, allocated with the cell.
struct request_cell {
  request_cell(std::uint32_t k, std::size_t time_bounds, std::size_t length_bounds);
  const std::uint32_t key;
  std::atomic<std::uint64_t> requests{0};
  histogram_cell request_duration;   // time buckets; always observed
  histogram_cell response_duration;  // time buckets; when an upstream answered
  histogram_cell connect_duration;   // time buckets; when an upstream connection was made
  histogram_cell header_duration;    // time buckets; when upstream response headers arrived
  histogram_cell request_size;       // length buckets
  histogram_cell response_size;      // length buckets

  // The six histograms' counts, in the order above: the scrape sums them as one array.
  const std::atomic<std::uint64_t>* all_counts() const noexcept { return storage_.get(); }
  std::array<const histogram_cell*, 6> histograms() const noexcept {
    return {&request_duration, &response_duration, &connect_duration,
            &header_duration,  &request_size,      &response_size};
  }

 private:
  std::unique_ptr<std::atomic<std::uint64_t>[]> storage_;
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
  bucket_bounds time_buckets{default_time_buckets};      // the four *_duration_seconds
  bucket_bounds length_buckets{default_length_buckets};  // request_size, response_size

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

// A route label set as the scrape writes it, shared by every worker's block of it. Its
// exposition text is rendered once, when the first block of the set is made (at the latest
// when a worker adopts the Snapshot naming it), never per scrape. ingress-nginx's label order
// (alphabetical) puts method and status between the route's labels, so the text is in two
// parts: `{canary=..,controller_*=..,[host=..,]ingress=..` and
// `namespace=..,path=..,service=..`.
struct label_set {
  route_labels labels;
  std::string key;         // route_labels::key()
  std::uint32_t id = 0;    // its index in shard_set's label sets
  std::string text_head;   // up to and including ingress="...",
  std::string text_tail;   // namespace="...",path="...",service="..."
};

// Which blocks a scrape writes out.
enum class export_rule : std::uint8_t {
  if_live,  // a route's: while a route of the live Snapshot has these labels
  always,   // the built-in default backend's (ingress-nginx never removes those series)
  never,    // requests ingress-nginx does not export (metric_options::hides_undefined_hosts)
};

struct route_stats {
  const label_set* set = nullptr;  // owned by shard_set, never freed before it
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

  // Scrape: sums every shard and appends ingress-nginx's request families and the portico_*
  // gauges to `out` in the Prometheus text format 0.0.4 (proxy/metric_text.cpp). The request
  // series are written from each label set's pre-rendered text.
  void render(std::string& out) const;

 private:
  struct totals;
  const label_set& label_set_for(const route_labels& labels, std::string key);  // under mu_
  void sum_into(totals& t) const;
  void write_request_families(const totals& t, std::string& out) const;
  void gauge_families(const totals& t, std::vector<prometheus::MetricFamily>& out) const;

  controller_labels labels_;
  metric_options options_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<worker_shard>> shards_;
  std::vector<std::unique_ptr<label_set>> label_sets_;  // by label_set::id
  std::unordered_map<std::string_view, const label_set*> label_sets_by_key_;
  mutable std::atomic<std::size_t> last_size_{0};  // of the last render: reserved next time
  std::vector<worker_gauges*> extra_gauges_;
  bool have_live_ = false;
  std::unordered_set<std::string> live_;
};

}  // namespace portico::proxy
