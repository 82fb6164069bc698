// admin_server on 127.0.0.1 with a real socket client: /healthz both ways, /metrics,
// /debug/snapshot and --debug-endpoints, 404, keep-alive, survival of malformed requests,
// the connection cap (the oldest waiting connection makes room) and the request deadline.
#include "proxy/admin.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <future>
#include <thread>
#include <vector>

#include "proxy/metrics.hpp"
#include "tests/proxy/observe_fixtures.hpp"

namespace portico::proxy {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

class admin_test : public ::testing::Test {
 protected:
  void SetUp() override {
    opts.access_log = false;
    open_server({});
  }
  void TearDown() override { close_server(); }

  void open_server(admin_options o) {
    server = std::make_unique<admin_server>(
        io, "127.0.0.1", 0, reg, [this] { return healthy.load(); },
        [] { return std::string(R"({"routes":[]})"); }, o);
    port = server->port();
    thread = std::thread([this] { io.run(); });
  }
  void close_server() {
    std::promise<void> closed;
    asio::post(io, [&] {
      server->close();
      closed.set_value();
    });
    closed.get_future().wait();
    thread.join();  // run() returns once no work is left: proves close() released everything
    server.reset();
    io.restart();
  }
  void reopen(admin_options o) {
    close_server();
    open_server(o);
  }

  // True when the server closed `s` without sending anything more.
  static bool closed_without_answer(tcp::socket& s) {
    char c;
    boost::system::error_code ec;
    std::size_t n = s.read_some(asio::buffer(&c, 1), ec);
    return n == 0 && (ec == asio::error::eof || ec == asio::error::connection_reset);
  }

  tcp::socket connect() {
    tcp::socket s(client_io);
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    return s;
  }

  http::response<http::string_body> get(tcp::socket& s, const std::string& target,
                                        bool keep_alive = true) {
    http::request<http::string_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(keep_alive);
    http::write(s, req);
    http::response<http::string_body> res;
    http::read(s, buffer, res);
    return res;
  }

  http::response<http::string_body> get(const std::string& target) {
    auto s = connect();
    return get(s, target, false);
  }

  // Sends raw bytes, returns everything the server sends until it closes.
  std::string raw_exchange(const std::string& bytes) {
    auto s = connect();
    asio::write(s, asio::buffer(bytes));
    std::string out;
    boost::system::error_code ec;
    char buf[4096];
    for (std::size_t n; (n = s.read_some(asio::buffer(buf), ec)) > 0 || !ec;) out.append(buf, n);
    return out;
  }

  server_options opts;
  metrics_registry reg{opts};
  std::atomic<bool> healthy{true};
  asio::io_context io;
  asio::io_context client_io;
  std::unique_ptr<admin_server> server;
  std::uint16_t port = 0;
  std::thread thread;
  boost::beast::flat_buffer buffer;
};

TEST_F(admin_test, binds_an_ephemeral_port_when_zero_is_asked) { EXPECT_NE(port, 0); }

TEST_F(admin_test, healthz_is_ok_when_healthy_and_500_otherwise) {
  auto res = get("/healthz");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "ok");
  healthy = false;
  res = get("/healthz");
  EXPECT_EQ(res.result_int(), 500);
  healthy = true;
  EXPECT_EQ(get("/healthz").result_int(), 200);
}

TEST_F(admin_test, metrics_are_prometheus_text) {
  auto res = get("/metrics");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[http::field::content_type].substr(0, 25), "text/plain; version=0.0.4");
  EXPECT_NE(res.body().find("# TYPE nginx_ingress_controller_config_hash gauge"), std::string::npos);
  EXPECT_NE(res.body().find("nginx_ingress_controller_build_info{"), std::string::npos);
}

TEST_F(admin_test, debug_snapshot_is_json) {
  auto res = get("/debug/snapshot");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(res.body(), R"({"routes":[]})");
}

