// Coroutine frames of the HTTP/1.1 session's request path come from a per-thread pool.
//
// Asio 1.81 recycles an awaitable's frame only up to 1,020 bytes (255 chunks of 4 bytes,
// thread_info_base::allocate); larger frames go to aligned_alloc and free every time. The
// session's per-request coroutines (serve, forward, attempt, read_response_head,
// relay_response, relay_body, ...) are larger, so a keep-alive request cost 8.6 memalign and
// as many free calls, about 4,400 instructions of its 26,200 (bench/callgrind.sh,
// 2026-12-07; bench/causes.md keepalive-64). Here every coroutine member of http_session gets
// a promise type that is Asio's own awaitable_frame with operator new/delete from free lists
// by size class (64 bytes apart, up to 8 KiB; larger frames and frames past the per-thread
// cap go to the heap as before). A frame is freed on the thread that allocated it (a session
// lives on one worker), so the lists need no lock.
//
// The promise type adds no member, so its layout and alignment are those of
// awaitable_frame<T, Executor>, which Asio's handles (from_promise on the base) rely on.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <coroutine>
#include <cstddef>
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

  static void* allocate(std::size_t size) {
    if (size <= max_frame && !gone_) {
      frame_pool& p = local();
      const std::size_t c = size_class(size);
      if (block* b = p.free_[c]) {
        PORTICO_FRAME_UNPOISON(b, class_bytes(c));
        p.free_[c] = b->next;
        p.kept_ -= class_bytes(c);
        return b;
      }
      size = class_bytes(c);
      ++p.heap_blocks_;
    }
    void* m = std::malloc(size);
    if (m == nullptr) throw std::bad_alloc();
    return m;
  }

  static void deallocate(void* m, std::size_t size) noexcept {
    if (size <= max_frame && !gone_) {
      frame_pool& p = local();
      const std::size_t c = size_class(size);
      if (p.kept_ + class_bytes(c) <= max_kept_bytes) {
        auto* b = static_cast<block*>(m);
        b->next = p.free_[c];
        p.free_[c] = b;
        p.kept_ += class_bytes(c);
        PORTICO_FRAME_POISON(b, class_bytes(c));
        return;
      }
    }
    std::free(m);
  }

  // Bytes this thread holds in its free lists, and how many pooled-size frames it has taken
  // from the heap (tests).
  static std::size_t kept_bytes() { return gone_ ? 0 : local().kept_; }
  static std::size_t heap_blocks() { return gone_ ? 0 : local().heap_blocks_; }

  frame_pool() = default;
  frame_pool(const frame_pool&) = delete;
  frame_pool& operator=(const frame_pool&) = delete;
  // At thread exit the lists go back to the heap; a frame freed later on this thread (an
  // io_context destroyed after its pool) goes to the heap directly (gone_).
  ~frame_pool() {
    gone_ = true;
    for (std::size_t c = 0; c < classes; ++c) {
      while (block* b = free_[c]) {
        PORTICO_FRAME_UNPOISON(b, class_bytes(c));
        free_[c] = b->next;
        std::free(b);
      }
    }
  }

 private:
  struct block {
    block* next;
  };
  static constexpr std::size_t classes = max_frame / granule;

  static std::size_t size_class(std::size_t size) {
    return size == 0 ? 0 : (size - 1) / granule;
  }
  static constexpr std::size_t class_bytes(std::size_t c) { return (c + 1) * granule; }

  static frame_pool& local() {
    static thread_local frame_pool pool;
    return pool;
  }

  block* free_[classes] = {};
  std::size_t kept_ = 0;
  std::size_t heap_blocks_ = 0;
  static inline thread_local bool gone_ = false;  // trivially destructible: readable to the end
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
