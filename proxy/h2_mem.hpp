// The allocator nghttp2 uses in Portico's HTTP/2 sessions (both sides): per-thread free lists
// by size class (32 bytes to 1 KiB) for its small per-stream blocks (stream state, outbound
// frames, copied header fields, HPACK entries), plain malloc for larger ones. glibc's
// per-thread cache keeps 7 blocks per size, too few for hundreds of streams in flight, so
// most of nghttp2's 27 allocations per gRPC call took malloc's slow path (bench/callgrind.sh
// --grpc, 64 x 10). Each list holds at most 96 KiB of free blocks (about 1 MiB per thread in
// all), trimmed every worker tick (thread_caches); the blocks come from slab_heap, larger ones
// from malloc. Under AddressSanitizer nothing is cached, so every block is checked.
#pragma once

#include <nghttp2/nghttp2.h>

#include "proxy/buffer_cache.hpp"
#include "proxy/sanitized.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>
#include <string_view>
#include <vector>

namespace portico::proxy {

nghttp2_mem* h2_mem();

// The same lists for Portico's own per-stream objects (the streams of both sides, made with
// std::allocate_shared): blocks 16-byte aligned.
void* h2_block_take(std::size_t n);
void h2_block_give(void* p) noexcept;

template <class T>
struct h2_block_allocator {
  using value_type = T;
  h2_block_allocator() = default;
  template <class U>
  h2_block_allocator(const h2_block_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    void* p = h2_block_take(n * sizeof(T));
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) noexcept { h2_block_give(p); }
  template <class U>
  bool operator==(const h2_block_allocator<U>&) const noexcept { return true; }
};

// The name/value array of one HEADERS frame to submit: on the stack for up to 32 fields
// (a response head or a gRPC request usually has under 16), past that on the heap. nghttp2
// copies the fields it is given.
class h2_nv_list {
 public:
  explicit h2_nv_list(std::size_t n) {
    if (n > inline_size) heap_.reserve(n);
  }
  void add(std::string_view n, std::string_view v) {
    const nghttp2_nv nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(n.data())),
                        reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), n.size(),
                        v.size(), NGHTTP2_NV_FLAG_NONE};
    if (heap_.capacity() == 0 && size_ < inline_size) {
      inline_[size_++] = nv;
      return;
    }
    if (heap_.empty()) heap_.assign(inline_, inline_ + size_);
    heap_.push_back(nv);
    size_ = heap_.size();
  }
  const nghttp2_nv* data() const { return heap_.empty() ? inline_ : heap_.data(); }
  std::size_t size() const { return size_; }

 private:
  static constexpr std::size_t inline_size = 32;
  nghttp2_nv inline_[inline_size];
  std::vector<nghttp2_nv> heap_;
  std::size_t size_ = 0;
};

// "xxx\r\n": a chunk's size line, in lower-case hex, into `out` (at least 20 bytes); returns
// its length. snprintf cost ~200 instructions per DATA frame (bench/callgrind.sh --grpc).
inline std::size_t h2_chunk_size_line(std::size_t n, char* out) {
  char tmp[16];
  std::size_t k = 0;
  do {
    tmp[k++] = "0123456789abcdef"[n & 0xf];
    n >>= 4;
  } while (n != 0);
  for (std::size_t i = 0; i < k; ++i) out[i] = tmp[k - 1 - i];
  out[k] = '\r';
  out[k + 1] = '\n';
  return k + 2;
}

// A status code (100-999) as its three digits into `out`.
inline void h2_status_digits(unsigned code, char* out) {
  out[0] = static_cast<char>('0' + code / 100 % 10);
  out[1] = static_cast<char>('0' + code / 10 % 10);
  out[2] = static_cast<char>('0' + code % 10);
}

// Per-thread spare containers (strings, field lists) of the streams of both sides: a stream
// gives its buffers back with their capacity when it ends and the next stream takes them, so
// its head, body and field buffers cost no malloc (bench/callgrind.sh --grpc, 64 x 10: about
// a dozen allocations per call came from these). Only buffers of `min_bytes` to `max_bytes`
// are kept, so that a spare taken is large enough for a usual head (a small one would be
// grown, one malloc and a copy more than none); at most `max_spares` per type and thread
// (512 KiB of strings), trimmed every worker tick like the other per-thread caches
// (thread_caches: all of them once the worker is idle). Under AddressSanitizer nothing is
// kept.
template <class C>
class h2_spares {
 public:
  static constexpr std::size_t max_spares = 512;
  static constexpr std::size_t min_bytes = 256;
  static constexpr std::size_t max_bytes = 1024;

  // Gives `c` a spare's storage (emptied) when it has none of its own.
  static void take(C& c) noexcept {
    if (!enabled || c.capacity() > inline_capacity()) return;
    list* p = pool();
    if (p == nullptr || p->n == 0) return;
    c = std::move(p->items[--p->n]);
    c.clear();
  }
  // Empties `c`: its storage is kept for another stream, or freed.
  static void give(C& c) noexcept {
    if (!enabled || c.capacity() <= inline_capacity()) return;
    list* p = pool();
    const std::size_t bytes = c.capacity() * sizeof(typename C::value_type);
    if (p == nullptr || p->n == max_spares || bytes < min_bytes || bytes > max_bytes) {
      C().swap(c);
      return;
    }
    p->items[p->n++] = std::move(c);
    c = C();
  }

 private:
  static constexpr bool enabled = !address_sanitized;
  static std::size_t inline_capacity() noexcept { return C().capacity(); }
  static constexpr std::size_t kept = 16;  // while the thread is busy (trim_mark)
  struct list {
    C items[max_spares];
    std::size_t n = 0;
    trim_mark mark;
    list() { thread_caches::add(&trim); }
    ~list() { gone() = true; }
  };
  // The spares trim_mark says go (the longest unused: the bottom of the stack); returns the
  // bytes freed.
  static std::size_t trim(bool idle) {
    list* p = pool();
    if (p == nullptr) return 0;
    const std::size_t drop = p->mark.to_free(p->n, kept, idle);
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < drop; ++i) {
      bytes += p->items[i].capacity() * sizeof(typename C::value_type);
      C().swap(p->items[i]);
    }
    std::move(p->items + drop, p->items + p->n, p->items);
    p->n -= drop;
    return bytes;
  }
  // Trivially destructible: still readable while the thread's other objects are destroyed.
  static bool& gone() noexcept {
    static thread_local bool g = false;
    return g;
  }
  // Null once the thread's list is gone (a buffer given back then is freed).
  static list* pool() noexcept {
    if (gone()) return nullptr;
    static thread_local list l;
    return &l;
  }
};

}  // namespace portico::proxy
