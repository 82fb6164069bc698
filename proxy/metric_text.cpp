// The scrape side of shard_set: every shard summed under the mutex, then ingress-nginx's
// request families written as Prometheus text (format 0.0.4) from the label sets'
// pre-rendered text, and the gauges through prometheus-cpp's serializer.
//
// bench/metrics_scrape.py, 2,000 route label sets with traffic (45.7 MB of text), process CPU
// per scrape: ~790 ms when every series was a prometheus::ClientMetric serialized through an
// ostream, ~26 ms now (text written from pre-rendered labels into a recycled buffer).
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <sstream>
#include <utility>

#include "proxy/metric_shards.hpp"

namespace portico::proxy {

namespace {

constexpr auto relaxed = std::memory_order_relaxed;
constexpr std::size_t histogram_count = 6;  // request_family_names[1..6]

// A cell key as exported: with status classes, the status part becomes
// status_class_base + the first digit, so 200 and 204 sum into one series.
constexpr std::uint32_t status_class_base = 1000;  // above every code cell_key keeps

std::uint32_t exported_key(std::uint32_t key, bool status_classes) {
  std::uint32_t status = key & 0xffff;
  if (!status_classes || status == 0) return key;
  return (key & ~0xffffu) | (status_class_base + status / 100);
}

void append_status(std::string& out, std::uint32_t key) {
  unsigned status = key & 0xffff;
  if (status == 0) {
    out += '-';
    return;
  }
  if (status >= status_class_base) {
    out += std::to_string(status - status_class_base);
    out += "xx";
    return;
  }
  out += std::to_string(status);
}

// A double as prometheus-cpp's TextSerializer writes it (an ostream in the classic locale
// with precision max_digits10 - 1 = 16, i.e. printf's %.16g), so that the text is the same
// as before and the same as the gauges beside it.
void append_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "Nan";
  } else if (std::isinf(v)) {
    out += v < 0 ? "-Inf" : "+Inf";
  } else {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 16);
    out.append(buf, r.ptr);
  }
}

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// `,le="<bound>"} ` per bound, then the +Inf one.
std::vector<std::string> le_texts(const bucket_bounds& b) {
  std::vector<std::string> out;
  for (double u : b.upper()) {
    std::string s = ",le=\"";
    append_double(s, u);
    s += "\"} ";
    out.push_back(std::move(s));
  }
  out.push_back(",le=\"+Inf\"} ");
  return out;
}

constexpr std::string_view family_prefix = "nginx_ingress_controller_";

// request_family_names order.
constexpr std::array<std::string_view, request_family_names.size()> family_help = {
    "The total number of client requests",
    "The request processing time in seconds",
    "The time spent on receiving the response from the upstream server",
    "The time spent on establishing a connection with the upstream server",
    "The time spent on receiving first header from the upstream server",
    "The request length (including request line, header, and request body)",
    "The response length (including request line, header, and request body)",
};

prometheus::MetricFamily family(std::string name, std::string help, prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

// Sums of one exported series, (label set, method, status), over every shard.
struct series_total {
  std::uint32_t key = 0;  // exported cell key
  std::size_t at = 0;     // its bucket counts in shard_set::totals::counts, as a request_cell's
  std::uint64_t requests = 0;
  std::array<double, histogram_count> sums{};
};

// One exported series and its labels as written between the braces.
struct series_row {
  const series_total* series;
  std::string labels;
};

}  // namespace

struct shard_set::totals {
  using series = series_total;
  std::vector<const label_set*> sets;         // every label set, by id
  std::vector<std::vector<series>> by_set;    // by label_set id
  std::vector<std::uint64_t> counts;
  std::size_t stride = 0;                     // counts per series
  std::int64_t client_connections = 0, tunnels = 0, pooled = 0, ejected = 0;
  std::int64_t http2_connections = 0, http2_streams = 0, http2_requests = 0;
  std::int64_t upstream_http1 = 0, upstream_h2c = 0, upstream_h2 = 0;
  std::int64_t accept_errors = 0, accept_paused = 0;
  std::int64_t mirror_answered = 0, mirror_failed = 0, mirror_skipped = 0;
  std::uint64_t all_requests = 0;  // also of routes no longer exported

  series& find(std::uint32_t set_id, std::uint32_t key) {
    std::vector<series>& list = by_set[set_id];
    for (series& s : list)
      if (s.key == key) return s;
    list.push_back({key, counts.size()});
    counts.resize(counts.size() + stride);
    return list.back();
  }
};

