// accept_loop on 127.0.0.1 with real sockets: connections are refused until listen(), a held
// loop leaves connections in the backlog until release(), and running out of descriptors
// (RLIMIT_NOFILE lowered in this test process) backs off instead of retrying at once, then
// recovers when descriptors return.
#include "proxy/accept_loop.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "proxy/observe.hpp"

namespace portico::proxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

class accept_loop_test : public ::testing::Test {
 protected:
  std::shared_ptr<accept_loop> make() {
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    auto loop = std::make_shared<accept_loop>(
        accept_loop::bind(io.get_executor(), ep, false), "test", &gauges,
        [this](const char*, const std::string& msg) { logged.push_back(msg); },
        [this](tcp::socket s, const tcp::endpoint& peer) {
          accepted.push_back(std::move(s));
          peers.push_back(peer);
        });
    port = loop->port();
    return loop;
  }

  tcp::socket connect(boost::system::error_code& ec) {
    tcp::socket s(client_io);
    s.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
    return s;
  }

  // Runs the loop's io_context until `n` connections were accepted, for at most 10 s.
  void run_until_accepted(std::size_t n) {
    for (int i = 0; i < 100 && accepted.size() < n; ++i) {
      io.restart();
      io.run_for(100ms);
    }
  }

  asio::io_context io;
  asio::io_context client_io;
  worker_gauges gauges;
  std::vector<std::string> logged;
  std::vector<tcp::socket> accepted;
  std::vector<tcp::endpoint> peers;
  std::uint16_t port = 0;
};

TEST_F(accept_loop_test, a_bound_port_refuses_connections_until_listen) {
  auto loop = make();
  boost::system::error_code ec;
  connect(ec);
  EXPECT_EQ(ec, asio::error::connection_refused);
  loop->listen(ec);
  ASSERT_FALSE(ec);
  auto c = connect(ec);
  ASSERT_FALSE(ec);
  run_until_accepted(1);
  EXPECT_EQ(accepted.size(), 1u);
  loop->stop();
}

// The handler gets the peer's address from accept() itself, and the accepted socket has
// TCP_NODELAY from the listening socket: neither costs a system call per connection.
TEST_F(accept_loop_test, accepted_sockets_carry_the_peer_address_and_tcp_nodelay) {
  auto loop = make();
  boost::system::error_code ec;
  loop->listen(ec);
  ASSERT_FALSE(ec);
  auto c = connect(ec);
  ASSERT_FALSE(ec);
  run_until_accepted(1);
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_EQ(peers.at(0), c.local_endpoint());
  tcp::no_delay nd;
  accepted[0].get_option(nd);
  EXPECT_TRUE(nd.value());
  EXPECT_EQ(address_text(asio::ip::make_address("::ffff:10.1.2.3")), "10.1.2.3");
  EXPECT_EQ(address_text(asio::ip::make_address("2001:db8::1")), "2001:db8::1");
  loop->stop();
}

