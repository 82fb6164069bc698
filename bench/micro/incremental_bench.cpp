// One EndpointSlice change through config::build_incremental() at 10,000 and 50,000
// Ingresses (one path each), as many Services and EndpointSlices of 10 endpoints, in 100
// namespaces (bench/k8s/watch_bench.py's cluster): the time and heap allocations per change,
// side by side (CPU time, allocations), what the Snapshot's chunked route and cluster lists
// cost a change (copied, one chunk each written, released), and the full build() at
// both sizes for scale. Each change edits one endpoint
// address of another Service's slice, records it in a change_tracker, applies it and builds
// from the previous result, which the next change builds on (as api_source does).
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "bench/micro/counting_new.hpp"
#include "config/build.hpp"
#include "config/incremental.hpp"

namespace {

using namespace portico::config;

constexpr int namespaces = 100;
constexpr int per_slice = 10;

std::string ns_of(int i) { return "ns" + std::to_string(i % namespaces); }

endpoint_slice make_slice(int i) {
  endpoint_slice sl;
  sl.meta.name = "svc" + std::to_string(i) + "-1";
  sl.meta.namespace_name = ns_of(i);
  sl.meta.labels["kubernetes.io/service-name"] = "svc" + std::to_string(i);
  for (int e = 0; e < per_slice; ++e) {
    slice_endpoint ep;
    ep.addresses.push_back("10." + std::to_string(i / 250 % 250) + "." + std::to_string(i % 250) +
                           "." + std::to_string(e + 1));
    sl.endpoints.push_back(std::move(ep));
  }
  sl.ports.push_back({"http", 8080, "TCP"});
  return sl;
}

cluster_state make_state(int count) {
  cluster_state st;
  ingress_class cls;
  cls.meta.name = "portico";
  cls.controller = "portico.dev/ingress-controller";
  st.upsert(cls);
  for (int i = 0; i < count; ++i) {
    ingress ing;
    ing.meta.name = "ing" + std::to_string(i);
    ing.meta.namespace_name = ns_of(i);
    ing.meta.creation_timestamp = "2024-01-01T00:00:00Z";
    ing.ingress_class_name = "portico";
    ingress_backend b;
    b.has_service = true;
    b.service_name = "svc" + std::to_string(i);
    b.port.number = 80;
    ingress_rule rule;
    rule.host = "h" + std::to_string(i) + ".bench.test";
    rule.paths.push_back({"/", path_type::prefix, b});
    ing.rules.push_back(rule);
    st.upsert(std::move(ing));

    service svc;
    svc.meta.name = "svc" + std::to_string(i);
    svc.meta.namespace_name = ns_of(i);
    svc.ports.push_back({"http", "TCP", 80, 8080, "", ""});
    st.upsert(std::move(svc));
    st.upsert(make_slice(i));
  }
  return st;
}

void BM_full_build(benchmark::State& state) {
  const int count = static_cast<int>(state.range(0));
  cluster_state st = make_state(count);
  for (auto _ : state) {
    auto r = build(st);
    if (r.snap->routes().size() != static_cast<std::size_t>(count)) state.SkipWithError("bad build");
    benchmark::DoNotOptimize(r);
  }
}

// One change: tracked, applied, built from `last`, which it replaces (the previous Snapshot
// dies here, as in api_source). Not inlined, so that callgrind can count it alone:
//   valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*apply_one_change*'
//     build/release/bench/incremental_bench --benchmark_filter='one_slice_change/50000'
[[gnu::noinline]] bool apply_one_change(cluster_state& st, const build_options& opts,
                                        build_result& last, change_tracker& changes,
                                        endpoint_slice sl) {
  changes.before_upsert(st, any_object(sl));
  st.upsert(std::move(sl));
  auto inc = build_incremental(st, opts, last.snap, last.errors, changes);
  changes.clear();
  if (!inc || inc->snap == last.snap) return false;
  last = std::move(*inc);
  return true;
}

void BM_one_slice_change(benchmark::State& state) {
  const int count = static_cast<int>(state.range(0));
  cluster_state st = make_state(count);
  build_options opts;
  build_result last = build(st, opts);
  change_tracker changes;
  std::int64_t k = 0;
  std::size_t allocations = 0, incremental = 0;
  for (auto _ : state) {
    const int i = static_cast<int>((k * 7919) % count);
    endpoint_slice sl = make_slice(i);
    sl.endpoints[0].addresses[0] =
        "10.255." + std::to_string(k / 250 % 250) + "." + std::to_string(k % 250 + 1);
    ++k;
    const std::size_t before = portico::bench::g_allocations;
    const bool ok = apply_one_change(st, opts, last, changes, std::move(sl));
    allocations += portico::bench::g_allocations - before;
    if (!ok) {
      state.SkipWithError("not an endpoint-only build");
      break;
    }
    ++incremental;
  }
  state.counters["allocs_per_change"] =
      incremental ? static_cast<double>(allocations) / static_cast<double>(incremental) : 0;
  state.counters["routes"] = static_cast<double>(last.snap->routes().size());
}

// What a change pays for the Snapshot's route and cluster lists: a copy that shares every
// chunk, one chunk of each written (copied), and the release of both (the old Snapshot going).
// Before the lists were chunked (config/chunked_ptrs.hpp) a change copied and released two
// flat vectors of one shared_ptr per route and cluster.
void BM_pointer_lists_copy_write_release(benchmark::State& state) {
  const int count = static_cast<int>(state.range(0));
  cluster_state st = make_state(count);
  build_result r = build(st);
  std::size_t k = 0;
  for (auto _ : state) {
    {
      route_list routes = r.snap->routes();
      cluster_list clusters = r.snap->clusters();
      const std::size_t i = (k++ * 7919) % routes.size();
      routes.set(i, routes[i]);
      clusters.set(i % clusters.size(), clusters[i % clusters.size()]);
      benchmark::DoNotOptimize(routes);
      benchmark::DoNotOptimize(clusters);
    }
  }
}

}  // namespace

BENCHMARK(BM_one_slice_change)->Arg(10000)->Arg(50000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_pointer_lists_copy_write_release)->Arg(10000)->Arg(50000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_full_build)->Arg(10000)->Arg(50000)->Unit(benchmark::kMillisecond)->Iterations(2);