// Under mu_. Work proportional to the blocks and cells; no string is built or hashed but
// for a label set's first look-up in live_ (once per set and scrape).
void shard_set::sum_into(totals& t) const {
  auto add_gauges = [&t](const worker_gauges& g) {
    t.client_connections += g.client_connections.load(relaxed);
    t.tunnels += g.tunnels.load(relaxed);
    t.http2_connections += g.http2_connections.load(relaxed);
    t.http2_streams += g.http2_streams.load(relaxed);
    t.http2_requests += g.http2_requests.load(relaxed);
    t.upstream_http1 += g.upstream_http1_requests.load(relaxed);
    t.upstream_h2c += g.upstream_h2c_requests.load(relaxed);
    t.upstream_h2 += g.upstream_h2_requests.load(relaxed);
    t.pooled += g.pooled_upstream_connections.load(relaxed);
    t.ejected += g.ejected_endpoints.load(relaxed);
    t.accept_errors += g.accept_errors.load(relaxed);
    t.accept_paused += g.accept_paused.load(relaxed);
    t.mirror_answered += g.mirror_answered.load(relaxed);
    t.mirror_failed += g.mirror_failed.load(relaxed);
    t.mirror_skipped += g.mirror_skipped.load(relaxed);
  };
  t.sets.reserve(label_sets_.size());
  for (const auto& set : label_sets_) t.sets.push_back(set.get());
  t.by_set.resize(label_sets_.size());
  t.stride = 4 * (options_.time_buckets.size() + 1) + 2 * (options_.length_buckets.size() + 1);
  std::vector<std::int8_t> live(label_sets_.size(), -1);  // -1: not looked up yet
  auto is_live = [&](const label_set& set) {
    std::int8_t& l = live[set.id];
    if (l < 0) l = (!have_live_ || live_.contains(set.key)) ? 1 : 0;
    return l == 1;
  };
  for (const auto& shard : shards_) {
    add_gauges(shard->gauges);
    for (const auto& [key, rs] : shard->routes) {
      for (const auto& cell : rs->cells) t.all_requests += cell->requests.load(relaxed);
      if (rs->exported == export_rule::never) continue;
      if (rs->exported == export_rule::if_live && !is_live(*rs->set)) continue;
      for (const auto& cell : rs->cells) {
        series_total& s = t.find(rs->set->id, exported_key(cell->key, options_.status_classes));
        s.requests += cell->requests.load(relaxed);
        const std::atomic<std::uint64_t>* from = cell->all_counts();
        std::uint64_t* to = t.counts.data() + s.at;
        for (std::size_t i = 0; i < t.stride; ++i) to[i] += from[i].load(relaxed);
        const auto hs = cell->histograms();
        for (std::size_t h = 0; h < histogram_count; ++h) s.sums[h] += hs[h]->sum.load(relaxed);
      }
    }
  }
  for (const worker_gauges* g : extra_gauges_) add_gauges(*g);
}

// The rows in the order they are written: label sets by key, then method and status. A
// row's label text is the label set's pre-rendered text with method and status put in.
template <typename Totals>
static std::vector<series_row> series_rows(const Totals& t) {
  std::vector<const label_set*> order;
  for (std::size_t id = 0; id < t.by_set.size(); ++id)
    if (!t.by_set[id].empty()) order.push_back(t.sets[id]);
  std::sort(order.begin(), order.end(),
            [](const label_set* a, const label_set* b) { return a->key < b->key; });
  std::vector<series_row> rows;
  for (const label_set* set : order) {
    std::vector<const series_total*> list;
    for (const auto& s : t.by_set[set->id]) list.push_back(&s);
    std::sort(list.begin(), list.end(), [](auto* a, auto* b) { return a->key < b->key; });
    for (const auto* s : list) {
      std::string l = set->text_head;
      l += "method=\"";
      l += method_names[s->key >> 16];
      l += "\",";
      l += set->text_tail;
      l += ",status=\"";
      append_status(l, s->key);
      l += '"';
      rows.push_back({s, std::move(l)});
    }
  }
  return rows;
}