TEST_F(admin_test, unknown_paths_and_methods_are_404) {
  EXPECT_EQ(get("/").result_int(), 404);
  EXPECT_EQ(get("/metricsx").result_int(), 404);
  auto s = connect();
  http::request<http::string_body> req{http::verb::post, "/healthz", 11};
  req.set(http::field::host, "x");
  req.body() = "x";
  req.prepare_payload();
  http::write(s, req);
  http::response<http::string_body> res;
  http::read(s, buffer, res);
  EXPECT_EQ(res.result_int(), 404);
}

TEST_F(admin_test, keep_alive_serves_several_requests_on_one_connection) {
  auto s = connect();
  for (int i = 0; i < 3; ++i) {
    auto res = get(s, i % 2 ? "/metrics" : "/healthz");
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_TRUE(res.keep_alive());
  }
}

TEST_F(admin_test, head_gets_headers_only) {
  auto s = connect();
  asio::write(s, asio::buffer(std::string("HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n")));
  http::response_parser<http::string_body> p;
  p.skip(true);  // a response to HEAD has no body
  http::read(s, buffer, p);
  EXPECT_EQ(p.get().result_int(), 200);
  EXPECT_EQ(p.get()[http::field::content_length], "2");
  EXPECT_TRUE(p.get().body().empty());
}

