#include "proxy/upstream_pool.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <thread>

#include "proxy/observe.hpp"

using namespace portico::proxy;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

struct upstream_pool_test : ::testing::Test {
  asio::io_context ioc;
  tcp::acceptor acc{ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  endpoint_state ep;
  worker_gauges gauges;

  upstream_pool_test() { ep.address = acc.local_endpoint(); }

  // A connected pair: the client side (what the pool holds) and the server side.
  std::pair<tcp::socket, tcp::socket> pair() {
    tcp::socket c(ioc);
    c.connect(ep.address);
    tcp::socket s = acc.accept();
    return {std::move(c), std::move(s)};
  }
};

}  // namespace

TEST_F(upstream_pool_test, gives_back_and_takes_the_same_connection) {
  upstream_pool pool(4, 60s, &gauges);
  auto [c, s] = pair();
  auto local = c.local_endpoint();
  pool.give_back(ep, std::move(c), steady_time{});
  EXPECT_EQ(pool.idle_count(ep), 1u);
  EXPECT_EQ(gauges.pooled_upstream_connections.load(), 1);
  byte_stream out(ioc);
  ASSERT_TRUE(pool.take(ep, out));
  EXPECT_EQ(out.socket().local_endpoint(), local);
  EXPECT_EQ(pool.idle_count(ep), 0u);
  EXPECT_EQ(gauges.pooled_upstream_connections.load(), 0);
}

TEST_F(upstream_pool_test, a_connection_closed_by_the_peer_is_never_handed_out) {
  upstream_pool pool(4, 60s, &gauges);
  auto [c, s] = pair();
  pool.give_back(ep, std::move(c), steady_time{});
  s.close();
  std::this_thread::sleep_for(50ms);  // let the FIN arrive (no timing assertion)
  byte_stream out(ioc);
  EXPECT_FALSE(pool.take(ep, out));
  EXPECT_EQ(pool.idle_count(), 0u);
}

// reuse_check::when_idle_long: a connection given back moments ago is handed out without the
// MSG_PEEK look (the caller replays the request on a new connection if its read finds the
// connection closed); one idle for recheck_after or longer is looked at as before.
TEST_F(upstream_pool_test, a_recently_used_connection_is_handed_out_unchecked_when_the_caller_can_replay) {
  upstream_pool pool(4, 60s, &gauges);
  const steady_time t0 = std::chrono::steady_clock::now();
  auto [c, s] = pair();
  pool.give_back(ep, std::move(c), t0);
  s.close();
  std::this_thread::sleep_for(50ms);  // let the FIN arrive (no timing assertion)
  byte_stream out(ioc);
  ASSERT_TRUE(pool.take(ep, out, 0, nullptr, reuse_check::when_idle_long,
                        t0 + upstream_pool::recheck_after / 2));
  // The read the request would make anyway finds the close.
  char b;
  boost::system::error_code ec;
  out.socket().read_some(asio::buffer(&b, 1), ec);
  EXPECT_EQ(ec, asio::error::eof);
}

TEST_F(upstream_pool_test, a_connection_idle_past_recheck_after_is_checked_even_when_the_caller_can_replay) {
  upstream_pool pool(4, 60s, &gauges);
  const steady_time t0 = std::chrono::steady_clock::now();
  auto [c, s] = pair();
  pool.give_back(ep, std::move(c), t0);
  s.close();
  std::this_thread::sleep_for(50ms);
  byte_stream out(ioc);
  EXPECT_FALSE(pool.take(ep, out, 0, nullptr, reuse_check::when_idle_long,
                         t0 + upstream_pool::recheck_after));
  EXPECT_EQ(pool.idle_count(), 0u);
  // A healthy one idle as long is handed out after the look.
  auto [c2, s2] = pair();
  pool.give_back(ep, std::move(c2), t0);
  EXPECT_TRUE(pool.take(ep, out, 0, nullptr, reuse_check::when_idle_long,
                        t0 + 2 * upstream_pool::recheck_after));
}

// Given back with reuse_check::always (after a HEAD, 204 or 304, when servers are known to
// send a stray body later), the connection is looked at on its next take however soon.
TEST_F(upstream_pool_test, a_connection_given_back_for_a_look_is_checked_on_the_next_take) {
  upstream_pool pool(4, 60s, &gauges);
  const steady_time t0 = std::chrono::steady_clock::now();
  auto [c, s] = pair();
  pool.give_back(ep, std::move(c), t0, 0, 1, reuse_check::always);
  asio::write(s, asio::buffer(std::string("stray body")));
  std::this_thread::sleep_for(50ms);
  byte_stream out(ioc);
  EXPECT_FALSE(pool.take(ep, out, 0, nullptr, reuse_check::when_idle_long, t0));
  EXPECT_EQ(pool.idle_count(), 0u);
}

