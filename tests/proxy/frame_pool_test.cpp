// The request coroutines' frames come from proxy/frame_pool.hpp's per-thread free lists.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <vector>

#include "proxy/frame_pool.hpp"
#include "proxy/http_session.hpp"

namespace portico::proxy {
namespace {
struct chain;
}  // namespace
template <>
inline constexpr bool uses_frame_pool<chain> = true;

namespace {
namespace asio = boost::asio;
using executor = asio::io_context::executor_type;
template <class T>
using task = asio::awaitable<T, executor>;

// A request-like chain of member coroutines: each holds a buffer larger than the 1,020 bytes
// Asio recycles itself, and waits on a timer (a real suspension) before returning.
struct chain {
  asio::io_context& io;

  task<int> leaf(int x) const {
    char scratch[1500];
    scratch[x % sizeof scratch] = static_cast<char>(x);
    asio::steady_timer t(io, std::chrono::milliseconds(0));
    co_await t.async_wait(asio::use_awaitable_t<executor>{});
    co_await t.async_wait(asio::deferred);
    co_return x + scratch[x % sizeof scratch] - static_cast<char>(x) + 1;
  }
  task<int> middle(int x) {
    char scratch[1200];
    scratch[0] = 1;
    const int a = co_await leaf(x);
    co_return a + co_await leaf(a) + scratch[0] - 1;
  }
  task<void> thrower() {
    co_await leaf(0);
    throw std::runtime_error("from a pooled frame");
  }
};

int run_chain(asio::io_context& io, int x) {
  chain c{io};
  std::future<int> f = asio::co_spawn(io, c.middle(x), asio::use_future);
  io.restart();
  io.run();
  return f.get();
}

TEST(frame_pool, http_session_coroutines_use_it) {
  using promise = std::coroutine_traits<asio::awaitable<bool, session_executor>,
                                        http_session&>::promise_type;
  EXPECT_TRUE((std::is_same_v<promise, pooled_frame<bool, session_executor>>));
  using const_promise = std::coroutine_traits<asio::awaitable<int, session_executor>,
                                              const http_session&, int>::promise_type;
  EXPECT_TRUE((std::is_same_v<const_promise, pooled_frame<int, session_executor>>));
}

TEST(frame_pool, frames_are_reused_after_the_first_request) {
  asio::io_context io(1);
  const std::size_t heap_before = frame_pool::heap_blocks();
  EXPECT_EQ(run_chain(io, 5), (5 + 1) + (6 + 1));
  const std::size_t heap_first = frame_pool::heap_blocks();
  EXPECT_GT(heap_first, heap_before);  // the chain's frames were the pool's
  EXPECT_GT(frame_pool::kept_bytes(), 1000u);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(run_chain(io, i), (i + 1) + (i + 2));
  EXPECT_EQ(frame_pool::heap_blocks(), heap_first);  // every later frame came from the lists
}

TEST(frame_pool, an_exception_crosses_pooled_frames) {
  asio::io_context io(1);
  chain c{io};
  std::future<void> f = asio::co_spawn(io, c.thrower(), asio::use_future);
  io.run();
  EXPECT_THROW(f.get(), std::runtime_error);
}

TEST(frame_pool, blocks_by_size_class_and_large_ones_pass_through) {
  void* a = frame_pool::allocate(1100);
  const std::size_t kept = frame_pool::kept_bytes();
  frame_pool::deallocate(a, 1100);
  EXPECT_EQ(frame_pool::kept_bytes(), kept + 1152);  // 1,100 rounded up to 64 bytes
  void* b = frame_pool::allocate(1120);              // the same class
  EXPECT_EQ(a, b);
  EXPECT_EQ(frame_pool::kept_bytes(), kept);
  frame_pool::deallocate(b, 1120);
  void* big = frame_pool::allocate(frame_pool::max_frame + 1);
  frame_pool::deallocate(big, frame_pool::max_frame + 1);
  EXPECT_EQ(frame_pool::kept_bytes(), kept + 1152);  // not kept
}

TEST(frame_pool, a_thread_keeps_at_most_its_cap) {
  std::thread t([] {
    std::vector<void*> blocks;
    for (std::size_t i = 0; i < frame_pool::max_kept_bytes / 4096 + 50; ++i)
      blocks.push_back(frame_pool::allocate(4096));
    for (void* b : blocks) frame_pool::deallocate(b, 4096);
    EXPECT_EQ(frame_pool::kept_bytes(), frame_pool::max_kept_bytes);
  });
  t.join();
}

// trim(): once per window of busy trims, half of a class's free frames beyond those kept; all
// of them when the thread is idle (a worker calls it every tick through thread_caches).
TEST(frame_pool, trim_halves_the_free_frames_and_frees_them_all_when_idle) {
  std::thread t([] {
    std::vector<void*> frames;
    for (int i = 0; i < 40; ++i) frames.push_back(frame_pool::allocate(2000));  // 2,048 class
    for (void* f : frames) frame_pool::deallocate(f, 2000);
    ASSERT_EQ(frame_pool::kept_bytes(), 40u * 2048);
    for (unsigned i = 1; i < trim_mark::busy_window; ++i) EXPECT_EQ(frame_pool::trim(false), 0u);
    // 4 are kept (8 KiB of 2 KiB frames); half of the other 36 go.
    EXPECT_EQ(frame_pool::trim(false), 18u * 2048);
    EXPECT_EQ(frame_pool::kept_bytes(), 22u * 2048);
    EXPECT_EQ(frame_pool::trim(true), 22u * 2048);
    EXPECT_EQ(frame_pool::kept_bytes(), 0u);
    // Frames come again (from the slabs) and are kept again.
    void* f = frame_pool::allocate(2000);
    frame_pool::deallocate(f, 2000);
    EXPECT_EQ(frame_pool::kept_bytes(), 2048u);
  });
  t.join();
}

}  // namespace
}  // namespace portico::proxy
