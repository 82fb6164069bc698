// limit_req (burst, nodelay) and limit_conn as nginx counts them, shared by every worker.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "proxy/rate_limit.hpp"

namespace portico::proxy {
namespace {

// nginx: a new client's first request leaves the bucket empty, so burst + 1 requests pass at
// once; then one more each 1/rate.
TEST(rate_limits, burst_plus_one_at_once_then_the_rate) {
  rate_limits t;
  const unsigned rps = 2, burst = rps * 5;
  unsigned passed = 0;
  for (int i = 0; i < 30; ++i) passed += t.admit("zsA", rps, 1000.0, burst, 1000) ? 1 : 0;
  EXPECT_EQ(passed, burst + 1);
  EXPECT_FALSE(t.admit("zsA", rps, 1000.0, burst, 1499));  // half a request drained
  EXPECT_TRUE(t.admit("zsA", rps, 1000.0, burst, 1500));   // one drained
  EXPECT_FALSE(t.admit("zsA", rps, 1000.0, burst, 1500));
  // Another client has its own bucket.
  EXPECT_TRUE(t.admit("zsB", rps, 1000.0, burst, 1500));
  // Drained but seen within the minute: `burst` at once (nginx keeps the node).
  passed = 0;
  for (int i = 0; i < 30; ++i) passed += t.admit("zsA", rps, 1000.0, burst, 20000) ? 1 : 0;
  EXPECT_EQ(passed, burst);
  // A minute after its last request, drained: a new client again, burst + 1.
  passed = 0;
  for (int i = 0; i < 30; ++i) passed += t.admit("zsA", rps, 1000.0, burst, 80000) ? 1 : 0;
  EXPECT_EQ(passed, burst + 1);
}

TEST(rate_limits, per_minute) {
  rate_limits t;
  unsigned passed = 0;
  for (int i = 0; i < 10; ++i) passed += t.admit("m", 1, 60000.0, 1, 0) ? 1 : 0;
  EXPECT_EQ(passed, 2u);
  EXPECT_FALSE(t.admit("m", 1, 60000.0, 1, 59999));
  EXPECT_TRUE(t.admit("m", 1, 60000.0, 1, 60000));
}

TEST(rate_limits, connections_are_counted_until_released) {
  rate_limits t;
  {
    conn_slot a, b;
    ASSERT_TRUE(t.acquire("c", 2, 0));
    a = conn_slot(t, "c");
    ASSERT_TRUE(t.acquire("c", 2, 0));
    b = conn_slot(t, "c");
    EXPECT_FALSE(t.acquire("c", 2, 0));
    a.reset();
    EXPECT_TRUE(t.acquire("c", 2, 0));
    t.release("c");
  }
  EXPECT_TRUE(t.acquire("c", 1, 0));  // both slots were released
}

// N threads draw from one budget: the total admitted is the limit, not N times it.
TEST(rate_limits, workers_share_one_budget) {
  rate_limits t;
  std::atomic<unsigned> passed{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w)
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i)
        if (t.admit("shared", 10, 1000.0, 50, 5000)) ++passed;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(passed.load(), 51u);
}

// A flood of distinct addresses: memory stays bounded, drained entries make room.
TEST(rate_limits, state_stays_bounded_under_a_flood_of_addresses) {
  rate_limits t;
  const std::size_t cap = rate_limits::shards * rate_limits::shard_capacity;
  for (std::size_t i = 0; i < cap * 2; ++i) {
    const std::string ip = "10." + std::to_string(i >> 16) + "." + std::to_string((i >> 8) & 255) +
                           "." + std::to_string(i & 255);
    EXPECT_TRUE(t.admit("zs" + ip, 1, 1000.0, 5, static_cast<std::int64_t>(i)));
  }
  EXPECT_LE(t.size(), cap);
  EXPECT_GT(t.size(), cap / 4);
}

}  // namespace
}  // namespace portico::proxy
