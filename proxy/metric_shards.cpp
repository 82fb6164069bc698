#include "proxy/metric_shards.hpp"

#include <limits>
#include <map>
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

std::string status_text(std::uint32_t key) {
  unsigned status = key & 0xffff;
  return status == 0 ? std::string("-") : std::to_string(status);
}

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

route_labels route_labels::of(const config::route* r) {
  if (r == nullptr) return {};
  return {r->namespace_name, r->ingress_name, r->service_name, r->host, r->path};
}

route_labels route_labels::of_canary(const config::route& r) {
  route_labels l = of(&r);
  l.canary = r.canary ? r.canary->upstream_name : std::string();
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

shard_set::shard_set(controller_labels labels) : labels_(std::move(labels)) {}

worker_shard& shard_set::add_shard() {
  std::lock_guard lock(mu_);
  shards_.push_back(std::make_unique<worker_shard>());
  return *shards_.back();
}

void shard_set::add_gauges(worker_gauges* g) {
  std::lock_guard lock(mu_);
  extra_gauges_.push_back(g);
}

route_stats& shard_set::stats_for(worker_shard& shard, const route_labels& labels) {
  std::string key = labels.key();
  if (auto it = shard.routes.find(key); it != shard.routes.end()) return *it->second;
  auto rs = std::make_unique<route_stats>();
  rs->labels = labels;
  rs->key = key;
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
  live.reserve(snap.routes().size() + 1);
  live.insert(route_labels{}.key());  // the built-in default backend is always live
  for (const auto& r : snap.routes()) {
    live.insert(route_labels::of(r.get()).key());
    if (r->canary) live.insert(route_labels::of_canary(*r).key());
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
      if (have_live_ && !live_.contains(key)) continue;
      t.labels.emplace(key, &rs->labels);
      for (const auto& cell : rs->cells) t.cells[{key, cell->key}].add(*cell);
    }
  }
  for (const worker_gauges* g : extra_gauges_) add_gauges(*g);
}

// One series per (route label set, method, status) in each of ingress-nginx's 7 families.
void shard_set::request_families(const totals& t, std::vector<prometheus::MetricFamily>& out) const {
  using prometheus::MetricType;
  std::size_t first = out.size();
  const std::string ns = "nginx_ingress_controller_";
  out.push_back(family(ns + "requests", "The total number of client requests", MetricType::Counter));
  out.push_back(family(ns + "request_duration_seconds", "The request processing time in seconds",
                       MetricType::Histogram));
  out.push_back(family(ns + "response_duration_seconds",
                       "The time spent on receiving the response from the upstream server",
                       MetricType::Histogram));
  out.push_back(family(ns + "connect_duration_seconds",
                       "The time spent on establishing a connection with the upstream server",
                       MetricType::Histogram));
  out.push_back(family(ns + "header_duration_seconds",
                       "The time spent on receiving first header from the upstream server",
                       MetricType::Histogram));
  out.push_back(family(ns + "request_size",
                       "The request length (including request line, header, and request body)",
                       MetricType::Histogram));
  out.push_back(family(ns + "response_size",
                       "The response length (including request line, header, and request body)",
                       MetricType::Histogram));

  for (const auto& [id, c] : t.cells) {
    const route_labels& rl = *t.labels.at(id.first);
    std::vector<prometheus::ClientMetric::Label> labels = {
        {"canary", rl.canary},
        {"controller_class", labels_.controller_class},
        {"controller_namespace", labels_.controller_namespace},
        {"controller_pod", labels_.controller_pod},
        {"host", rl.host},
        {"ingress", rl.ingress},
        {"method", std::string(method_names[id.second >> 16])},
        {"namespace", rl.namespace_name},
        {"path", rl.path},
        {"service", rl.service},
        {"status", status_text(id.second)},
    };
    prometheus::ClientMetric requests;
    requests.label = labels;
    requests.counter.value = static_cast<double>(c.requests);
    out[first].metric.push_back(std::move(requests));
    add_histogram(out[first + 1], labels, c.request_duration, time_buckets);
    add_histogram(out[first + 2], labels, c.response_duration, time_buckets);
    add_histogram(out[first + 3], labels, c.connect_duration, time_buckets);
    add_histogram(out[first + 4], labels, c.header_duration, time_buckets);
    add_histogram(out[first + 5], labels, c.request_size, length_buckets);
    add_histogram(out[first + 6], labels, c.response_size, length_buckets);
  }
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
