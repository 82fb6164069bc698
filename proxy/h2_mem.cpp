#include "proxy/h2_mem.hpp"

#include <nghttp2/nghttp2.h>

#include "proxy/buffer_cache.hpp"
#include "proxy/sanitized.hpp"
#include "proxy/slab_heap.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <new>

namespace portico::proxy {

namespace {

constexpr bool caching = !address_sanitized;

// Each block starts with this header; the caller's part follows, 16-byte aligned as malloc's.
struct alignas(16) block_header {
  std::uint64_t size;   // what the block holds for the caller
  std::uint64_t cls;    // size class, or `big`
};
// Steps of 1.5x and 2x, so that a block wastes a fifth of its size on average. Larger
// blocks (nghttp2's session, its frame and HPACK buffers: per connection, not per stream) are
// allocated at their size: with classes up to 4 KiB an idle connection held 1.3 KiB more
// (bench/h2_idle_memory.py).
constexpr std::size_t sizes[] = {32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024};
constexpr std::size_t class_count = std::size(sizes);
constexpr std::uint64_t big = class_count;
constexpr std::size_t list_bytes = 96 * 1024;

constexpr std::size_t class_size(std::size_t c) { return sizes[c]; }

std::uint64_t class_of(std::size_t n) {
  if (n > sizes[class_count - 1]) return big;
  std::size_t c = 0;
  while (n > sizes[c]) ++c;
  return c;
}

struct free_block {
  free_block* next;
};

// Trivially destructible, so it stays usable after the thread's guard has run.
struct lists {
  free_block* head[class_count];
  std::uint32_t count[class_count];
  trim_mark marks[class_count];
  bool registered;  // the guard and the trim are set up for this thread
  bool closed;
};
thread_local lists tl{};

// Class blocks come from slab_heap (apart from the malloc heap, as the other per-thread
// caches' blocks), large ones from malloc.
void* block_alloc(std::uint64_t c, std::size_t cap) {
  try {
    return c == big ? std::malloc(sizeof(block_header) + cap)
                    : slab_heap::allocate(sizeof(block_header) + cap);
  } catch (const std::bad_alloc&) {
    return nullptr;  // nghttp2 expects null
  }
}

void block_free(block_header* h) {
  if (h->cls == big) std::free(h);
  else slab_heap::deallocate(h, sizeof(block_header) + class_size(h->cls));
}

void pop_free(std::size_t c) {
  free_block* b = tl.head[c];
  tl.head[c] = b->next;
  --tl.count[c];
  block_free(reinterpret_cast<block_header*>(b) - 1);
}

struct guard {
  ~guard() {
    tl.closed = true;
    for (std::size_t c = 0; c < class_count; ++c)
      while (tl.head[c] != nullptr) pop_free(c);
  }
};

// Worker tick (thread_caches): the free blocks trim_mark says go, per class.
std::size_t trim(bool idle) {
  if (tl.closed) return 0;
  std::size_t freed = 0;
  for (std::size_t c = 0; c < class_count; ++c) {
    const std::size_t keep = kept_in_use(class_size(c), list_bytes / class_size(c));
    for (std::size_t n = tl.marks[c].to_free(tl.count[c], keep, idle); n > 0; --n) {
      pop_free(c);
      freed += sizeof(block_header) + class_size(c);
    }
  }
  return freed;
}

void setup_thread() {
  static thread_local guard g;  // the lists are emptied at thread exit
  (void)g;
  thread_caches::add(&trim);
  tl.registered = true;
}

void* take(std::size_t n, void*) {
  const std::uint64_t c = class_of(n);
  if (caching && c != big && tl.head[c] != nullptr) {
    free_block* b = tl.head[c];
    tl.head[c] = b->next;
    --tl.count[c];
    return b;
  }
  const std::size_t cap = c == big ? n : class_size(c);
  auto* h = static_cast<block_header*>(block_alloc(c, cap));
  if (h == nullptr) return nullptr;
  if (caching && c != big && !tl.registered && !tl.closed) setup_thread();
  h->size = cap;
  h->cls = c;
  return h + 1;
}

void give(void* p, void*) {
  if (p == nullptr) return;
  auto* h = static_cast<block_header*>(p) - 1;
  const std::uint64_t c = h->cls;
  if (caching && c != big && tl.registered && !tl.closed &&
      tl.count[c] < list_bytes / class_size(c)) {
    auto* b = static_cast<free_block*>(p);
    b->next = tl.head[c];
    tl.head[c] = b;
    ++tl.count[c];
    return;
  }
  block_free(h);
}

void* take_zeroed(std::size_t n, std::size_t size, void* u) {
  if (size != 0 && n > SIZE_MAX / size) return nullptr;
  void* p = take(n * size, u);
  if (p != nullptr) std::memset(p, 0, n * size);
  return p;
}

void* resize(void* p, std::size_t n, void* u) {
  if (p == nullptr) return take(n, u);
  if (n == 0) {
    give(p, u);
    return nullptr;
  }
  const auto* h = static_cast<block_header*>(p) - 1;
  if (n <= h->size) return p;
  void* q = take(n, u);
  if (q == nullptr) return nullptr;
  std::memcpy(q, p, h->size);
  give(p, u);
  return q;
}

nghttp2_mem mem{nullptr, take, give, take_zeroed, resize};

}  // namespace

nghttp2_mem* h2_mem() { return &mem; }

void* h2_block_take(std::size_t n) { return take(n, nullptr); }

void h2_block_give(void* p) noexcept { give(p, nullptr); }

}  // namespace portico::proxy