TEST_F(upstream_pool_test, a_connection_with_unexpected_bytes_is_not_reused) {
  upstream_pool pool(4, 60s, &gauges);
  auto [c, s] = pair();
  pool.give_back(ep, std::move(c), steady_time{});
  asio::write(s, asio::buffer(std::string("HTTP/1.1 200 OK\r\n\r\n")));
  std::this_thread::sleep_for(50ms);
  byte_stream out(ioc);
  EXPECT_FALSE(pool.take(ep, out));
}

TEST_F(upstream_pool_test, idle_connections_are_bounded_per_endpoint) {
  upstream_pool pool(2, 60s, &gauges);
  std::vector<tcp::socket> servers;
  for (int i = 0; i < 3; ++i) {
    auto [c, s] = pair();
    servers.push_back(std::move(s));
    pool.give_back(ep, std::move(c), steady_time{});
  }
  EXPECT_EQ(pool.idle_count(ep), 2u);
  EXPECT_EQ(gauges.pooled_upstream_connections.load(), 2);
}

TEST_F(upstream_pool_test, sweep_closes_connections_idle_past_the_timeout) {
  upstream_pool pool(4, 10s, &gauges);
  auto [c1, s1] = pair();
  auto [c2, s2] = pair();
  const auto t0 = steady_time{} + 1h;
  pool.give_back(ep, std::move(c1), t0);
  pool.give_back(ep, std::move(c2), t0 + 8s);
  pool.sweep(t0 + 11s);
  EXPECT_EQ(pool.idle_count(ep), 1u);
  pool.sweep(t0 + 19s);
  EXPECT_EQ(pool.idle_count(ep), 0u);
  EXPECT_EQ(gauges.pooled_upstream_connections.load(), 0);
}

TEST_F(upstream_pool_test, endpoints_are_kept_apart) {
  upstream_pool pool(4, 60s, &gauges);
  endpoint_state other;
  other.address = tcp::endpoint(asio::ip::make_address("127.0.0.1"), 1);
  auto [c, s] = pair();
  pool.give_back(ep, std::move(c), steady_time{});
  byte_stream out(ioc);
  EXPECT_FALSE(pool.take(other, out));
  EXPECT_TRUE(pool.take(ep, out));
}

TEST_F(upstream_pool_test, tls_and_plain_connections_to_one_address_are_kept_apart) {
  upstream_pool pool(4, 60s, &gauges);
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  auto [plain, s1] = pair();
  auto [tls, s2] = pair();
  const auto tls_local = tls.local_endpoint();
  byte_stream tls_conn(std::move(tls));
  tls_conn.start_tls(ctx);  // no handshake needed: the pool only keys and checks the socket
  constexpr std::uint64_t key_a = 0x1234, key_b = 0x5678;
  pool.give_back(ep, std::move(plain), steady_time{});
  pool.give_back(ep, std::move(tls_conn), steady_time{}, key_a);
  EXPECT_EQ(pool.idle_count(ep), 2u);

  byte_stream out(ioc);
  EXPECT_FALSE(pool.take(ep, out, key_b));  // another server name / TLS setting: nothing
  ASSERT_TRUE(pool.take(ep, out, key_a));
  EXPECT_TRUE(out.is_tls());
  EXPECT_EQ(out.socket().local_endpoint(), tls_local);
  byte_stream out2(ioc);
  ASSERT_TRUE(pool.take(ep, out2));  // plain
  EXPECT_FALSE(out2.is_tls());
  EXPECT_EQ(pool.idle_count(), 0u);
}

TEST_F(upstream_pool_test, a_plain_connection_given_back_under_a_tls_key_is_closed) {
  upstream_pool pool(4, 60s, &gauges);
  auto [c, s] = pair();
  pool.give_back(ep, std::move(c), steady_time{}, 0x99);
  EXPECT_EQ(pool.idle_count(), 0u);
}

TEST_F(upstream_pool_test, forget_drops_every_tls_identity_of_the_address) {
  upstream_pool pool(4, 60s, &gauges);
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  auto [a, s1] = pair();
  auto [b, s2] = pair();
  byte_stream ta(std::move(a)), tb(std::move(b));
  ta.start_tls(ctx);
  tb.start_tls(ctx);
  pool.give_back(ep, std::move(ta), steady_time{}, 1);
  pool.give_back(ep, std::move(tb), steady_time{}, 2);
  EXPECT_EQ(pool.idle_count(ep), 2u);
  pool.forget(ep);
  EXPECT_EQ(pool.idle_count(), 0u);
  EXPECT_EQ(gauges.pooled_upstream_connections.load(), 0);
}