TEST_F(admin_test, malformed_request_gets_400_and_the_server_keeps_serving) {
  std::string out = raw_exchange("GARBAGE\r\n\r\n");
  EXPECT_EQ(out.substr(0, 12), "HTTP/1.1 400");
  out = raw_exchange("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
  EXPECT_EQ(out.substr(0, 12), "HTTP/1.1 400");
  out = raw_exchange("GET /healthz HTTP/1.1\r\nHost: x\r\nX: " + std::string(64 * 1024, 'a') + "\r\n\r\n");
  EXPECT_EQ(out.substr(0, 12), "HTTP/1.1 400");
  EXPECT_EQ(get("/healthz").result_int(), 200);
}

TEST_F(admin_test, a_client_that_goes_away_mid_request_does_not_hurt) {
  {
    auto s = connect();
    asio::write(s, asio::buffer(std::string("GET /metr")));
  }  // closed half-way
  EXPECT_EQ(get("/healthz").result_int(), 200);
}

TEST_F(admin_test, past_the_cap_the_oldest_waiting_connection_makes_room) {
  admin_options o;
  o.max_connections = 4;
  o.request_timeout = std::chrono::seconds(60);
  reopen(o);
  std::vector<tcp::socket> open;
  for (int i = 0; i < 4; ++i) {
    open.push_back(connect());
    ASSERT_EQ(get(open.back(), "/healthz").result_int(), 200) << i;
  }
  // The probe on a fifth connection is answered; the oldest idle connection made room.
  auto probe = connect();
  EXPECT_EQ(get(probe, "/healthz").result_int(), 200);
  EXPECT_TRUE(closed_without_answer(open[0]));
  for (int i = 1; i < 4; ++i) EXPECT_EQ(get(open[i], "/healthz").result_int(), 200) << i;
}

TEST_F(admin_test, a_connection_waiting_for_its_request_is_evicted_before_a_busy_one) {
  admin_options o;
  o.max_connections = 2;
  o.request_timeout = std::chrono::seconds(60);
  reopen(o);
  // The oldest connection is busy: its scrape of 1,000 label sets takes a while to render.
  worker_observer w(reg, opts, 0);
  std::vector<std::shared_ptr<const config::route>> routes;
  for (std::uint32_t i = 0; i < 1000; ++i)
    routes.push_back(test::make_route(i, "ns", "ing-" + std::to_string(i), "svc", "h", "/"));
  auto snap = test::make_snapshot(routes);
  w.on_snapshot(*snap);
  for (const auto& r : routes) w.on_request(test::upstream_record(r.get()));
  auto busy = connect();
  asio::write(busy, asio::buffer(std::string("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")));
  auto idle = connect();
  ASSERT_EQ(get(idle, "/healthz").result_int(), 200);

  auto probe = connect();
  EXPECT_EQ(get(probe, "/healthz").result_int(), 200);
  EXPECT_EQ(busy.available(), 0u) << "the scrape ended before the probe came: nothing tested";
  EXPECT_TRUE(closed_without_answer(idle));
  http::response_parser<http::string_body> p;
  p.body_limit(boost::none);
  boost::beast::flat_buffer b;
  http::read(busy, b, p);
  EXPECT_EQ(p.get().result_int(), 200);
}

TEST_F(admin_test, a_request_must_arrive_whole_within_the_request_timeout) {
  admin_options o;
  o.request_timeout = std::chrono::milliseconds(300);
  reopen(o);
  auto s = connect();
  asio::write(s, asio::buffer(std::string("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")));
  // A byte every 20 ms, for at most 10 s: the bytes do not extend the deadline.
  boost::system::error_code ec;
  for (int i = 0; i < 500 && !ec; ++i) {
    asio::write(s, asio::buffer("a", 1), ec);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(ec) << "still open after 10 s of trickling";
  EXPECT_EQ(get("/healthz").result_int(), 200);
}

TEST_F(admin_test, an_idle_keep_alive_connection_is_closed_after_the_request_timeout) {
  admin_options o;
  o.request_timeout = std::chrono::milliseconds(300);
  reopen(o);
  auto s = connect();
  EXPECT_EQ(get(s, "/healthz").result_int(), 200);
  EXPECT_TRUE(closed_without_answer(s));
}

TEST_F(admin_test, debug_endpoints_off_answers_404) {
  admin_options o;
  o.debug = debug_endpoints::off;
  reopen(o);
  auto res = get("/debug/snapshot");
  EXPECT_EQ(res.result_int(), 404);
  EXPECT_EQ(res.body().find("routes"), std::string::npos);
  EXPECT_EQ(get("/healthz").result_int(), 200);
}

TEST_F(admin_test, loopback_peers_get_debug_endpoints_by_default) {
  EXPECT_EQ(get("/debug/snapshot").result_int(), 200);  // the client is 127.0.0.1
  EXPECT_EQ(get("/debug/other").result_int(), 404);
}

TEST_F(admin_test, a_long_scrape_does_not_hold_up_the_control_thread) {
  // 3,000 label sets make render() take a good fraction of a second.
  worker_observer w(reg, opts, 0);
  std::vector<std::shared_ptr<const config::route>> routes;
  for (std::uint32_t i = 0; i < 3000; ++i)
    routes.push_back(test::make_route(i, "ns", "ing-" + std::to_string(i), "svc", "h", "/"));
  auto snap = test::make_snapshot(routes);
  w.on_snapshot(*snap);
  for (const auto& r : routes) w.on_request(test::upstream_record(r.get()));

  auto slow = connect();
  asio::write(slow, asio::buffer(std::string("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")));
  auto fast = connect();
  EXPECT_EQ(get(fast, "/healthz").result_int(), 200);
  EXPECT_EQ(slow.available(), 0u) << "healthz was answered while the scrape was still running";
  http::response_parser<http::string_body> p;
  p.body_limit(boost::none);  // tens of megabytes
  boost::beast::flat_buffer b;
  http::read(slow, b, p);
  EXPECT_EQ(p.get().result_int(), 200);
  EXPECT_NE(p.get().body().find("ingress=\"ing-2999\""), std::string::npos);
}

TEST_F(admin_test, close_ends_open_keep_alive_connections) {
  auto s = connect();
  EXPECT_EQ(get(s, "/healthz").result_int(), 200);
  // TearDown closes the server with this connection still open; joining the io thread
  // proves no session kept the io_context busy.
}

}  // namespace
}  // namespace portico::proxy