// One series per (route label set, method, status) in each of ingress-nginx's 7 families,
// less the excluded ones. A histogram without observations has no series (as a Prometheus
// vector before its first observation).
void shard_set::write_request_families(const totals& t, std::string& out) const {
  const std::vector<series_row> rows = series_rows(t);
  const std::array<std::vector<std::string>, 2> le = {le_texts(options_.time_buckets),
                                                       le_texts(options_.length_buckets)};
  for (std::size_t f = 0; f < request_family_names.size(); ++f) {
    if (options_.family_excluded(f)) continue;  // not declared either
    std::string name(family_prefix);
    name += request_family_names[f];
    out += "# HELP " + name + " " + std::string(family_help[f]) + "\n";
    out += "# TYPE " + name + (f == 0 ? " counter\n" : " histogram\n");
    if (f == 0) {
      for (const series_row& r : rows) {
        out += name;
        out += '{';
        out += r.labels;
        out += "} ";
        append_double(out, static_cast<double>(r.series->requests));
        out += '\n';
      }
      continue;
    }
    const std::size_t h = f - 1;
    const std::vector<std::string>& les = le[h < 4 ? 0 : 1];
    // The histogram's counts within a series' stride.
    const std::size_t offset = h < 4 ? h * les.size() : 4 * le[0].size() + (h - 4) * les.size();
    for (const series_row& r : rows) {
      const series_total& s = *r.series;
      const std::uint64_t* c = t.counts.data() + s.at + offset;
      std::uint64_t total = 0;
      for (std::size_t i = 0; i < les.size(); ++i) total += c[i];
      if (total == 0) continue;
      auto head = [&](std::string_view suffix) {
        out += name;
        out += suffix;
        out += '{';
        out += r.labels;
      };
      head("_count");
      out += "} ";
      append_uint(out, total);
      out += '\n';
      head("_sum");
      out += "} ";
      append_double(out, s.sums[h]);
      out += '\n';
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < les.size(); ++i) {
        cumulative += c[i];
        head("_bucket");
        out += les[i];
        append_uint(out, cumulative);
        out += '\n';
      }
    }
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
  gauge("portico_http2_connections", "Open HTTP/2 client connections (also in portico_client_connections)",
        t.http2_connections);
  gauge("portico_http2_streams", "HTTP/2 streams being served, all connections", t.http2_streams);
  // One counter family with one series per value of label `key`.
  auto split = [&](const char* name, const char* help, const char* key,
                   std::initializer_list<std::pair<const char*, std::uint64_t>> values) {
    prometheus::MetricFamily f = family(name, help, MetricType::Counter);
    for (const auto& [value, n] : values) {
      prometheus::ClientMetric m;
      m.label = controller;
      m.label.push_back({key, value});
      m.counter.value = static_cast<double>(n);
      f.metric.push_back(std::move(m));
    }
    out.push_back(std::move(f));
  };
  // Requests by the protocol they came on: nginx_process_requests_total split in two.
  const std::uint64_t h2 = std::min(t.all_requests, static_cast<std::uint64_t>(t.http2_requests));
  split("portico_requests_by_protocol_total", "Client requests by the protocol they came on",
        "protocol", {{"HTTP/1.x", t.all_requests - h2}, {"HTTP/2", h2}});
  split("portico_upstream_requests_by_protocol_total",
        "Requests sent to upstreams by the protocol spoken: HTTP/1.x, h2c (backend-protocol GRPC), "
        "h2 (GRPCS)",
        "protocol",
        {{"HTTP/1.x", t.upstream_http1}, {"h2c", t.upstream_h2c}, {"h2", t.upstream_h2}});
  split("portico_mirror_requests_total",
        "Copies of requests for HTTPRoute RequestMirror backends, by result: answered, failed, "
        "skipped",
        "result",
        {{"answered", t.mirror_answered}, {"failed", t.mirror_failed}, {"skipped", t.mirror_skipped}});
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

void shard_set::render(std::string& out) const {
  totals t;
  {
    // Only the sum needs the lock; the label sets it points to are never freed or changed.
    std::lock_guard lock(mu_);
    sum_into(t);
  }
  out.reserve(out.size() + last_size_.load(relaxed) + last_size_.load(relaxed) / 8);
  const std::size_t start = out.size();
  write_request_families(t, out);
  std::vector<prometheus::MetricFamily> gauges;
  gauge_families(t, gauges);
  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, gauges);
  out += text.view();
  last_size_.store(out.size() - start, relaxed);
}

}  // namespace portico::proxy
