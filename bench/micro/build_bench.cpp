// config::build() at 10,000 Ingresses (2 paths each), 10,000 Services and 10,000
// EndpointSlices (3 endpoints each): from scratch, and with the previous Snapshot after one
// EndpointSlice changed (clusters shared).
#include <benchmark/benchmark.h>

#include <string>

#include "config/build.hpp"

namespace {

using namespace portico::config;

constexpr int count = 10000;

ingress_backend backend_for(int i) {
  ingress_backend b;
  b.has_service = true;
  b.service_name = "svc" + std::to_string(i);
  b.port.number = 80;
  return b;
}

cluster_state make_state() {
  cluster_state st;
  ingress_class cls;
  cls.meta.name = "portico";
  cls.controller = "portico.dev/ingress-controller";
  st.upsert(cls);
  for (int i = 0; i < count; ++i) {
    std::string ns = "ns" + std::to_string(i % 50);
    ingress ing;
    ing.meta.name = "ing" + std::to_string(i);
    ing.meta.namespace_name = ns;
    ing.meta.creation_timestamp = "2024-01-01T00:00:00Z";
    ing.ingress_class_name = "portico";
    ingress_rule rule;
    rule.host = "app" + std::to_string(i) + ".example.com";
    rule.paths.push_back({"/", path_type::prefix, backend_for(i)});
    rule.paths.push_back({"/api/v1", path_type::exact, backend_for(i)});
    ing.rules.push_back(rule);
    st.upsert(std::move(ing));

    service svc;
    svc.meta.name = "svc" + std::to_string(i);
    svc.meta.namespace_name = ns;
    svc.ports.push_back({"http", "TCP", 80, 8080, "", ""});
    st.upsert(std::move(svc));

    endpoint_slice sl;
    sl.meta.name = "svc" + std::to_string(i) + "-abcde";
    sl.meta.namespace_name = ns;
    sl.meta.labels["kubernetes.io/service-name"] = "svc" + std::to_string(i);
    for (int e = 0; e < 3; ++e) {
      slice_endpoint ep;
      ep.addresses.push_back("10." + std::to_string(i / 250) + "." + std::to_string(i % 250) + "." +
                             std::to_string(e + 1));
      sl.endpoints.push_back(std::move(ep));
    }
    sl.ports.push_back({"http", 8080, "TCP"});
    st.upsert(std::move(sl));
  }
  return st;
}

void BM_build_10k_ingresses(benchmark::State& state) {
  cluster_state st = make_state();
  for (auto _ : state) {
    auto r = build(st);
    if (r.snap->routes().size() != 2 * count || !r.errors.empty()) state.SkipWithError("bad build");
    benchmark::DoNotOptimize(r);
  }
}

void BM_build_10k_ingresses_one_endpoint_changed(benchmark::State& state) {
  cluster_state st = make_state();
  build_options opts;
  opts.previous = build(st).snap;
  auto& sl = st.endpoint_slices.begin()->second;
  sl.endpoints[0].addresses[0] = "10.255.255.1";
  std::size_t shared = 0;
  for (auto _ : state) {
    auto r = build(st, opts);
    shared = 0;
    for (std::size_t i = 0; i < r.snap->clusters().size(); ++i)
      shared += r.snap->clusters()[i] == opts.previous->clusters()[i];
    benchmark::DoNotOptimize(r);
  }
  state.counters["clusters_shared"] = static_cast<double>(shared);
}

}  // namespace

BENCHMARK(BM_build_10k_ingresses)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_build_10k_ingresses_one_endpoint_changed)->Unit(benchmark::kMillisecond);
