// Coroutine frames of the HTTP/1.1 session's request path come from a per-thread pool.
//
// Asio 1.81 recycles an awaitable's frame only up to 1,020 bytes (255 chunks of 4 bytes,
// thread_info_base::allocate); larger frames go to aligned_alloc and free every time. The
// session's per-request coroutines (serve, forward, attempt, read_response_head,
// relay_response, relay_body, ...) are larger, so a keep-alive request cost 8.6 memalign and
// as many free calls, about 4,400 instructions of its 26,200 (bench/callgrind.sh,
// 2026-12-07; bench/causes.md keepalive-64). Here every coroutine member of http_session gets
// a promise type that is Asio's own awaitable_frame with operator new/delete from free lists
// by size class (64 bytes apart, up to 8 KiB, taken from slab_heap and given back to it past
// the per-thread cap or when trimmed; larger frames go to malloc). A frame is freed on the
// thread that allocated it (a session lives on one worker), so the lists need no lock.
//
// The promise type adds no member, so its layout and alignment are those of
// awaitable_frame<T, Executor>, which Asio's handles (from_promise on the base) rely on.
#pragma once

#include "proxy/buffer_cache.hpp"

#include <boost/asio/awaitable.hpp>

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <type_traits>
#include <utility>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define PORTICO_FRAME_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define PORTICO_FRAME_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define PORTICO_FRAME_POISON(p, n) ((void)(p), (void)(n))
#define PORTICO_FRAME_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace portico::proxy {

class http_session;

class frame_pool {
 public:
  static constexpr std::size_t granule = 64;
  static constexpr std::size_t max_frame = 8192;
  // What one thread keeps at most in its free lists: a worker with 256 requests in flight,
  // each with five frames of about 1.5 KiB, reuses all of them.
  static constexpr std::size_t max_kept_bytes = 2 * 1024 * 1024;

  // The fast paths (a frame from, or back to, this thread's list) are inlined into each
  // coroutine's ramp; the rest is out of line. The thread's state is plain thread-local data
  // (no initialization guard on the fast path); its first frame, which always takes the slow
  // path, sets it up (setup()).
  [[gnu::always_inline]] static void* allocate(std::size_t size) {
    if (size <= max_frame && state_.live) [[likely]] {
      const std::size_t c = size_class(size);
      size_list& l = state_.lists[c];
      if (block* b = l.head) [[likely]] {
        PORTICO_FRAME_UNPOISON(b, class_bytes(c));
        l.head = b->next;
        --l.count;
        state_.kept -= class_bytes(c);
        return b;
      }
    }
    return allocate_slow(size);
  }

  [[gnu::always_inline]] static void deallocate(void* m, std::size_t size) noexcept {
    if (size <= max_frame && state_.live) [[likely]] {
      const std::size_t c = size_class(size);
      if (state_.kept + class_bytes(c) <= max_kept_bytes) [[likely]] {
        auto* b = static_cast<block*>(m);
        size_list& l = state_.lists[c];
        b->next = l.head;
        l.head = b;
        ++l.count;
        state_.kept += class_bytes(c);
        PORTICO_FRAME_POISON(b, class_bytes(c));
        return;
      }
    }
    deallocate_slow(m, size);
  }

  // Bytes this thread holds in its free lists, and how many pooled-size frames it has taken
  // from the slabs (tests).
  static std::size_t kept_bytes() { return state_.kept; }
  static std::size_t heap_blocks() { return state_.heap_blocks; }

  // Frees, in each size class, half of the free frames beyond about 8 KiB of them (at least 2)
  // once every window of trims, or all of them when the thread is idle (trim_mark); returns the
  // bytes freed. Registered with thread_caches, so a worker's tick calls it: the frames of a
  // burst of requests do not stay.
  static std::size_t trim(bool idle) {
    if (!state_.live) return 0;
    std::size_t freed = 0;
    for (std::size_t c = 0; c < classes; ++c) {
      const std::size_t keep = std::max<std::size_t>(2, 8192 / class_bytes(c));
      size_list& l = state_.lists[c];
      for (std::size_t n = l.mark.to_free(l.count, keep, idle); n > 0; --n) {
        block* b = l.head;
        PORTICO_FRAME_UNPOISON(b, class_bytes(c));
        l.head = b->next;
        slab_heap::deallocate(b, class_bytes(c));
        --l.count;
        state_.kept -= class_bytes(c);
        freed += class_bytes(c);
      }
    }
    return freed;
  }

