#include "proxy/metric_shards.hpp"

#include <limits>
#include <map>
#include <stdexcept>
#include <utility>

namespace portico::proxy {

namespace {

constexpr auto relaxed = std::memory_order_relaxed;

template <std::size_t N>
struct histogram_total {
  std::array<std::uint64_t, N + 1> counts{};
  double sum = 0;

  void add(const histogram_cell<N>& h) {
    for (std::size_t i = 0; i <= N; ++i) counts[i] += h.counts[i].load(relaxed);
    sum += h.sum.load(relaxed);
  }
  std::uint64_t count() const {
    std::uint64_t n = 0;
    for (auto c : counts) n += c;
    return n;
  }
};

struct cell_total {
  std::uint64_t requests = 0;
  histogram_total<time_buckets.size()> request_duration, response_duration, connect_duration,
      header_duration;
  histogram_total<length_buckets.size()> request_size, response_size;

  void add(const request_cell& c) {
    requests += c.requests.load(relaxed);
    request_duration.add(c.request_duration);
    response_duration.add(c.response_duration);
    connect_duration.add(c.connect_duration);
    header_duration.add(c.header_duration);
    request_size.add(c.request_size);
    response_size.add(c.response_size);
  }
};

prometheus::MetricFamily family(std::string name, std::string help, prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

template <std::size_t N>
void add_histogram(prometheus::MetricFamily& f, const std::vector<prometheus::ClientMetric::Label>& labels,
                   const histogram_total<N>& h, const std::array<double, N>& bounds) {
  std::uint64_t total = h.count();
  if (total == 0) return;  // like a Prometheus vector: no series until the first observation
  prometheus::ClientMetric m;
  m.label = labels;
  m.histogram.sample_count = total;
  m.histogram.sample_sum = h.sum;
  std::uint64_t cumulative = 0;
  m.histogram.bucket.reserve(N + 1);
  for (std::size_t i = 0; i < N; ++i) {
    cumulative += h.counts[i];
    m.histogram.bucket.push_back({cumulative, bounds[i]});
  }
  m.histogram.bucket.push_back({total, std::numeric_limits<double>::infinity()});
  f.metric.push_back(std::move(m));
}

// A cell key as exported: with status classes, the status part becomes
// status_class_base + the first digit, so 200 and 204 sum into one series.
constexpr std::uint32_t status_class_base = 1000;  // above every code cell_key keeps

std::uint32_t exported_key(std::uint32_t key, bool status_classes) {
  std::uint32_t status = key & 0xffff;
  if (!status_classes || status == 0) return key;
  return (key & ~0xffffu) | (status_class_base + status / 100);
}

std::string status_text(std::uint32_t key) {
  unsigned status = key & 0xffff;
  if (status == 0) return "-";
  if (status >= status_class_base) return std::to_string(status - status_class_base) + "xx";
  return std::to_string(status);
}

constexpr std::string_view family_prefix = "nginx_ingress_controller_";

}  // namespace

unsigned method_index(std::string_view m) noexcept {
  switch (m.size()) {
    case 3:
      if (m == "GET") return 0;
      if (m == "PUT") return 3;
      break;
    case 4:
      if (m == "HEAD") return 1;
      if (m == "POST") return 2;
      break;
    case 5:
      if (m == "TRACE") return 7;
      if (m == "PATCH") return 8;
      break;
    case 6:
      if (m == "DELETE") return 4;
      break;
    case 7:
      if (m == "CONNECT") return 5;
      if (m == "OPTIONS") return 6;
      break;
    default:
      break;
  }
  return 9;
}

metric_options resolve_metric_options(const server_options& o, std::vector<std::string>* ignored) {
  if (o.metrics_per_undefined_host && !o.metrics_per_host)
    throw std::invalid_argument(
        "--metrics-per-undefined-host=true must be passed with --metrics-per-host=true");
  metric_options m;
  m.per_host = o.metrics_per_host;
  m.per_undefined_host = o.metrics_per_undefined_host;
  m.status_classes = o.report_status_classes;
  for (const std::string& written : o.exclude_socket_metrics) {
    std::string_view name = written;
    if (name.starts_with(family_prefix)) name.remove_prefix(family_prefix.size());
    bool known = false;
    for (std::size_t i = 0; i < request_family_names.size(); ++i) {
      if (request_family_names[i] != name) continue;
      m.excluded |= static_cast<std::uint8_t>(1u << i);
      known = true;
    }
    // ingress-nginx's deprecated socket families, which Portico does not export.
    if (name == "bytes_sent" || name == "ingress_upstream_latency_seconds") known = true;
    if (!known && ignored != nullptr) ignored->push_back(written);
  }
  return m;
}

route_labels route_labels::of(const config::route& r, bool per_host) {
  return {r.namespace_name, r.ingress_name, r.service_name, per_host ? r.host : std::string(),
          r.path};
}

route_labels route_labels::of_canary(const config::route& r, bool per_host) {
  route_labels l = of(r, per_host);
  l.canary = r.canary ? r.canary->upstream_name : std::string();
  return l;
}

route_labels route_labels::of_default_backend(std::string_view host) {
  route_labels l;
  l.host = host;
  return l;
}

std::string route_labels::key() const {
  std::string k;
  k.reserve(namespace_name.size() + ingress.size() + service.size() + host.size() +
            path.size() + canary.size() + 5);
  for (const std::string* s : {&namespace_name, &ingress, &service, &host, &path, &canary}) {
    k += *s;
    k += '\0';
  }
  k.pop_back();
  return k;
}

struct shard_set::totals {
  std::map<std::string, const route_labels*> labels;  // by key; points into the shards
  std::map<std::pair<std::string, std::uint32_t>, cell_total> cells;
  std::int64_t client_connections = 0, tunnels = 0, pooled = 0, ejected = 0;
  std::int64_t accept_errors = 0, accept_paused = 0;
  std::uint64_t all_requests = 0;  // also of routes no longer exported
};

shard_set::shard_set(controller_labels labels, metric_options options)
    : labels_(std::move(labels)), options_(options) {}

worker_shard& shard_set::add_shard() {
  std::lock_guard lock(mu_);
  shards_.push_back(std::make_unique<worker_shard>());
  return *shards_.back();
}

void shard_set::add_gauges(worker_gauges* g) {
  std::lock_guard lock(mu_);
  extra_gauges_.push_back(g);
}

route_stats& shard_set::stats_for(worker_shard& shard, const route_labels& labels,
                                  export_rule rule) {
  std::string key = labels.key();
  if (auto it = shard.routes.find(key); it != shard.routes.end()) return *it->second;
  auto rs = std::make_unique<route_stats>();
  rs->labels = labels;
  rs->key = key;
  rs->exported = rule;
  std::lock_guard lock(mu_);
  return *shard.routes.emplace(std::move(key), std::move(rs)).first->second;
}

request_cell& shard_set::add_cell(route_stats& rs, std::uint32_t key) {
  auto cell = std::make_unique<request_cell>(key);
  std::lock_guard lock(mu_);
  rs.keys.push_back(key);
  rs.cells.push_back(std::move(cell));
  return *rs.cells.back();
}

void shard_set::set_live_routes(const config::snapshot& snap) {
  std::unordered_set<std::string> live;
  live.reserve(snap.routes().size());
  for (const auto& r : snap.routes()) {
    live.insert(route_labels::of(*r, options_.per_host).key());
    if (r->canary) live.insert(route_labels::of_canary(*r, options_.per_host).key());
  }
  std::lock_guard lock(mu_);
  live_ = std::move(live);
  have_live_ = true;
}

void shard_set::sum_into(totals& t) const {
  auto add_gauges = [&t](const worker_gauges& g) {
    t.client_connections += g.client_connections.load(relaxed);
    t.tunnels += g.tunnels.load(relaxed);
    t.pooled += g.pooled_upstream_connections.load(relaxed);
    t.ejected += g.ejected_endpoints.load(relaxed);
    t.accept_errors += g.accept_errors.load(relaxed);
    t.accept_paused += g.accept_paused.load(relaxed);
  };
  for (const auto& shard : shards_) {
    add_gauges(shard->gauges);
    for (const auto& [key, rs] : shard->routes) {
      for (const auto& cell : rs->cells) t.all_requests += cell->requests.load(relaxed);
      if (rs->exported == export_rule::never) continue;
      if (rs->exported == export_rule::if_live && have_live_ && !live_.contains(key)) continue;
      t.labels.emplace(key, &rs->labels);
      for (const auto& cell : rs->cells)
        t.cells[{key, exported_key(cell->key, options_.status_classes)}].add(*cell);
    }
  }
  for (const worker_gauges* g : extra_gauges_) add_gauges(*g);
}

// One series per (route label set, method, status) in each of ingress-nginx's 7 families,
// less the excluded ones.
void shard_set::request_families(const totals& t, std::vector<prometheus::MetricFamily>& out) const {
  using prometheus::MetricType;
  std::size_t first = out.size();
  const std::string ns(family_prefix);
  // request_family_names order.
  const std::array<const char*, request_family_names.size()> help = {
      "The total number of client requests",
      "The request processing time in seconds",
      "The time spent on receiving the response from the upstream server",
      "The time spent on establishing a connection with the upstream server",
      "The time spent on receiving first header from the upstream server",
      "The request length (including request line, header, and request body)",
      "The response length (including request line, header, and request body)",
  };
  for (std::size_t i = 0; i < request_family_names.size(); ++i)
    out.push_back(family(ns + std::string(request_family_names[i]), help[i],
                         i == 0 ? MetricType::Counter : MetricType::Histogram));

  const metric_options& o = options_;
  for (const auto& [id, c] : t.cells) {
    const route_labels& rl = *t.labels.at(id.first);
    std::vector<prometheus::ClientMetric::Label> labels = {
        {"canary", rl.canary},
        {"controller_class", labels_.controller_class},
        {"controller_namespace", labels_.controller_namespace},
        {"controller_pod", labels_.controller_pod},
    };
    // Without per-host metrics the label is absent, as in ingress-nginx (not host="").
    if (o.per_host) labels.push_back({"host", rl.host});
    labels.insert(labels.end(), {{"ingress", rl.ingress},
                                 {"method", std::string(method_names[id.second >> 16])},
                                 {"namespace", rl.namespace_name},
                                 {"path", rl.path},
                                 {"service", rl.service},
                                 {"status", status_text(id.second)}});
    if (!o.family_excluded(0)) {
      prometheus::ClientMetric requests;
      requests.label = labels;
      requests.counter.value = static_cast<double>(c.requests);
      out[first].metric.push_back(std::move(requests));
    }
    auto histogram = [&](std::size_t i, const auto& h, const auto& bounds) {
      if (!o.family_excluded(i)) add_histogram(out[first + i], labels, h, bounds);
    };
    histogram(1, c.request_duration, time_buckets);
    histogram(2, c.response_duration, time_buckets);
    histogram(3, c.connect_duration, time_buckets);
    histogram(4, c.header_duration, time_buckets);
    histogram(5, c.request_size, length_buckets);
    histogram(6, c.response_size, length_buckets);
  }
  // Excluded families are not declared either.
  for (std::size_t i = request_family_names.size(); i-- > 0;)
    if (o.family_excluded(i)) out.erase(out.begin() + static_cast<std::ptrdiff_t>(first + i));
}

void shard_set::gauge_families(const totals& t, std::vector<prometheus::MetricFamily>& out) const {
  using prometheus::MetricType;
  const std::string ns = "nginx_ingress_controller_";
  std::vector<prometheus::ClientMetric::Label> controller = {
      {"controller_class", labels_.controller_class},
      {"controller_namespace", labels_.controller_namespace},
      {"controller_pod", labels_.controller_pod},
  };
  auto one = [&](const std::string& name, const char* help, MetricType type, double v,
                 std::vector<prometheus::ClientMetric::Label> extra = {}) {
    prometheus::MetricFamily f = family(name, help, type);
    prometheus::ClientMetric m;
    m.label = controller;
    m.label.insert(m.label.end(), extra.begin(), extra.end());
    (type == MetricType::Counter ? m.counter.value : m.gauge.value) = v;
    f.metric.push_back(std::move(m));
    out.push_back(std::move(f));
  };
  auto gauge = [&](const char* name, const char* help, std::int64_t v) {
    one(name, help, MetricType::Gauge, static_cast<double>(v));
  };
  // What ingress-nginx's nginx_status collector reports, for its dashboards.
  one(ns + "nginx_process_connections",
      "current number of client connections with state {active, reading, writing, waiting}",
      MetricType::Gauge, static_cast<double>(t.client_connections), {{"state", "active"}});
  one(ns + "nginx_process_requests_total", "total number of client requests",
      MetricType::Counter, static_cast<double>(t.all_requests));
  gauge("portico_client_connections", "Open client connections, all workers", t.client_connections);
  gauge("portico_tunnels", "Open upgrade (WebSocket) tunnels, all workers", t.tunnels);
  gauge("portico_pooled_upstream_connections", "Idle upstream connections held in the pools",
        t.pooled);
  gauge("portico_ejected_endpoints", "Endpoints currently ejected by passive health checks",
        t.ejected);
  one("portico_accept_errors_total",
      "Failed accepts on every listener (e.g. out of file descriptors); each pauses that "
      "listener for 10-100 ms",
      MetricType::Counter, static_cast<double>(t.accept_errors));
  gauge("portico_accept_paused",
        "Listeners not accepting now: backing off after a failed accept, or their worker is "
        "at --max-connections",
        t.accept_paused);
}

std::vector<prometheus::MetricFamily> shard_set::collect() const {
  totals t;
  {
    // Only the sum needs the lock; the label sets it points to are never freed or changed.
    std::lock_guard lock(mu_);
    sum_into(t);
  }

  std::vector<prometheus::MetricFamily> out;
  out.reserve(15);
  request_families(t, out);
  gauge_families(t, out);
  return out;
}

}  // namespace portico::proxy
