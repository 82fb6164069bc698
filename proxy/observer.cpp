// worker_observer: the request path's hook into metrics and the access log (one per worker).
#include <memory>
#include <vector>

#include "config/flat_string_map.hpp"
#include "config/route_table.hpp"
#include "proxy/access_log.hpp"
#include "proxy/metric_shards.hpp"
#include "proxy/metrics.hpp"
#include "proxy/observe.hpp"

namespace portico::proxy {

struct worker_observer::impl {
  impl(metrics_registry& reg, const server_options& opts)
      : shards(reg.shards()), shard(shards.add_shard()), options(shards.options()) {
    unrouted_stats = &shards.stats_for(
        shard, route_labels{},
        options.hides_undefined_hosts() ? export_rule::never : export_rule::always);
    log = std::make_unique<access_log>(1);
    log_unrouted = opts.access_log;
  }

  // The table entry remembers the route it was built from: a request that started on an
  // older Snapshot carries a route of that Snapshot, whose index may mean another route now.
  struct slot {
    const config::route* route = nullptr;
    route_stats* stats = nullptr;
    route_stats* canary_stats = nullptr;  // the requests the route's canary served
  };

  route_stats& resolve(const config::route& r, bool canary) {
    if (r.index < table.size() && table[r.index].route == &r) {
      const slot& s = table[r.index];
      if (!canary) return *s.stats;
      if (s.canary_stats != nullptr) return *s.canary_stats;
    }
    // A request spanning a swap: rare.
    return shards.stats_for(shard, canary ? route_labels::of_canary(r, options.per_host)
                                          : route_labels::of(r, options.per_host));
  }

  // A request without a route (the built-in default backend, or refused before routing).
  // Its host is labelled when a rule of the current Snapshot names it exactly (ingress-nginx's
  // served hosts), or for every host with per_undefined_host; otherwise it goes to
  // unrouted_stats (hidden, or host "" without the host label). Routed requests never come
  // here; the host is put in the router's canonical form in a stack buffer (no allocation),
  // and a label set is made only on a host's first request.
  route_stats& unrouted(std::string_view host) {
    if (!options.per_host) return *unrouted_stats;
    char buf[256];
    std::string_view h = config::host_table::canonical_host(host, buf, sizeof buf);
    if (h.empty()) return *unrouted_stats;
    if (options.hides_undefined_hosts() && !(hosts != nullptr && hosts->has_host(h)))
      return *unrouted_stats;
    if (route_stats* const* found = by_host.find(h)) return **found;
    route_stats& rs =
        shards.stats_for(shard, route_labels::of_default_backend(h), export_rule::always);
    by_host.insert(h, &rs);
    return rs;
  }

  shard_set& shards;
  worker_shard& shard;
  const metric_options& options;
  route_stats* unrouted_stats = nullptr;
  // The default backend's blocks by canonical request host. Grows by one entry per host
  // seen: the hosts of rules, or with per_undefined_host every host clients send (the
  // cardinality ingress-nginx warns about).
  config::flat_string_map<route_stats*> by_host;
  std::shared_ptr<const config::host_table> hosts;  // the current Snapshot's
  std::vector<slot> table;  // by route::index of the current Snapshot
  config::route_list routes;  // the current Snapshot's (chunks shared with it)
  std::unique_ptr<access_log> log;
  // Whether requests are logged: per route its policy's access_log (enable-access-log over
  // the ConfigMap's disable-access-log over --access-log); without a route the settings'.
  bool log_unrouted = true;
};

worker_observer::worker_observer(metrics_registry& reg, const server_options& opts,
                                 unsigned worker_index)
    : impl_(std::make_unique<impl>(reg, opts)) {}

worker_observer::~worker_observer() = default;

void worker_observer::on_snapshot(const config::snapshot& snap) {
  impl_->log_unrouted = snap.settings().enable_access_log;
  if (snap.hosts_ptr() != nullptr && snap.hosts_ptr() == impl_->hosts) {
    // An endpoint-only successor (config/incremental.hpp): the same routes, labels and
    // indices, some route objects new. Only the slots' routes change; relabelling 50,000
    // routes was most of a change's CPU.
    // Route chunks shared with the last Snapshot hold the same routes: skipped whole.
    const auto& now = snap.routes();
    const bool same_size = impl_->routes.size() == now.size();
    for (std::size_t i = 0; i < now.size(); ++i) {
      const std::size_t k = i >> config::route_list::chunk_bits;
      if (same_size && (i & config::route_list::chunk_mask) == 0 &&
          impl_->routes.chunks()[k] == now.chunks()[k]) {
        i += config::route_list::chunk_mask;
        continue;
      }
      const auto& r = now[i];
      if (r->index < impl_->table.size()) impl_->table[r->index].route = r.get();
    }
    impl_->routes = now;
    return;
  }
  std::size_t size = 0;
  for (const auto& r : snap.routes()) size = std::max<std::size_t>(size, r->index + 1);
  std::vector<impl::slot> table(size);
  const bool per_host = impl_->options.per_host;
  for (const auto& r : snap.routes()) {
    table[r->index] = {
        r.get(), &impl_->shards.stats_for(impl_->shard, route_labels::of(*r, per_host)),
        r->canary ? &impl_->shards.stats_for(impl_->shard, route_labels::of_canary(*r, per_host))
                  : nullptr};
  }
  impl_->table = std::move(table);
  impl_->hosts = snap.hosts_ptr();
  impl_->routes = snap.routes();
}

void worker_observer::on_request(const request_record& rec) {
  route_stats& rs = rec.route != nullptr ? impl_->resolve(*rec.route, !rec.canary.empty())
                                         : impl_->unrouted(rec.host);
  std::uint32_t key = cell_key(method_index(rec.method), rec.status);
  request_cell* c = rs.find(key);
  if (c == nullptr) c = &impl_->shards.add_cell(rs, key);

  const bucket_bounds& time = impl_->options.time_buckets;
  const bucket_bounds& length = impl_->options.length_buckets;
  bump(c->requests);
  if (rec.http2) gauge_add(impl_->shard.gauges.http2_requests, 1);
  if (!rec.upstream_protocol.empty()) {
    auto& g = impl_->shard.gauges;
    gauge_add(rec.upstream_protocol == "h2c"  ? g.upstream_h2c_requests
              : rec.upstream_protocol == "h2" ? g.upstream_h2_requests
                                              : g.upstream_http1_requests,
              1);
  }
  c->request_duration.observe(rec.request_seconds < 0 ? 0 : rec.request_seconds, time);
  if (rec.upstream_connect_seconds >= 0)
    c->connect_duration.observe(rec.upstream_connect_seconds, time);
  if (rec.upstream_header_seconds >= 0)
    c->header_duration.observe(rec.upstream_header_seconds, time);
  if (rec.upstream_response_seconds >= 0)
    c->response_duration.observe(rec.upstream_response_seconds, time);
  c->request_size.observe(static_cast<double>(rec.request_bytes), length);
  c->response_size.observe(static_cast<double>(rec.response_bytes), length);

  if (rec.route != nullptr ? rec.route->policy->access_log : impl_->log_unrouted)
    impl_->log->append(rec);
}

void worker_observer::flush() { impl_->log->flush(); }

worker_gauges& worker_observer::gauges() { return impl_->shard.gauges; }

}  // namespace portico::proxy
