// The keep-alive loop of an HTTP/1.1 session (proxy/http_session.hpp), on a real worker thread
// with a real listener and a blocking client: after an answer the session waits warm for the
// next request, and a connection quiet for longer moves to an idle_conn and still serves.
#include "proxy/http_session.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "proxy/server_options.hpp"
#include "proxy/worker.hpp"
#include "tests/proxy/observe_fixtures.hpp"

using namespace portico::proxy;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

struct worker_state {
  std::uint64_t warm_resumes = 0;
  std::size_t warm_waits = 0;
  std::size_t idle = 0;
  std::int64_t connections = 0;  // client_connections
};

// A worker serving an empty route table (every request: the default backend's 404).
struct running_worker {
  server_options opts;
  std::unique_ptr<worker> w = std::make_unique<worker>(0, opts, nullptr);
  std::uint16_t port = 0;

  running_worker() {
    port = w->bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    std::promise<boost::system::error_code> listening;
    w->run({}, [&](const boost::system::error_code& ec) { listening.set_value(ec); });
    w->publish(portico::test::make_snapshot({}));
    auto f = listening.get_future();
    EXPECT_EQ(f.wait_for(30s), std::future_status::ready);
    EXPECT_FALSE(f.get());
  }
  ~running_worker() {
    w->force_close();
    w.reset();  // stops and joins the thread
  }

  worker_state state() {
    auto p = std::make_shared<std::promise<worker_state>>();
    asio::post(w->context(), [p, w = w.get()] {
      p->set_value({w->warm_resumes(), w->warm_waits(), w->idle().size(),
                    w->gauges().client_connections.load()});
    });
    auto f = p->get_future();
    if (f.wait_for(30s) != std::future_status::ready) {
      ADD_FAILURE() << "the worker thread does not answer";
      return {};
    }
    return f.get();
  }
  // Polls (at most `bound`) until `pred(state())`; the last state.
  template <class Pred>
  worker_state wait_for(Pred pred, std::chrono::milliseconds bound = 30s) {
    const auto end = std::chrono::steady_clock::now() + bound;
    worker_state s = state();
    while (!pred(s) && std::chrono::steady_clock::now() < end) {
      std::this_thread::sleep_for(10ms);
      s = state();
    }
    return s;
  }
};

// A blocking client connection: requests out, answers (Content-Length bodies) in.
struct client {
  asio::io_context io;
  tcp::socket s{io};
  std::string buf;  // received, not yet taken

  explicit client(std::uint16_t port) {
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  void send(std::string_view req) { asio::write(s, asio::buffer(req)); }
  // The next whole answer: its status line.
  std::string answer() {
    const auto head_end = asio::read_until(s, asio::dynamic_buffer(buf), "\r\n\r\n");
    const std::string head = buf.substr(0, head_end);
    const auto cl = head.find("Content-Length: ");
    EXPECT_NE(cl, std::string::npos) << head;
    const std::size_t length = cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 16));
    if (buf.size() < head_end + length)
      asio::read(s, asio::dynamic_buffer(buf), asio::transfer_exactly(head_end + length - buf.size()));
    buf.erase(0, head_end + length);
    return head.substr(0, head.find("\r\n"));
  }
  std::string round_trip(std::string_view req) {
    send(req);
    auto status = answer();
    EXPECT_TRUE(buf.empty()) << "nothing after the answer";
    return status;
  }
};

constexpr std::string_view get_x = "GET /x HTTP/1.1\r\nHost: a.test\r\n\r\n";

TEST(http_session, requests_in_quick_succession_are_served_from_the_warm_wait) {
  running_worker rw;
  client c(rw.port);
  // Twenty requests in a row: each one after the first comes while the session waits warm
  // (unless the client took a whole tick period to send it).
  for (int i = 0; i < 20; ++i) EXPECT_EQ(c.round_trip(get_x), "HTTP/1.1 404 Not Found");
  const auto s = rw.state();
  EXPECT_GE(s.warm_resumes, 1u);
  EXPECT_LE(s.warm_resumes, 19u);  // not the first request: that one came to a new connection
}

TEST(http_session, a_quiet_connection_moves_to_an_idle_conn_and_serves_again) {
  running_worker rw;
  client c(rw.port);
  EXPECT_EQ(c.round_trip(get_x), "HTTP/1.1 404 Not Found");
  // Within two tick periods the warm wait ends and the connection waits without its session.
  auto s = rw.wait_for([](const worker_state& s) { return s.warm_waits == 0 && s.idle == 1; });
  EXPECT_EQ(s.warm_waits, 0u);
  EXPECT_EQ(s.idle, 1u);
  EXPECT_EQ(c.round_trip(get_x), "HTTP/1.1 404 Not Found");
  // Two pipelined requests: both answered, in order, on the same connection.
  c.send(std::string(get_x) + std::string(get_x));
  EXPECT_EQ(c.answer(), "HTTP/1.1 404 Not Found");
  EXPECT_EQ(c.answer(), "HTTP/1.1 404 Not Found");
  EXPECT_TRUE(c.buf.empty());
  EXPECT_EQ(c.round_trip(get_x), "HTTP/1.1 404 Not Found");
}

TEST(http_session, a_client_that_closes_during_the_warm_wait_leaves_nothing_behind) {
  running_worker rw;
  {
    client c(rw.port);
    EXPECT_EQ(c.round_trip(get_x), "HTTP/1.1 404 Not Found");
  }  // closed at once, while the session (most likely) waits warm
  const auto s = rw.wait_for([](const worker_state& s) { return s.connections == 0; });
  EXPECT_EQ(s.connections, 0);
  EXPECT_EQ(s.warm_waits, 0u);
  EXPECT_EQ(s.idle, 0u);  // closed, not handed to an idle_conn
}

TEST(http_session, draining_closes_a_connection_in_its_warm_wait) {
  running_worker rw;
  client c(rw.port);
  EXPECT_EQ(c.round_trip(get_x), "HTTP/1.1 404 Not Found");
  rw.w->drain();
  char byte;
  boost::system::error_code ec;
  EXPECT_EQ(c.s.read_some(asio::buffer(&byte, 1), ec), 0u);  // the end, without an answer
  EXPECT_EQ(ec, asio::error::eof);
}

}  // namespace
