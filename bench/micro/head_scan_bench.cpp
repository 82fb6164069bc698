// Scanning a request head that arrives in small pieces (the security review: a 32 KiB head
// sent 2 bytes at a time). The session calls the scanner after every read with everything
// received so far. BM_resumable_scanner is what it does now; BM_rescan_from_start is what
// it did before (scan_head on the whole buffer each time), for comparison.
#include <benchmark/benchmark.h>

#include <string>

#include "proxy/request_check.hpp"

namespace {

std::string big_head(std::size_t bytes) {
  std::string h = "GET / HTTP/1.1\r\nHost: a.test\r\n";
  while (h.size() + 40 < bytes) h += "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
  return h + "\r\n";
}

void BM_resumable_scanner(benchmark::State& st) {
  const std::string head = big_head(32 * 1024);
  const auto piece = static_cast<std::size_t>(st.range(0));
  for (auto _ : st) {
    portico::proxy::head_scanner s(64 * 1024, 0);
    portico::proxy::head_scan_result r;
    for (std::size_t n = piece; n < head.size() + piece; n += piece) {
      r = s.scan(std::string_view(head).substr(0, n < head.size() ? n : head.size()));
      if (r.state != portico::proxy::head_scan::incomplete) break;
    }
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_resumable_scanner)->Arg(2)->Arg(64)->Arg(32 * 1024);

void BM_rescan_from_start(benchmark::State& st) {
  const std::string head = big_head(32 * 1024);
  const auto piece = static_cast<std::size_t>(st.range(0));
  for (auto _ : st) {
    portico::proxy::head_scan_result r;
    for (std::size_t n = piece; n < head.size() + piece; n += piece) {
      r = portico::proxy::scan_head(std::string_view(head).substr(0, n < head.size() ? n : head.size()),
                                    64 * 1024);
      if (r.state != portico::proxy::head_scan::incomplete) break;
    }
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_rescan_from_start)->Arg(2)->Arg(64)->Arg(32 * 1024);

}  // namespace
