// Header rewriting per proxied request: noting the fields of a typical browser request (11
// fields, one Connection token, an untrusted X-Forwarded-For) and writing the upstream request
// head; noting a typical response (7 fields) and writing the client response head. The output
// strings are reused as in a session, so allocs_per_request (counting operator new) must be 0.
#include <benchmark/benchmark.h>

#include <boost/beast/http/field.hpp>
#include <cstdlib>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "proxy/header_rewrite.hpp"

#include "bench/micro/counting_new.hpp"

using portico::bench::g_allocations;

namespace {

using namespace portico::proxy;

using raw_fields = std::vector<std::pair<std::string, std::string>>;

const raw_fields& request_fields() {
  static const raw_fields f = {
      {"Host", "shop.example.com"},
      {"User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"},
      {"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
      {"Accept-Language", "en-GB,en;q=0.5"},
      {"Accept-Encoding", "gzip, deflate, br, zstd"},
      {"Referer", "https://shop.example.com/cart"},
      {"Cookie", "session=4f1c2a9e0b7d44f0a1c3; theme=dark; consent=yes"},
      {"Connection", "keep-alive"},
      {"Upgrade-Insecure-Requests", "1"},
      {"X-Forwarded-For", "203.0.113.9"},
      {"Priority", "u=0, i"},
  };
  return f;
}

const raw_fields& response_fields() {
  static const raw_fields f = {
      {"Content-Type", "text/html; charset=utf-8"},
      {"Content-Length", "5120"},
      {"Cache-Control", "no-store"},
      {"Set-Cookie", "session=4f1c2a9e0b7d44f0a1c3; Path=/; HttpOnly"},
      {"Date", "Wed, 25 Nov 2026 12:00:00 GMT"},
      {"Server", "app"},
      {"Connection", "keep-alive"},
  };
  return f;
}

std::vector<header_field> tokenize(const raw_fields& raw) {
  std::vector<header_field> out;
  for (const auto& [n, v] : raw)
    out.push_back({boost::beast::http::string_to_field(n), n, v});
  return out;
}

void bm_request_head(benchmark::State& state) {
  const auto fields = tokenize(request_fields());
  message_head h;
  std::string out;
  forward_params p;
  p.peer_ip = "192.0.2.44";
  p.server_port = "80";
  p.request_id = "5f0e6c1b9a2d4e8f8c7b6a5d4e3f2a1b";
  std::size_t allocs = 0;
  bool warm = false;
  for (auto _ : state) {
    h.clear();
    for (const auto& f : fields) benchmark::DoNotOptimize(note_request_field(h, f));
    out.clear();
    write_upstream_request(out, "GET", "/products/42?ref=home", h, p);
    benchmark::DoNotOptimize(out.data());
    if (!warm) {
      warm = true;
      allocs = g_allocations;  // the first pass sizes the reused buffers
    }
  }
  state.counters["allocs_per_request"] = benchmark::Counter(
      static_cast<double>(g_allocations - allocs) / static_cast<double>(state.iterations()));
  state.counters["head_bytes"] = static_cast<double>(out.size());
}

void bm_response_head(benchmark::State& state) {
  const auto fields = tokenize(response_fields());
  message_head h;
  std::string out;
  response_params p;
  p.status = 200;
  p.request_id = "5f0e6c1b9a2d4e8f8c7b6a5d4e3f2a1b";
  p.framing = body_framing::length;
  p.content_length = 5120;
  std::size_t allocs = 0;
  bool warm = false;
  for (auto _ : state) {
    h.clear();
    for (const auto& f : fields) note_response_field(h, f);
    out.clear();
    write_client_response(out, h, p);
    benchmark::DoNotOptimize(out.data());
    if (!warm) {
      warm = true;
      allocs = g_allocations;
    }
  }
  state.counters["allocs_per_response"] = benchmark::Counter(
      static_cast<double>(g_allocations - allocs) / static_cast<double>(state.iterations()));
  state.counters["head_bytes"] = static_cast<double>(out.size());
}

BENCHMARK(bm_request_head);
BENCHMARK(bm_response_head);

}  // namespace
