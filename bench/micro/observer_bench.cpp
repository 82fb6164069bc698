// Cost of the request path's observation: worker_observer::on_request (metrics only), the
// JSON access log line, and a scrape of many series.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "config/snapshot.hpp"
#include "proxy/access_log.hpp"
#include "proxy/metric_shards.hpp"
#include "proxy/metrics.hpp"
#include "proxy/observe.hpp"

namespace {

using namespace portico;

std::vector<std::shared_ptr<const config::route>> make_routes(std::size_t n) {
  std::vector<std::shared_ptr<const config::route>> routes;
  auto c = std::make_shared<config::cluster>();
  c->id = "default/svc:80";
  for (std::size_t i = 0; i < n; ++i) {
    auto r = std::make_shared<config::route>();
    r->index = static_cast<std::uint32_t>(i);
    r->namespace_name = "default";
    r->ingress_name = "ingress-" + std::to_string(i / 4);
    r->service_name = "svc-" + std::to_string(i);
    r->host = "host-" + std::to_string(i / 4) + ".example.com";
    r->path = "/path/" + std::to_string(i % 4);
    r->backend = c;
    routes.push_back(std::move(r));
  }
  return routes;
}

proxy::request_record record(const config::route* r, unsigned status) {
  proxy::request_record rec;
  rec.route = r;
  rec.host = "host-1.example.com";
  rec.method = "GET";
  rec.target = "/path/1?q=abc";
  rec.remote_addr = "192.0.2.10";
  rec.request_id = "0f8e5c2a9b7d4e1f8a6c3b2d1e0f9a8b";
  rec.upstream_addr = "10.0.0.1:8080";
  rec.status = status;
  rec.upstream_status = status;
  rec.request_bytes = 180;
  rec.response_bytes = 1200;
  rec.request_seconds = 0.0007;
  rec.upstream_connect_seconds = 0.0001;
  rec.upstream_header_seconds = 0.0005;
  rec.upstream_response_seconds = 0.0006;
  rec.start = std::chrono::system_clock::now();
  return rec;
}

proxy::server_options quiet() {
  proxy::server_options o;
  o.access_log = false;
  return o;
}

// One route, GET 200: the common case.
void BM_on_request_one_route(benchmark::State& state) {
  auto opts = quiet();
  proxy::metrics_registry reg(opts);
  proxy::worker_observer w(reg, opts, 0);
  auto routes = make_routes(1);
  config::snapshot snap(routes, {}, nullptr, 1);
  w.on_snapshot(snap);
  auto rec = record(routes[0].get(), 200);
  for (auto _ : state) {
    w.on_request(rec);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_on_request_one_route);

// 10,000 routes visited in turn with 4 statuses each: cache misses on the per-route blocks.
void BM_on_request_10k_routes(benchmark::State& state) {
  auto opts = quiet();
  proxy::metrics_registry reg(opts);
  proxy::worker_observer w(reg, opts, 0);
  auto routes = make_routes(10000);
  config::snapshot snap(routes, {}, nullptr, 1);
  w.on_snapshot(snap);
  std::vector<proxy::request_record> recs;
  const unsigned statuses[] = {200, 404, 304, 502};
  for (std::size_t i = 0; i < routes.size(); ++i)
    for (unsigned s : statuses) recs.push_back(record(routes[(i * 7919) % routes.size()].get(), s));
  std::size_t i = 0;
  for (auto _ : state) {
    w.on_request(recs[i]);
    if (++i == recs.size()) i = 0;
  }
}
BENCHMARK(BM_on_request_10k_routes);

// The bucket of one observation among the default time bounds (11: a linear scan) and among
// 40 bounds (a binary search), values spread over the range.
void BM_bucket_index(benchmark::State& state) {
  std::vector<double> upper;
  if (state.range(0) == 11) {
    upper.assign(proxy::default_time_buckets.begin(), proxy::default_time_buckets.end());
  } else {
    for (int i = 0; i < state.range(0); ++i) upper.push_back(0.001 * (i + 1) * (i + 1));
  }
  proxy::bucket_bounds b(upper);
  std::vector<double> values;
  for (int i = 0; i < 1024; ++i) values.push_back(upper.back() * 1.2 * ((i * 7919) % 1024) / 1024);
  std::size_t i = 0, sum = 0;
  for (auto _ : state) {
    sum += b.index(values[i++ & 1023]);
    benchmark::DoNotOptimize(sum);
  }
}
BENCHMARK(BM_bucket_index)->Arg(11)->Arg(40);

// One JSON access-log line, written to /dev/null in 64 KiB batches.
void BM_access_log_append(benchmark::State& state) {
  int fd = ::open("/dev/null", O_WRONLY);
  {
    proxy::access_log log(fd);
    auto routes = make_routes(1);
    auto rec = record(routes[0].get(), 200);
    for (auto _ : state) log.append(rec);
  }
  ::close(fd);
}
BENCHMARK(BM_access_log_append);

// A scrape of 2 workers x 1,000 routes x 2 statuses (2,000 series per family).
void BM_render_1k_routes(benchmark::State& state) {
  auto opts = quiet();
  proxy::metrics_registry reg(opts);
  proxy::worker_observer w1(reg, opts, 0), w2(reg, opts, 1);
  auto routes = make_routes(1000);
  config::snapshot snap(routes, {}, nullptr, 1);
  w1.on_snapshot(snap);
  w2.on_snapshot(snap);
  for (const auto& r : routes)
    for (unsigned s : {200u, 404u}) {
      w1.on_request(record(r.get(), s));
      w2.on_request(record(r.get(), s));
    }
  std::size_t bytes = 0;
  if (state.range(0) == 1) reg.recycle(reg.render());
  for (auto _ : state) {
    std::string text = reg.render();
    bytes = text.size();
    if (state.range(0) == 1) reg.recycle(std::move(text));  // as the admin server does
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
// Arg 0: a fresh buffer each time (page faults on ~49 MB); 1: the previous text's buffer.
BENCHMARK(BM_render_1k_routes)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
