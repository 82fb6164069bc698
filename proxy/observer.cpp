// worker_observer: the request path's hook into metrics and the access log (one per worker).
#include <memory>
#include <vector>

#include "proxy/access_log.hpp"
#include "proxy/metric_shards.hpp"
#include "proxy/metrics.hpp"
#include "proxy/observe.hpp"

namespace portico::proxy {

struct worker_observer::impl {
  impl(metrics_registry& reg, const server_options& opts)
      : shards(reg.shards()), shard(shards.add_shard()) {
    default_stats = &shards.stats_for(shard, route_labels{});
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

  route_stats& resolve(const config::route* r, bool canary) {
    if (r == nullptr) return *default_stats;
    if (r->index < table.size() && table[r->index].route == r) {
      const slot& s = table[r->index];
      if (!canary) return *s.stats;
      if (s.canary_stats != nullptr) return *s.canary_stats;
    }
    // A request spanning a swap: rare.
    return shards.stats_for(shard, canary ? route_labels::of_canary(*r) : route_labels::of(r));
  }

  shard_set& shards;
  worker_shard& shard;
  route_stats* default_stats = nullptr;
  std::vector<slot> table;  // by route::index of the current Snapshot
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
  std::size_t size = 0;
  for (const auto& r : snap.routes()) size = std::max<std::size_t>(size, r->index + 1);
  std::vector<impl::slot> table(size);
  for (const auto& r : snap.routes()) {
    table[r->index] = {r.get(), &impl_->shards.stats_for(impl_->shard, route_labels::of(r.get())),
                       r->canary ? &impl_->shards.stats_for(impl_->shard, route_labels::of_canary(*r))
                                 : nullptr};
  }
  impl_->table = std::move(table);
  impl_->log_unrouted = snap.settings().enable_access_log;
}

void worker_observer::on_request(const request_record& rec) {
  route_stats& rs = impl_->resolve(rec.route, !rec.canary.empty());
  std::uint32_t key = cell_key(method_index(rec.method), rec.status);
  request_cell* c = rs.find(key);
  if (c == nullptr) c = &impl_->shards.add_cell(rs, key);

  bump(c->requests);
  c->request_duration.observe(rec.request_seconds < 0 ? 0 : rec.request_seconds, time_buckets);
  if (rec.upstream_connect_seconds >= 0)
    c->connect_duration.observe(rec.upstream_connect_seconds, time_buckets);
  if (rec.upstream_header_seconds >= 0)
    c->header_duration.observe(rec.upstream_header_seconds, time_buckets);
  if (rec.upstream_response_seconds >= 0)
    c->response_duration.observe(rec.upstream_response_seconds, time_buckets);
  c->request_size.observe(static_cast<double>(rec.request_bytes), length_buckets);
  c->response_size.observe(static_cast<double>(rec.response_bytes), length_buckets);

  if (rec.route != nullptr ? rec.route->policy->access_log : impl_->log_unrouted)
    impl_->log->append(rec);
}

void worker_observer::flush() { impl_->log->flush(); }

worker_gauges& worker_observer::gauges() { return impl_->shard.gauges; }

}  // namespace portico::proxy
