// Replaces the global operator new/delete with a counting pair, so a benchmark can report
// heap allocations per iteration. Include it in exactly one translation unit of a benchmark
// executable (each *_bench.cpp is its own executable).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>

// The replaced operators pair malloc/free; GCC cannot see that through inlining.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace portico::bench {
inline std::size_t g_allocations = 0;
}

void* operator new(std::size_t n) {
  ++portico::bench::g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
