// A per-thread cache of I/O buffer blocks for the sessions' receive buffers: a connection that
// goes idle gives its buffers back (an idle connection holds no read buffer) and the next
// request takes a warm block instead of calling malloc (measured: 4 malloc/free pairs per
// request were ~8% of the request path's instructions under callgrind).
#pragma once

#include <algorithm>
#include <cstddef>
#include <new>
#include <string>
#include <utility>
#include <vector>

namespace portico::proxy {

template <std::size_t BlockSize, std::size_t MaxBlocks>
class block_cache {
 public:
  static constexpr std::size_t block_size = BlockSize;
  static constexpr std::size_t max_blocks = MaxBlocks;

  static void* take() {
    auto& h = state();
    auto& c = h.v;
    if (c.empty()) return ::operator new(block_size);
    void* p = c.back();
    c.pop_back();
    if (c.size() < h.low) h.low = c.size();
    return p;
  }
  static void give(void* p) {
    auto& c = state().v;
    if (c.size() < max_blocks) c.push_back(p);
    else ::operator delete(p);
  }
  // Frees, beyond the first `keep`, the blocks that no take() reached since the last trim
  // (they lay below the cache's low-water mark all that time), so a cache sized for a burst
  // gives its memory back when the burst is over. Called periodically by the owning thread.
  static void trim(std::size_t keep) {
    auto& h = state();
    if (h.low > keep) {
      // The bottom of the stack: the longest unused.
      const std::size_t n = std::min(h.low - keep, h.v.size());
      for (std::size_t i = 0; i < n; ++i) ::operator delete(h.v[i]);
      h.v.erase(h.v.begin(), h.v.begin() + static_cast<std::ptrdiff_t>(n));
    }
    h.low = h.v.size();
  }
  static std::size_t cached() { return state().v.size(); }

 private:
  struct holder {
    std::vector<void*> v;
    std::size_t low = 0;  // the fewest blocks held since the last trim()
    ~holder() {
      for (void* p : v) ::operator delete(p);
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

  // Empties `s`: its storage is parked, or freed when too large or the pool is full.
  static void park(std::string& s) {
    if (s.capacity() <= 15) return;  // small-string storage: nothing allocated
    auto& v = spares_;
    if (s.capacity() <= max_capacity && v.size() < max_strings)
      v.push_back(std::move(s));  // leaves `s` empty, in its small-string storage
    else
      std::string().swap(s);
  }
  // Gives `s` parked storage (emptied) when it has none.
  static void fill(std::string& s) noexcept {
    auto& v = spares_;
    if (v.empty() || s.capacity() > 15) return;
    s = std::move(v.back());
    v.pop_back();
    s.clear();
  }

 private:
  static inline thread_local std::vector<std::string> spares_;
};

}  // namespace portico::proxy
