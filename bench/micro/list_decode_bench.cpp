// Portico's own part of the first Snapshot, apart from the API server: the list pages that
// bench/k8s/list_serve.py --dump DIR saved from the test API server (Ingresses, Services,
// EndpointSlices, 500 objects a page), run through what the reflectors and the first build do:
// JSON parse, object decode, apply to a cluster_state, build(). Each phase is timed on its
// own; PORTICO_LIST_PAGES=DIR names the pages (without it every benchmark is skipped).
//
//     bench/k8s/list_serve.py --ingresses 10000 --state-cache DIR --rounds 1 --dump /tmp/pages
//     PORTICO_LIST_PAGES=/tmp/pages build/release/bench/list_decode_bench
#include <benchmark/benchmark.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config/build.hpp"
#include "config/cluster_state.hpp"
#include "config/decode.hpp"
#include "config/decode_json.hpp"

namespace {

using namespace portico::config;
namespace json = boost::json;

struct page {
  object_kind kind;
  std::string body;
};

const std::vector<page>& pages() {
  static const std::vector<page> all = [] {
    std::vector<page> out;
    const char* dir = std::getenv("PORTICO_LIST_PAGES");
    if (!dir) return out;
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir)) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      const std::string name = f.filename().string();
      object_kind k = name.starts_with("ingresses")  ? object_kind::ingress
                      : name.starts_with("services") ? object_kind::service
                                                     : object_kind::endpoint_slice;
      std::ifstream in(f, std::ios::binary);
      std::ostringstream s;
      s << in.rdbuf();
      out.push_back({k, s.str()});
    }
    return out;
  }();
  return all;
}

bool skip(benchmark::State& state) {
  if (!pages().empty()) return false;
  state.SkipWithError("set PORTICO_LIST_PAGES to a directory of list_serve.py --dump pages");
  return true;
}

// What a reflector does per page: parse (into one arena per page, as k8s-watch/reflector.cpp
// does, or with malloc per node when !arena), then decode every item.
std::vector<any_object> decode_page(const page& p, bool arena = true) {
  decode_result out;
  json::monotonic_resource mr;
  json::value v = arena ? json::parse(p.body, &mr) : json::parse(p.body);
  const auto& items = v.as_object().at("items").as_array();
  out.objects.reserve(items.size());
  for (const auto& item : items) decode_json_value(item, p.kind, "list", out);
  return std::move(out.objects);
}

cluster_state state_of_pages() {
  cluster_state st;
  ingress_class ic;
  ic.meta.name = "portico";
  ic.controller = "portico.dev/ingress-controller";
  st.upsert(std::move(ic));
  for (const auto& p : pages())
    for (auto& o : decode_page(p)) apply(st, std::move(o));
  return st;
}

// Arg 1: one arena per page (json::monotonic_resource); 0: malloc per node.
void BM_parse(benchmark::State& state) {
  if (skip(state)) return;
  std::size_t bytes = 0;
  for (auto _ : state) {
    for (const auto& p : pages()) {
      json::monotonic_resource mr;
      json::value v = state.range(0) ? json::parse(p.body, &mr) : json::parse(p.body);
      benchmark::DoNotOptimize(v);
      bytes += p.body.size();
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

void BM_parse_and_decode(benchmark::State& state) {
  if (skip(state)) return;
  std::size_t objects = 0;
  for (auto _ : state) {
    for (const auto& p : pages()) {
      auto objs = decode_page(p, state.range(0) != 0);
      objects += objs.size();
      benchmark::DoNotOptimize(objs);
    }
  }
  state.counters["objects"] = benchmark::Counter(static_cast<double>(objects), benchmark::Counter::kAvgIterations);
}

void BM_decode_and_apply(benchmark::State& state) {
  if (skip(state)) return;
  for (auto _ : state) {
    cluster_state st = state_of_pages();
    benchmark::DoNotOptimize(st);
  }
}

void BM_first_build(benchmark::State& state) {
  if (skip(state)) return;
  const cluster_state st = state_of_pages();
  std::size_t routes = 0;
  for (auto _ : state) {
    build_result r = build(st);
    routes = r.snap->routes().size();
    benchmark::DoNotOptimize(r);
  }
  state.counters["routes"] = static_cast<double>(routes);
}

}  // namespace

BENCHMARK(BM_parse)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(2);
BENCHMARK(BM_parse_and_decode)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(2);
BENCHMARK(BM_decode_and_apply)->Unit(benchmark::kMillisecond)->Iterations(2);
BENCHMARK(BM_first_build)->Unit(benchmark::kMillisecond)->Iterations(2);
