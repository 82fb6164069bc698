// balancer::pick() for one cluster of 2, 16 and 256 endpoints: the healthy round-robin path
// (what every proxied request pays), a pick with 3 of the endpoints ejected, and a retry pick
// that skips the endpoint already tried. allocs_per_pick (a counting operator new) must be 0.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <new>
#include <string>

#include "config/snapshot.hpp"
#include "proxy/balancer.hpp"

#include "bench/micro/counting_new.hpp"

using portico::bench::g_allocations;

namespace {

using namespace portico;

config::cluster make_cluster(int n) {
  config::cluster c;
  c.id = "bench/web:80";
  c.namespace_name = "bench";
  c.service_name = "web";
  c.service_port = "80";
  for (int i = 0; i < n; ++i) {
    config::endpoint e;
    e.ip = "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    e.port = 8080;
    c.endpoints.push_back(e);
  }
  c.version = 42;
  return c;
}

void run(benchmark::State& state, unsigned ejected, bool retry) {
  auto c = make_cluster(static_cast<int>(state.range(0)));
  proxy::balancer b(proxy::health_options{}, 7);
  auto now = proxy::steady_time::clock::now();
  proxy::tried_set none;
  auto first = b.pick(c, none, now);  // fills the per-cluster state
  for (unsigned i = 0; i < ejected; ++i) {
    auto ep = b.pick(c, none, now);
    for (unsigned k = 0; k < proxy::health_options{}.eject_after_failures; ++k) b.on_failure(*ep, now);
  }
  proxy::tried_set tried;
  tried.add(first.get());
  const proxy::tried_set& use = retry ? tried : none;
  std::size_t allocs = g_allocations;
  for (auto _ : state) {
    auto ep = b.pick(c, use, now);
    benchmark::DoNotOptimize(ep.get());
  }
  state.counters["allocs_per_pick"] = benchmark::Counter(
      static_cast<double>(g_allocations - allocs) / static_cast<double>(state.iterations()));
}

void bm_pick_healthy(benchmark::State& s) { run(s, 0, false); }
void bm_pick_3_ejected(benchmark::State& s) { run(s, 3, false); }
void bm_pick_retry(benchmark::State& s) { run(s, 0, true); }

BENCHMARK(bm_pick_healthy)->Arg(2)->Arg(16)->Arg(256);
BENCHMARK(bm_pick_3_ejected)->Arg(16)->Arg(256);
BENCHMARK(bm_pick_retry)->Arg(2)->Arg(16);

}  // namespace