// accept4 makes them non-blocking and close-on-exec; Asio is told so and that the descriptor
// is its own (no ioctl, no epoll_ctl DEL at close). Descriptors closed that way are reused by
// the next accepts, and those sockets still read through the reactor: a registration left
// behind would make their epoll_ctl(ADD) fail or their reads never complete.
TEST_F(accept_loop_test, many_accepted_sockets_read_and_their_reused_descriptors_work_again) {
  auto loop = make();
  boost::system::error_code ec;
  loop->listen(ec);
  ASSERT_FALSE(ec);
  constexpr std::size_t per_round = 40;
  std::vector<int> first_round_fds;
  bool reused = false;
  for (int round = 0; round < 3; ++round) {
    accepted.clear();
    peers.clear();
    std::vector<tcp::socket> clients;
    for (std::size_t i = 0; i < per_round; ++i) {
      clients.push_back(connect(ec));
      ASSERT_FALSE(ec);
    }
    run_until_accepted(per_round);
    ASSERT_EQ(accepted.size(), per_round);
    std::size_t reads = 0;
    std::vector<char> bytes(per_round);
    for (std::size_t i = 0; i < per_round; ++i) {
      const int fd = accepted[i].native_handle();
      EXPECT_NE(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
      EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
      const auto& seen = first_round_fds;
      if (round == 0) first_round_fds.push_back(fd);
      else if (std::find(seen.begin(), seen.end(), fd) != seen.end()) reused = true;
      accepted[i].async_read_some(asio::buffer(&bytes[i], 1),
                                  [&reads](const boost::system::error_code& e, std::size_t n) {
                                    if (!e && n == 1) ++reads;
                                  });
    }
    for (std::size_t i = 0; i < per_round; ++i) {
      EXPECT_EQ(peers[i].address(), asio::ip::make_address("127.0.0.1"));
      asio::write(clients[i], asio::buffer("x", 1), ec);
      ASSERT_FALSE(ec);
    }
    for (int i = 0; i < 100 && reads < per_round; ++i) {
      io.restart();
      io.run_for(100ms);
    }
    EXPECT_EQ(reads, per_round) << "round " << round;
    for (auto& a : accepted) a.close();
  }
  EXPECT_TRUE(reused);  // the later rounds did get descriptors of closed sockets again
  loop->stop();
}

TEST_F(accept_loop_test, a_held_loop_leaves_connections_waiting_until_released) {
  auto loop = make();
  boost::system::error_code ec;
  loop->listen(ec);
  ASSERT_FALSE(ec);
  io.restart();
  io.poll();  // the accept is outstanding
  loop->hold();
  EXPECT_EQ(gauges.accept_paused.load(), 1);
  auto c = connect(ec);  // completed by the kernel, waiting in the backlog
  ASSERT_FALSE(ec);
  io.restart();
  io.run_for(200ms);
  EXPECT_TRUE(accepted.empty());
  loop->release();
  EXPECT_EQ(gauges.accept_paused.load(), 0);
  run_until_accepted(1);
  EXPECT_EQ(accepted.size(), 1u);
  loop->stop();
}

TEST_F(accept_loop_test, out_of_descriptors_backs_off_logs_once_and_recovers) {
  auto loop = make();
  boost::system::error_code ec;
  loop->listen(ec);
  ASSERT_FALSE(ec);
  // Warm up: one accept and one timer before descriptors run out. UBSan checks an object's
  // dynamic type the first time through a pipe(), which fails then (a false report).
  auto c0 = connect(ec);
  ASSERT_FALSE(ec);
  run_until_accepted(1);
  bool fired = false;
  asio::steady_timer t(io, 1ms);
  t.async_wait([&fired](const boost::system::error_code&) { fired = true; });
  for (int i = 0; i < 100 && !fired; ++i) {
    io.restart();
    io.run_for(100ms);
  }
  auto c1 = connect(ec);
  ASSERT_FALSE(ec);
  auto c2 = connect(ec);
  ASSERT_FALSE(ec);
  // Take every descriptor below a lowered limit.
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  int probe = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(probe, 0);
  rlimit low = old;
  low.rlim_cur = static_cast<rlim_t>(probe) + 16;
  ::close(probe);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> hogs;
  for (int fd; (fd = ::open("/dev/null", O_RDONLY)) >= 0;) hogs.push_back(fd);

  io.restart();
  io.run_for(500ms);
  // Retrying at once would fail tens of thousands of times in half a second; backing off
  // 10 ms doubling to 100 ms fails a handful of times.
  EXPECT_GE(gauges.accept_errors.load(), 1);
  EXPECT_LE(gauges.accept_errors.load(), 20);
  EXPECT_LE(logged.size(), 1u);  // at most one line: the episode may have begun in another test
  if (!logged.empty()) {
    EXPECT_NE(logged[0].find("Too many open files"), std::string::npos) << logged[0];
  }

  EXPECT_EQ(accepted.size(), 1u);  // only the warm-up connection

  for (int fd : hogs) ::close(fd);
  run_until_accepted(3);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
  EXPECT_EQ(accepted.size(), 3u);
  EXPECT_EQ(gauges.accept_paused.load(), 0);
  loop->stop();
}

}  // namespace
}  // namespace portico::proxy
