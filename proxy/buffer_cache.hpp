// A per-thread cache of I/O buffer blocks for the sessions' receive buffers: a connection that
// goes idle gives its buffers back (an idle connection holds no read buffer) and the next
// request takes a warm block instead of calling malloc (measured: 4 malloc/free pairs per
// request were ~8% of the request path's instructions under callgrind).
#pragma once

#include "proxy/slab_heap.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <utility>
#include <vector>

namespace portico::proxy {

// The per-thread caches that keep freed memory for reuse (block caches, the string pool,
// coroutine frames) register a trim function here when a thread first uses them. The owning
// thread calls trim_all() periodically (a worker: every tick): each cache frees what lay unused
// in it (trim_mark), so that memory taken for a burst of requests goes back once the burst is
// over (an idle connection needs none of it).
class thread_caches {
 public:
  // Frees unused storage (all of it when `idle`); returns the bytes freed.
  using trim_fn = std::size_t (*)(bool idle);
  static void add(trim_fn f) { fns().push_back(f); }
  static std::size_t trim_all(bool idle) {
    std::size_t freed = 0;
    for (trim_fn f : fns()) freed += f(idle);
    return freed;
  }

 private:
  static std::vector<trim_fn>& fns() {
    thread_local std::vector<trim_fn> v;
    return v;
  }
};

// How many of a cache's storage units a trim keeps while the cache is in use: about 8 KiB of
// them, at least 2 and at most the cache's cap.
constexpr std::size_t kept_in_use(std::size_t unit_bytes, std::size_t cap) {
  return std::min(cap, std::max<std::size_t>(2, 8 * 1024 / unit_bytes));
}

// What a cache's trim (once per worker tick) frees. While the thread is busy, once every
// `busy_window` trims: half of what the cache holds beyond `keep` (what it holds at that moment
// lies unused; a cache sized for a past peak shrinks by halves, one that is still needed is
// refilled from the slabs at a cost of one slab_heap call per block, no more than a few per
// second). Once the thread is idle (no request for a few ticks, worker::trim_caches): all of
// it, which would otherwise pin the slabs it lies in (proxy/slab_heap.hpp). Nothing is counted
// per take or give.
struct trim_mark {
  static constexpr unsigned busy_window = 10;
  unsigned trims = 0;  // trims since the window began

  // How many of the `held` units to free now.
  std::size_t to_free(std::size_t held, std::size_t keep, bool idle) noexcept {
    if (idle) {
      trims = 0;
      return held;
    }
    if (++trims < busy_window) return 0;
    trims = 0;
    return held > keep ? (held - keep + 1) / 2 : 0;
  }
};

// Blocks come from slab_heap (apart from the malloc heap, proxy/slab_heap.hpp).
template <std::size_t BlockSize, std::size_t MaxBlocks>
class block_cache {
  static_assert(BlockSize <= slab_heap::max_block);

 public:
  static constexpr std::size_t block_size = BlockSize;
  static constexpr std::size_t max_blocks = MaxBlocks;
  static constexpr std::size_t kept = kept_in_use(BlockSize, MaxBlocks);

  [[gnu::always_inline]] static void* take() {
    auto& h = state();
    auto& c = h.v;
    if (c.empty()) [[unlikely]] return slab_heap::allocate(block_size);
    void* p = c.back();
    c.pop_back();
    return p;
  }
  [[gnu::always_inline]] static void give(void* p) {
    auto& c = state().v;
    if (c.size() < max_blocks) [[likely]] c.push_back(p);
    else slab_heap::deallocate(p, block_size);
  }
  // Frees what trim_mark says (half beyond `keep` once per window, everything when `idle`), so
  // a cache sized for a burst gives its memory back when the burst is over; returns how many
  // blocks it freed. Called every tick by the owning thread (thread_caches::trim_all, with
  // `kept`).
  static std::size_t trim(std::size_t keep, bool idle = false) {
    auto& h = state();
    const std::size_t n = h.mark.to_free(h.v.size(), keep, idle);
    // The bottom of the stack: the longest unused.
    for (std::size_t i = 0; i < n; ++i) slab_heap::deallocate(h.v[i], block_size);
    h.v.erase(h.v.begin(), h.v.begin() + static_cast<std::ptrdiff_t>(n));
    return n;
  }
  static std::size_t cached() { return state().v.size(); }

 private:
  struct holder {
    std::vector<void*> v;
    trim_mark mark;
    holder() { thread_caches::add([](bool idle) { return trim(kept, idle) * block_size; }); }
    ~holder() {
      for (void* p : v) slab_heap::deallocate(p, block_size);
    }
  };
  static holder& state() {
    thread_local holder h;
    return h;
  }
};

// Allocations up to BlockSize bytes come from the per-thread cache.
template <class T, std::size_t BlockSize = 32 * 1024, std::size_t MaxBlocks = 64>
struct recycling_allocator {
  using value_type = T;
  using cache = block_cache<BlockSize, MaxBlocks>;
  template <class U>
  struct rebind {
    using other = recycling_allocator<U, BlockSize, MaxBlocks>;
  };
  recycling_allocator() noexcept = default;
  template <class U>
  recycling_allocator(const recycling_allocator<U, BlockSize, MaxBlocks>&) noexcept {}

