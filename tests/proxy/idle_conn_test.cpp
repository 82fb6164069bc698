#include "proxy/idle_conn.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>

#include "proxy/http_session.hpp"
#include "proxy/server_options.hpp"
#include "proxy/worker.hpp"

using namespace portico::proxy;
using namespace std::chrono_literals;
using tcp = boost::asio::ip::tcp;

namespace {

// What an idle keep-alive connection holds besides the kernel's socket and Asio's descriptor
// state. glibc serves it from its 240-byte size class at most (the whole session kept
// between requests: 1,650 bytes, bench/README.md idle).
TEST(idle_conn, the_idle_state_is_a_fraction_of_the_session) {
  EXPECT_LE(sizeof(idle_conn) + 8, 240u);
  EXPECT_LT(sizeof(idle_conn) * 6, sizeof(http_session));
}

struct idle_set_test : ::testing::Test {
  server_options opts;
  std::unique_ptr<worker> w = std::make_unique<worker>(0, opts, nullptr);

  std::unique_ptr<idle_conn> conn() {
    idle_conn::carry c;
    c.first_request = false;  // not counted as a new connection
    return std::make_unique<idle_conn>(*w, byte_stream(tcp::socket(w->context())), c);
  }
};

// The list is kept in deadline order whatever order connections come in (a shorter
// keep-alive timeout after a Snapshot change): the sweep closes every expired one, also one
// added after a connection whose deadline is far off.
TEST_F(idle_set_test, expired_connections_close_in_deadline_order) {
  auto& set = w->idle();
  const auto now = idle_conn::clock::now();
  auto late = conn(), past = conn(), earlier = conn(), fresh = conn();
  set.add(*past, false, now - 1s);
  set.add(*late, false, now + 1h);
  set.add(*earlier, false, now - 2s);  // walks back past `late`
  set.add(*fresh, true, now + 1h);
  EXPECT_EQ(set.size(), 4u);
  w->context().poll();  // the timers' waits for past deadlines end at once
  EXPECT_EQ(set.size(), 2u);
  set.remove(*late);
  set.remove(*late);  // removing twice is harmless
  EXPECT_EQ(set.size(), 1u);
  set.expire_all();  // drain
  EXPECT_TRUE(set.empty());
}

TEST_F(idle_set_test, a_connection_going_away_leaves_the_set) {
  auto& set = w->idle();
  auto a = conn(), b = conn();
  set.add(*a, false, idle_conn::clock::now() + 1h);
  set.add(*b, false, idle_conn::clock::now() + 1h);
  a.reset();
  EXPECT_EQ(set.size(), 1u);
  set.close_all();  // force_close
  EXPECT_TRUE(set.empty());
}

}  // namespace
