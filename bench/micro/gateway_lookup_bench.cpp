// snapshot::find() with Gateway API routes: 1,000 HTTPRoute hostnames (900 exact, 100
// wildcard) with 10 matches each (PathPrefix, Exact, a header match, a method match), sorted
// by the spec's precedence; queries cycle through a fixed random set. The allocs_per_lookup
// counter (from a counting operator new) must be 0.
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "config/gateway_table.hpp"
#include "config/route_table.hpp"
#include "config/snapshot.hpp"

#include "bench/micro/counting_new.hpp"

using portico::bench::g_allocations;

namespace {

using namespace portico::config;

std::string exact_host(int i) { return "app" + std::to_string(i) + ".gw.example.com"; }
std::string wildcard_host(int i) { return "*.tenant" + std::to_string(i) + ".example.net"; }

struct world {
  snapshot_ptr snap;
  world() {
    std::vector<std::shared_ptr<const route>> routes;
    auto table = std::make_shared<gateway_table>();
    auto add = [&](const std::string& host) {
      for (int k = 0; k < 10; ++k) {
        auto r = std::make_shared<route>();
        r->index = static_cast<std::uint32_t>(routes.size());
        gateway_match m;
        m.path_type = k >= 8 ? gw_path_type::exact : gw_path_type::path_prefix;
        m.path = k == 0 ? "/" : "/svc" + std::to_string(k) + "/api";
        if (k == 3) m.headers.push_back({"x-version", "v2", nullptr});
        if (k == 4) m.method = "POST";
        m.owner = r.get();
        table->list(80, host).push_back(std::move(m));  // port 80: --http-port
        routes.push_back(std::move(r));
      }
    };
    for (int i = 0; i < 900; ++i) add(exact_host(i));
    for (int i = 0; i < 100; ++i) add(wildcard_host(i));
    table->finish();
    table->assign_indices();
    snap = std::make_shared<snapshot>(std::move(routes), std::vector<std::shared_ptr<const cluster>>{},
                                      std::make_shared<host_table>(), 0, nullptr, nullptr,
                                      std::move(table));
  }
};

std::string_view no_header(const void*, std::string_view) { return {}; }
bool has_no_header(const void*, std::string_view) { return false; }

struct query {
  std::string host, path;
};

void run(benchmark::State& state, bool wildcard) {
  static const world w;
  std::mt19937 rng(42);
  std::vector<query> queries;
  for (int n = 0; n < 4096; ++n) {
    const int k = 1 + static_cast<int>(rng() % 9);
    const std::string path = "/svc" + std::to_string(k) + "/api" + (k >= 8 ? "" : "/orders/12345");
    queries.push_back({wildcard ? "user" + std::to_string(n) + wildcard_host(static_cast<int>(rng() % 100)).substr(1)
                                : exact_host(static_cast<int>(rng() % 900)),
                       path});
  }
  const request_attrs attrs{"GET", "", false, nullptr, &no_header, &has_no_header};
  std::size_t i = 0, hits = 0;
  const std::size_t allocs_before = g_allocations;
  for (auto _ : state) {
    const auto& q = queries[i++ & 4095];
    const route* r = w.snap->find(q.host, q.path, attrs);
    hits += r != nullptr;
    benchmark::DoNotOptimize(r);
  }
  state.counters["allocs_per_lookup"] = benchmark::Counter(
      static_cast<double>(g_allocations - allocs_before), benchmark::Counter::kAvgIterations);
  if (hits != static_cast<std::size_t>(state.iterations())) state.SkipWithError("expected hits");
}

void BM_gateway_exact_host_hit(benchmark::State& s) { run(s, false); }
void BM_gateway_wildcard_host_hit(benchmark::State& s) { run(s, true); }

}  // namespace

BENCHMARK(BM_gateway_exact_host_hit);
BENCHMARK(BM_gateway_wildcard_host_hit);