 private:
  struct block {
    block* next;
  };
  static constexpr std::size_t classes = max_frame / granule;
  struct size_list {  // the free frames of one size class
    block* head;
    std::uint32_t count;
    trim_mark mark;
  };
  // Trivially constructible and destructible: zero until setup(), readable to the thread's end.
  struct thread_state {
    size_list lists[classes];
    std::size_t kept;
    std::size_t heap_blocks;
    bool live;  // set up, and the thread not ending: frames go to and come from the lists
    bool ended;
  };
  // At thread exit the lists go back to the slabs; a frame freed later on this thread (an
  // io_context destroyed after its pool) goes to them directly (live is false again).
  struct janitor {
    ~janitor() {
      state_.live = false;
      state_.ended = true;
      for (std::size_t c = 0; c < classes; ++c) {
        while (block* b = state_.lists[c].head) {
          PORTICO_FRAME_UNPOISON(b, class_bytes(c));
          state_.lists[c].head = b->next;
          slab_heap::deallocate(b, class_bytes(c));
        }
        state_.lists[c].count = 0;
      }
      state_.kept = 0;
    }
  };

  [[gnu::noinline]] static void setup() {
    static thread_local janitor j;  // its destructor runs at thread exit
    (void)j;
    thread_caches::add(&frame_pool::trim);
    state_.live = true;
  }
  [[gnu::noinline]] static void* allocate_slow(std::size_t size) {
    if (size > max_frame) {
      void* m = std::malloc(size);
      if (m == nullptr) throw std::bad_alloc();
      return m;
    }
    if (!state_.live && !state_.ended) setup();
    if (state_.live) ++state_.heap_blocks;
    return slab_heap::allocate(class_bytes(size_class(size)));
  }
  [[gnu::noinline]] static void deallocate_slow(void* m, std::size_t size) noexcept {
    if (size > max_frame) return std::free(m);
    slab_heap::deallocate(m, class_bytes(size_class(size)));
  }

  static std::size_t size_class(std::size_t size) {
    return size == 0 ? 0 : (size - 1) / granule;
  }
  static constexpr std::size_t class_bytes(std::size_t c) { return (c + 1) * granule; }

  static inline thread_local thread_state state_{};
};

// Asio's promise type with the pool's operator new/delete. An awaitable's await_suspend takes
// only a handle typed for awaitable_frame<U, Executor>: co_await of one gets that handle.
template <class T, class Executor>
class pooled_frame : public boost::asio::detail::awaitable_frame<T, Executor> {
  using base = boost::asio::detail::awaitable_frame<T, Executor>;

 public:
  static void* operator new(std::size_t size) { return frame_pool::allocate(size); }
  static void operator delete(void* p, std::size_t size) noexcept {
    frame_pool::deallocate(p, size);
  }

  using base::await_transform;
  template <class U>
  auto await_transform(boost::asio::awaitable<U, Executor> a) const {
    struct awaiter {
      boost::asio::awaitable<U, Executor> a;
      bool await_ready() const noexcept { return false; }
      void await_suspend(std::coroutine_handle<pooled_frame> h) {
        a.await_suspend(std::coroutine_handle<base>::from_address(h.address()));
      }
      U await_resume() { return a.await_resume(); }
    };
    return awaiter{base::await_transform(std::move(a))};
  }
};

// The classes whose coroutine member functions (const or not) returning an awaitable get
// pooled frames.
template <class C>
inline constexpr bool uses_frame_pool = false;
template <>
inline constexpr bool uses_frame_pool<http_session> = true;
}  // namespace portico::proxy

template <class T, class Executor, class C, class... Args>
  requires portico::proxy::uses_frame_pool<std::remove_const_t<C>>
struct std::coroutine_traits<boost::asio::awaitable<T, Executor>, C&, Args...> {
  using promise_type = portico::proxy::pooled_frame<T, Executor>;
  static_assert(sizeof(promise_type) == sizeof(boost::asio::detail::awaitable_frame<T, Executor>) &&
                alignof(promise_type) == alignof(boost::asio::detail::awaitable_frame<T, Executor>));
};
