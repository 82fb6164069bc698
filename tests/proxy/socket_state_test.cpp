// net::async_wait_readable (a readiness wait with no epoll_ctl(MOD)), net::async_read_request
// (a read that tells the reactor when a request head emptied the socket) and net::mark_empty
// (the same told after an upstream's answer was read to its end). What they must never
// do is miss bytes or an end that are already there (a connection would hang until its
// timeout); these tests put the socket in each state the reactor can know of and check the
// wait or read completes exactly when there is something to read.
#include "proxy/net/socket_state.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <string>

namespace {

namespace asio = boost::asio;
namespace net = portico::proxy::net;
using tcp = asio::ip::tcp;

class readable_wait_test : public ::testing::Test {
 protected:
  // A connected pair over loopback: `peer_` a plain blocking descriptor the test writes with,
  // `sock_` the accepted end, registered with the io_context's reactor the way the proxy
  // registers accepted connections (net::adopt_own).
  void SetUp() override {
    tcp::acceptor acc(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    peer_ = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(peer_, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(acc.local_endpoint().port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(peer_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    accepted_ = ::accept4(acc.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ASSERT_GE(accepted_, 0);
  }
  void TearDown() override {
    if (peer_ >= 0) ::close(peer_);
  }

  void adopt() {
    boost::system::error_code ec;
    net::adopt_own(sock_, tcp::v4(), accepted_, ec);
    ASSERT_FALSE(ec);
  }
  void send(const std::string& s) {
    ASSERT_EQ(::send(peer_, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
  }
  // Runs the reactor with nothing waiting on `sock_` for a while: an event for it is
  // consumed (Asio marks the descriptor "maybe readable") and no operation takes it.
  void let_events_pass() {
    asio::steady_timer t(io_, std::chrono::milliseconds(30));
    t.async_wait([](const boost::system::error_code&) {});
    io_.run();
    io_.restart();
  }
  // Reads what is there with net::async_read_request (a short read ending a request head tells
  // the reactor the socket is empty).
  std::string read_request(boost::system::error_code* ec_out = nullptr, bool try_first = false) {
    char buf[4096];
    std::string got;
    bool done = false;
    net::async_read_request(sock_, asio::buffer(buf), try_first, [&](const boost::system::error_code& ec, std::size_t n) {
      done = true;
      if (ec_out != nullptr) *ec_out = ec;
      got.assign(buf, n);
    });
    io_.run_for(std::chrono::milliseconds(300));
    io_.restart();
    if (!done) {  // still waiting: ended here, before buf goes
      boost::system::error_code ignored;
      sock_.cancel(ignored);
      io_.run_for(std::chrono::seconds(5));
      io_.restart();
      if (ec_out != nullptr) *ec_out = asio::error::would_block;
    }
    return got;
  }
  // Reads what is there through Asio's own read op.
  std::string read_through_asio() {
    char buf[4096];
    std::string got;
    sock_.async_read_some(asio::buffer(buf), [&](const boost::system::error_code& ec, std::size_t n) {
      if (!ec) got.assign(buf, n);
    });
    io_.run_for(std::chrono::seconds(5));
    io_.restart();
    return got;
  }
  // Starts a wait; `ran` says whether it completed, `result` with what.
  void start_wait(bool armed) {
    ran_ = false;
    net::async_wait_readable(sock_, armed, [this](const boost::system::error_code& ec) {
      ran_ = true;
      result_ = ec;
    });
  }
  void run_briefly() {
    io_.run_for(std::chrono::milliseconds(100));
    io_.restart();
  }

  asio::io_context io_{1};
  tcp::socket sock_{io_};
  int peer_ = -1;
  int accepted_ = -1;
  bool ran_ = false;
  boost::system::error_code result_;
};

TEST_F(readable_wait_test, sees_bytes_whose_event_went_by_with_no_one_waiting) {
  adopt();
  send("first");
  ASSERT_EQ(read_through_asio(), "first");
  send("second");
  let_events_pass();  // the edge for "second" is gone; only a look finds the bytes
  start_wait(false);
  run_briefly();
  EXPECT_TRUE(ran_) << "the wait missed bytes already on the socket";
  EXPECT_FALSE(result_);
  EXPECT_EQ(read_through_asio(), "second");
}

TEST_F(readable_wait_test, after_a_read_that_emptied_the_socket_waits_for_new_bytes) {
  adopt();
  send("first");
  let_events_pass();  // (else the event for "first" could still come and wake the wait)
  ASSERT_EQ(read_through_asio(), "first");
  start_wait(false);
  run_briefly();
  EXPECT_FALSE(ran_) << "completed with nothing to read";
  send("second");
  run_briefly();
  EXPECT_TRUE(ran_);
  EXPECT_FALSE(result_);
  EXPECT_EQ(read_through_asio(), "second");
}

TEST_F(readable_wait_test, armed_right_after_registration_sees_bytes_already_there) {
  send("early");  // before the descriptor joins the epoll set: its ADD reports them
  adopt();
  start_wait(true);
  run_briefly();
  EXPECT_TRUE(ran_);
  EXPECT_FALSE(result_);
  EXPECT_EQ(read_through_asio(), "early");
}

TEST_F(readable_wait_test, armed_after_a_read_found_nothing_wakes_on_the_next_bytes) {
  adopt();
  send("first");
  let_events_pass();  // "maybe readable" from here on
  ASSERT_EQ(read_through_asio(), "first");
  char c;
  ASSERT_LT(::recv(sock_.native_handle(), &c, 1, MSG_DONTWAIT), 0);  // EAGAIN, in this run
  start_wait(true);
  run_briefly();
  EXPECT_FALSE(ran_);
  send("second");
  run_briefly();
  EXPECT_TRUE(ran_);
  EXPECT_EQ(read_through_asio(), "second");
}

TEST_F(readable_wait_test, the_peers_end_completes_the_wait) {
  adopt();
  send("x");
  let_events_pass();
  ASSERT_EQ(read_through_asio(), "x");
  start_wait(false);
  run_briefly();
  ASSERT_FALSE(ran_);
  ::shutdown(peer_, SHUT_WR);
  run_briefly();
  EXPECT_TRUE(ran_);
  EXPECT_FALSE(result_);  // the reader finds out it was the end
}

TEST_F(readable_wait_test, the_end_that_went_by_unseen_is_found_by_the_look) {
  adopt();
  send("x");
  ASSERT_EQ(read_through_asio(), "x");
  ::shutdown(peer_, SHUT_WR);
  let_events_pass();
  start_wait(false);
  run_briefly();
  EXPECT_TRUE(ran_);
}

TEST_F(readable_wait_test, sees_the_end_that_came_with_a_request_head) {
  // A client that sends its request and its FIN at once: the read that takes the head (whole,
  // short) tells the reactor the socket is empty, and no edge is left to come for the end,
  // which only the look finds.
  adopt();
  send("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  ::shutdown(peer_, SHUT_WR);
  let_events_pass();
  ASSERT_EQ(read_request(), "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  start_wait(false);
  run_briefly();
  EXPECT_TRUE(ran_) << "the end went unseen: the connection would wait for its timeout";
  // The read after that look must try for itself: the reactor has no event for the end.
  boost::system::error_code ec;
  read_request(&ec, true);
  EXPECT_EQ(ec, asio::error::eof);
}

TEST_F(readable_wait_test, cancel_ends_it_with_operation_aborted) {
  adopt();
  start_wait(false);
  run_briefly();
  ASSERT_FALSE(ran_);
  boost::system::error_code ec;
  sock_.cancel(ec);
  run_briefly();
  EXPECT_TRUE(ran_);
  EXPECT_EQ(result_, asio::error::operation_aborted);
}

TEST_F(readable_wait_test, closing_the_socket_ends_it_with_operation_aborted) {
  adopt();
  start_wait(false);
  run_briefly();
  ASSERT_FALSE(ran_);
  boost::system::error_code ec;
  sock_.close(ec);
  run_briefly();
  EXPECT_TRUE(ran_);
  EXPECT_EQ(result_, asio::error::operation_aborted);
}

}  // namespace

namespace {

using request_read_test = readable_wait_test;

TEST_F(request_read_test, reads_heads_pieces_and_the_end) {
  adopt();
  send("GET / HTTP/1.1\r\n");  // a piece: not a head's end
  boost::system::error_code ec;
  EXPECT_EQ(read_request(&ec), "GET / HTTP/1.1\r\n");
  EXPECT_FALSE(ec);
  send("Host: a\r\n\r\n");
  EXPECT_EQ(read_request(&ec), "Host: a\r\n\r\n");
  EXPECT_FALSE(ec);
  send("GET /2 HTTP/1.1\r\n\r\n");
  EXPECT_EQ(read_request(&ec), "GET /2 HTTP/1.1\r\n\r\n");
  EXPECT_FALSE(ec);
  ::shutdown(peer_, SHUT_WR);  // after the last read: its own edge
  EXPECT_EQ(read_request(&ec), "");
  EXPECT_EQ(ec, asio::error::eof);
}

TEST_F(request_read_test, a_read_waiting_after_a_head_wakes_on_the_next_request) {
  adopt();
  send("GET / HTTP/1.1\r\n\r\n");
  let_events_pass();
  boost::system::error_code ec;
  ASSERT_EQ(read_request(&ec), "GET / HTTP/1.1\r\n\r\n");
  char buf[256];
  std::string got;
  bool done = false;
  net::async_read_request(sock_, asio::buffer(buf), false, [&](const boost::system::error_code& e, std::size_t n) {
    done = true;
    ec = e;
    got.assign(buf, n);
  });
  run_briefly();
  EXPECT_FALSE(done);
  send("GET /next HTTP/1.1\r\n\r\n");
  run_briefly();
  EXPECT_TRUE(done);
  EXPECT_FALSE(ec);
  EXPECT_EQ(got, "GET /next HTTP/1.1\r\n\r\n");
}

TEST_F(request_read_test, a_full_buffer_is_not_taken_for_the_end_of_what_is_there) {
  // The first read fills its 4,096 bytes exactly and they end like a head: more may be there
  // (and is), so the next read must try recv() rather than wait for an event.
  adopt();
  const std::string big = std::string(4092, 'x') + "\r\n\r\n" + "GET / HTTP/1.1\r\n\r\n";
  send(big);
  let_events_pass();
  std::string all;
  boost::system::error_code ec;
  while (all.size() < big.size()) {
    const std::string part = read_request(&ec);
    ASSERT_FALSE(ec) << all.size();
    all += part;
  }
  EXPECT_EQ(all, big);
}

TEST_F(request_read_test, cancel_ends_it_with_operation_aborted) {
  adopt();
  char buf[64];
  boost::system::error_code ec;
  bool done = false;
  net::async_read_request(sock_, asio::buffer(buf), false, [&](const boost::system::error_code& e, std::size_t) {
    done = true;
    ec = e;
  });
  run_briefly();
  ASSERT_FALSE(done);
  boost::system::error_code ignored;
  sock_.cancel(ignored);
  run_briefly();
  EXPECT_TRUE(done);
  EXPECT_EQ(ec, asio::error::operation_aborted);
}

}  // namespace

namespace {

// A read through Asio's own op, started now; `done` and `got` say what it found.
struct pending_read {
  char buf[256];
  bool done = false;
  boost::system::error_code ec;
  std::string got;
  void start(tcp::socket& s) {
    s.async_read_some(asio::buffer(buf), [this](const boost::system::error_code& e, std::size_t n) {
      done = true;
      ec = e;
      got.assign(buf, n);
    });
  }
};

class mark_empty_test : public readable_wait_test {
 protected:
  // An answer that came (`bytes`) is read to its end, and the socket marked empty, as when
  // its connection goes back to the pool.
  void read_to_the_end_and_mark(const std::string& bytes) {
    adopt();
    send(bytes);
    ASSERT_EQ(read_through_asio(), bytes);
    net::mark_empty(sock_);
  }
  // A read started now waits (nothing is there), and completes with `bytes` once they are sent.
  void read_waits_then_gets(const std::string& bytes) {
    pending_read r;
    r.start(sock_);
    run_briefly();
    EXPECT_FALSE(r.done) << "the read completed with nothing sent";
    send(bytes);
    run_briefly();
    ASSERT_TRUE(r.done) << "the read did not wake for the bytes";
    EXPECT_FALSE(r.ec);
    EXPECT_EQ(r.got, bytes);
  }
};

TEST_F(mark_empty_test, the_next_read_waits_for_new_bytes_and_gets_them) {
  read_to_the_end_and_mark("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  read_waits_then_gets("HTTP/1.1 200 OK\r\n");
}

TEST_F(mark_empty_test, marked_twice_the_queued_mark_does_not_keep_the_next_event_from_a_read) {
  // The second mark finds the reactor already told: its operation waits in the read queue,
  // and the event that comes must still complete the read queued behind it.
  read_to_the_end_and_mark("x");
  net::mark_empty(sock_);
  read_waits_then_gets("y");
}

TEST_F(mark_empty_test, an_end_that_comes_after_the_mark_ends_the_next_read) {
  read_to_the_end_and_mark("x");
  run_briefly();
  ::shutdown(peer_, SHUT_WR);  // an upstream closing its idle connection
  let_events_pass();
  pending_read r;
  r.start(sock_);
  run_briefly();
  ASSERT_TRUE(r.done) << "the end went unseen";
  EXPECT_EQ(r.ec, asio::error::eof);
}

TEST_F(mark_empty_test, a_fin_that_came_with_the_last_bytes_is_left_to_a_look) {
  // The last bytes and a FIN in one segment make one event, which the read of the bytes takes;
  // after the mark the next read waits for an event that will not come (what
  // http_session::look_at_blind_read is for), and a look with recv(MSG_PEEK) finds the end.
  adopt();
  pending_read first;
  first.start(sock_);
  run_briefly();
  ASSERT_FALSE(first.done);
  const int on = 1;
  ASSERT_EQ(::setsockopt(peer_, IPPROTO_TCP, TCP_CORK, &on, sizeof on), 0);
  send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  ::shutdown(peer_, SHUT_WR);  // pushes the corked bytes with the FIN
  run_briefly();
  ASSERT_TRUE(first.done);
  ASSERT_EQ(first.got, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  net::mark_empty(sock_);
  pending_read next;
  next.start(sock_);
  run_briefly();
  EXPECT_FALSE(next.done) << "the read tried recv() after the mark";
  char c;
  EXPECT_EQ(net::recv_now(sock_.native_handle(), &c, 1, MSG_PEEK).what, net::recv_result::end);
  boost::system::error_code ignored;
  sock_.cancel(ignored);
  run_briefly();
  EXPECT_TRUE(next.done);
}

}  // namespace