  T* allocate(std::size_t n) {
    if (n * sizeof(T) <= BlockSize) return static_cast<T*>(cache::take());
    return static_cast<T*>(::operator new(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n * sizeof(T) <= BlockSize) cache::give(p);
    else ::operator delete(p);
  }
  template <class U>
  bool operator==(const recycling_allocator<U, BlockSize, MaxBlocks>&) const noexcept { return true; }
  template <class U>
  bool operator!=(const recycling_allocator<U, BlockSize, MaxBlocks>&) const noexcept { return false; }
};

// How an object's size is rounded to its cache's block size: to glibc's chunk sizes (a chunk
// is 16-byte aligned with an 8-byte header), or to whole cache lines.
struct glibc_chunk_rounding {
  static constexpr std::size_t of(std::size_t n) { return (n + 8 + 15) / 16 * 16 - 8; }
};
struct cache_line_rounding {
  static constexpr std::size_t of(std::size_t n) { return (n + 63) / 64 * 64; }
};

// Single objects of T come from a per-thread cache of blocks of T's rounded size (an object
// held for long, such as an idle connection's wait, is not given a larger recycled block);
// arrays go to operator new.
template <class T, class Rounding, std::size_t MaxBlocks = 64>
struct object_allocator {
  using value_type = T;
  template <class U>
  struct rebind {
    using other = object_allocator<U, Rounding, MaxBlocks>;
  };
  object_allocator() noexcept = default;
  template <class U>
  object_allocator(const object_allocator<U, Rounding, MaxBlocks>&) noexcept {}
  // (The cache is named in the functions: object_allocator<void> is only rebound.)
  T* allocate(std::size_t n) {
    if (n == 1) return static_cast<T*>(block_cache<Rounding::of(sizeof(T)), MaxBlocks>::take());
    return static_cast<T*>(::operator new(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n == 1) block_cache<Rounding::of(sizeof(T)), MaxBlocks>::give(p);
    else ::operator delete(p);
  }
  template <class U>
  bool operator==(const object_allocator<U, Rounding, MaxBlocks>&) const noexcept { return true; }
  template <class U>
  bool operator!=(const object_allocator<U, Rounding, MaxBlocks>&) const noexcept { return false; }
};

// A T that exists only while in use (a parser during one request): an idle connection holds
// one pointer instead of the object. Storage comes from a per-thread block cache, so emplace()
// and reset() cost no malloc in steady state. Same interface as the std::optional it replaces.
template <class T, std::size_t MaxBlocks = 256>
class pooled_box {
 public:
  pooled_box() = default;
  pooled_box(const pooled_box&) = delete;
  pooled_box& operator=(const pooled_box&) = delete;
  ~pooled_box() { reset(); }

  template <class... Args>
  T& emplace(Args&&... args) {
    reset();
    void* mem = cache::take();
    try {
      p_ = ::new (mem) T(std::forward<Args>(args)...);
    } catch (...) {
      cache::give(mem);
      throw;
    }
    return *p_;
  }
  void reset() noexcept {
    if (p_ == nullptr) return;
    p_->~T();
    cache::give(p_);
    p_ = nullptr;
  }
  bool has_value() const noexcept { return p_ != nullptr; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  T* operator->() const noexcept { return p_; }
  T& operator*() const noexcept { return *p_; }

 private:
  using cache = block_cache<cache_line_rounding::of(sizeof(T)), MaxBlocks>;
  T* p_ = nullptr;
};

// Per-thread spare std::strings with their capacity: a connection going idle parks its output
// strings here and takes warm ones for its next request (no malloc, no memory while idle).
class string_pool {
 public:
  static constexpr std::size_t max_strings = 256;
  static constexpr std::size_t max_capacity = 4096;  // larger ones are freed

  static constexpr std::size_t kept = 16;  // while the thread is busy (trim_mark)

  // Empties `s`: its storage is parked, or freed when too large or the pool is full.
  static void park(std::string& s) {
    if (s.capacity() <= 15) return;  // small-string storage: nothing allocated
    auto& p = state();
    if (s.capacity() <= max_capacity && p.v.size() < max_strings)
      p.v.push_back(std::move(s));  // leaves `s` empty, in its small-string storage
    else
      std::string().swap(s);
  }
  // Gives `s` parked storage (emptied) when it has none.
  static void fill(std::string& s) noexcept {
    auto& p = state();
    if (p.v.empty() || s.capacity() > 15) return;
    s = std::move(p.v.back());
    p.v.pop_back();
    s.clear();
  }
  // As block_cache::trim, for the parked strings; returns the bytes freed.
  static std::size_t trim(bool idle) {
    auto& p = state();
    const std::size_t n = p.mark.to_free(p.v.size(), kept, idle);
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < n; ++i) bytes += p.v[i].capacity() + 1;
    p.v.erase(p.v.begin(), p.v.begin() + static_cast<std::ptrdiff_t>(n));
    return bytes;
  }

 private:
  struct pool {
    std::vector<std::string> v;
    trim_mark mark;
    pool() { thread_caches::add(&string_pool::trim); }
  };
  static pool& state() {
    thread_local pool p;
    return p;
  }
};

}  // namespace portico::proxy
