// snapshot::find() at 10,000 hosts (9,000 exact, 1,000 wildcard) and 100,000 paths
// (10 per host: Prefix and Exact). Queries cycle through a fixed random set, so the
// table is not served from a handful of hot cache lines. The allocs_per_lookup counter
// (from a counting operator new) must be 0.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "config/route_table.hpp"
#include "config/snapshot.hpp"

#include "bench/micro/counting_new.hpp"

using portico::bench::g_allocations;

namespace {

using namespace portico::config;

// Full size: 9,000 exact + 1,000 wildcard hosts. Arg(100) runs the same at 1/100 of the hosts
// to show how much of the cost is cache misses rather than work.
int exact_hosts = 9000;
int wildcard_hosts = 1000;
constexpr int paths_per_host = 10;

std::string exact_host(int i) { return "app" + std::to_string(i) + ".team" + std::to_string(i % 97) + ".example.com"; }
std::string wildcard_suffix(int i) { return "tenant" + std::to_string(i) + ".example.net"; }

// Paths of host h: 7 Prefix ("/svc<k>/api", "/", ...) and 3 Exact ("/exact<k>/ping").
std::string rule_path(int k) {
  if (k == 0) return "/";
  if (k < 7) return "/svc" + std::to_string(k) + "/api/v" + std::to_string(k % 3);
  return "/exact" + std::to_string(k) + "/ping";
}

struct world {
  snapshot_ptr snap;
  world() {
    std::vector<std::shared_ptr<const route>> routes;
    auto table = std::make_shared<host_table>();
    auto add = [&](const std::string& host) {
      for (int k = 0; k < paths_per_host; ++k) {
        auto r = std::make_shared<route>();
        r->index = static_cast<std::uint32_t>(routes.size());
        r->host = host;
        r->path = rule_path(k);
        r->kind = k >= 7 ? match_kind::exact : match_kind::prefix;
        table->add(r.get());
        routes.push_back(std::move(r));
      }
    };
    for (int i = 0; i < exact_hosts; ++i) add(exact_host(i));
    for (int i = 0; i < wildcard_hosts; ++i) add("*." + wildcard_suffix(i));
    snap = std::make_shared<snapshot>(std::move(routes), std::vector<std::shared_ptr<const cluster>>{},
                                      std::move(table), 0);
  }
};

const world& the_world(int scale) {
  static std::map<int, std::unique_ptr<world>> worlds;
  auto& w = worlds[scale];
  exact_hosts = 9000 / scale;
  wildcard_hosts = 1000 / scale;
  if (!w) w = std::make_unique<world>();
  return *w;
}

struct query {
  std::string host, path;
};

enum class mix { exact_host_prefix, exact_host_exact, wildcard_host, unknown_host, path_miss };

std::vector<query> make_queries(mix m) {
  std::mt19937 rng(42);
  std::vector<query> q;
  for (int n = 0; n < 4096; ++n) {
    int i = static_cast<int>(rng() % exact_hosts);
    int w = static_cast<int>(rng() % wildcard_hosts);
    int k = 1 + static_cast<int>(rng() % 6);
    std::string deep = "/svc" + std::to_string(k) + "/api/v" + std::to_string(k % 3) + "/orders/12345/items";
    switch (m) {
      case mix::exact_host_prefix: q.push_back({"App" + exact_host(i).substr(3) + ":443", deep}); break;
      case mix::exact_host_exact: q.push_back({exact_host(i), "/exact" + std::to_string(7 + k % 3) + "/ping"}); break;
      case mix::wildcard_host: q.push_back({"user" + std::to_string(n) + "." + wildcard_suffix(w), deep}); break;
      case mix::unknown_host: q.push_back({"nobody" + std::to_string(n) + ".example.org", deep}); break;
      case mix::path_miss: q.push_back({exact_host(i), "/exact7/ping/nope"}); break;
    }
  }
  return q;
}

void run(benchmark::State& state, mix m, bool expect_hit) {
  const auto& snap = *the_world(static_cast<int>(state.range(0))).snap;
  auto queries = make_queries(m);
  std::size_t i = 0, hits = 0;
  std::size_t allocs_before = g_allocations;
  for (auto _ : state) {
    const auto& q = queries[i++ & 4095];
    const route* r = snap.find(q.host, q.path);
    hits += r != nullptr;
    benchmark::DoNotOptimize(r);
  }
  std::size_t allocs = g_allocations - allocs_before;
  state.counters["allocs_per_lookup"] =
      benchmark::Counter(static_cast<double>(allocs), benchmark::Counter::kAvgIterations);
  state.counters["hit_ratio"] =
      benchmark::Counter(static_cast<double>(hits), benchmark::Counter::kAvgIterations);
  if (expect_hit && hits != static_cast<std::size_t>(state.iterations())) state.SkipWithError("expected hits");
}

void BM_lookup_exact_host_prefix_hit(benchmark::State& s) { run(s, mix::exact_host_prefix, true); }
void BM_lookup_exact_host_exact_hit(benchmark::State& s) { run(s, mix::exact_host_exact, true); }
void BM_lookup_wildcard_host_hit(benchmark::State& s) { run(s, mix::wildcard_host, true); }
// The root "/" Prefix rule catches every path of a known host, so only unknown hosts miss.
void BM_lookup_unknown_host_miss(benchmark::State& s) { run(s, mix::unknown_host, false); }
void BM_lookup_known_host_fallback_to_root(benchmark::State& s) { run(s, mix::path_miss, true); }

}  // namespace

BENCHMARK(BM_lookup_exact_host_prefix_hit)->Arg(1)->Arg(100);
BENCHMARK(BM_lookup_exact_host_exact_hit)->Arg(1)->Arg(100);
BENCHMARK(BM_lookup_wildcard_host_hit)->Arg(1)->Arg(100);
BENCHMARK(BM_lookup_unknown_host_miss)->Arg(1)->Arg(100);
BENCHMARK(BM_lookup_known_host_fallback_to_root)->Arg(1)->Arg(100);
