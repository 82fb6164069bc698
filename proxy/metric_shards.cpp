#include "proxy/metric_shards.hpp"

#include <charconv>
#include <cmath>
#include <optional>
#include <stdexcept>
#include <utility>

namespace portico::proxy {

namespace {

// Prometheus text format: a label value escapes backslash, double quote and line feed.
void append_label(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += "=\"";
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  out += "\",";
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// One float as Go's strconv.ParseFloat reads the common forms: decimal, exponent, an
// optional sign, Inf/Infinity/NaN in any case. nullopt when the item is anything else.
std::optional<double> parse_float(std::string_view item) {
  bool negative = false;
  if (!item.empty() && (item.front() == '+' || item.front() == '-')) {
    negative = item.front() == '-';
    item.remove_prefix(1);
  }
  if (item.empty() || item.front() == '+' || item.front() == '-') return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
  if (ec != std::errc() || end != item.data() + item.size()) return std::nullopt;
  return negative ? -v : v;
}

constexpr std::string_view family_prefix = "nginx_ingress_controller_";

}  // namespace

std::vector<double> parse_buckets(std::string_view flag, const std::vector<std::string>& values) {
  std::vector<double> out;
  auto refuse = [&](std::string_view item, std::string_view why) {
    throw std::invalid_argument(std::string(flag) + ": '" + std::string(item) + "' " +
                                std::string(why) + " (a comma-separated list of increasing numbers, "
                                "e.g. 0.005,0.01,0.1,1)");
  };
  for (const std::string& value : values) {
    std::string_view rest = value;
    for (;;) {
      const std::size_t comma = rest.find(',');
      const std::string_view item = trim(rest.substr(0, comma));
      if (item.empty()) refuse(value, "has an empty item");
      const std::optional<double> v = parse_float(item);
      if (!v) refuse(item, "is not a number");
      if (std::isnan(*v)) refuse(item, "is not a bucket bound");
      // client_golang: "histogram buckets must be in increasing order".
      if (!out.empty() && !(*v > out.back())) refuse(item, "is not above the bound before it");
      out.push_back(*v);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  // The +Inf bucket is implicit: a last bound of +Inf is dropped, as client_golang does.
  if (!out.empty() && std::isinf(out.back()) && out.back() > 0) out.pop_back();
  return out;
}

request_cell::request_cell(std::uint32_t k, std::size_t time_bounds, std::size_t length_bounds)
    : key(k),
      storage_(std::make_unique<std::atomic<std::uint64_t>[]>(4 * (time_bounds + 1) +
                                                              2 * (length_bounds + 1))) {
  std::atomic<std::uint64_t>* p = storage_.get();
  for (histogram_cell* h : {&request_duration, &response_duration, &connect_duration,
                            &header_duration}) {
    h->counts = p;
    p += time_bounds + 1;
  }
  for (histogram_cell* h : {&request_size, &response_size}) {
    h->counts = p;
    p += length_bounds + 1;
  }
}

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
  if (o.time_buckets) m.time_buckets = bucket_bounds(*o.time_buckets);
  if (o.length_buckets) m.length_buckets = bucket_bounds(*o.length_buckets);
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
          r.path, std::string()};
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

// The label text in ingress-nginx's (alphabetical) label order, escaped once here.
const label_set& shard_set::label_set_for(const route_labels& labels, std::string key) {
  if (auto it = label_sets_by_key_.find(key); it != label_sets_by_key_.end()) return *it->second;
  auto set = std::make_unique<label_set>();
  set->labels = labels;
  set->key = std::move(key);
  set->id = static_cast<std::uint32_t>(label_sets_.size());
  std::string& head = set->text_head;
  append_label(head, "canary", labels.canary);
  append_label(head, "controller_class", labels_.controller_class);
  append_label(head, "controller_namespace", labels_.controller_namespace);
  append_label(head, "controller_pod", labels_.controller_pod);
  // Without per-host metrics the label is absent, as in ingress-nginx (not host="").
  if (options_.per_host) append_label(head, "host", labels.host);
  append_label(head, "ingress", labels.ingress);
  std::string& tail = set->text_tail;
  append_label(tail, "namespace", labels.namespace_name);
  append_label(tail, "path", labels.path);
  append_label(tail, "service", labels.service);
  tail.pop_back();  // the last ','
  label_sets_by_key_.emplace(set->key, set.get());
  label_sets_.push_back(std::move(set));
  return *label_sets_.back();
}

route_stats& shard_set::stats_for(worker_shard& shard, const route_labels& labels,
                                  export_rule rule) {
  std::string key = labels.key();
  if (auto it = shard.routes.find(key); it != shard.routes.end()) return *it->second;
  auto rs = std::make_unique<route_stats>();
  rs->exported = rule;
  std::lock_guard lock(mu_);
  rs->set = &label_set_for(labels, key);
  return *shard.routes.emplace(std::move(key), std::move(rs)).first->second;
}

request_cell& shard_set::add_cell(route_stats& rs, std::uint32_t key) {
  auto cell = std::make_unique<request_cell>(key, options_.time_buckets.size(),
                                             options_.length_buckets.size());
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

}  // namespace portico::proxy
