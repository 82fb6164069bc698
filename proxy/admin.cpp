#include "proxy/admin.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <list>
#include <mutex>
#include <optional>
#include <thread>

#include "proxy/accept_loop.hpp"
#include "proxy/metrics.hpp"

namespace portico::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t header_limit = 8 * 1024;
constexpr std::size_t body_limit = 16 * 1024;
constexpr std::size_t max_pending_scrapes = 4;
constexpr std::size_t recycle_min = 1 << 20;  // a response body this large is a /metrics text
constexpr auto linger_timeout = std::chrono::seconds(2);
constexpr std::size_t linger_limit = 256 * 1024;

class admin_session;

// 127.0.0.0/8 and ::1, also as v4-mapped IPv6 (a dual-stack admin listener).
bool is_loopback(const asio::ip::address& a) {
  if (a.is_v4()) return a.to_v4().is_loopback();
  const auto v6 = a.to_v6();
  if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6).is_loopback();
  return v6.is_loopback();
}

}  // namespace

using admin_response = http::response<http::string_body>;
using answer_fn = std::function<void(admin_response)>;

// Shared by the server and its sessions (which keep it alive while they run).
struct admin_state : std::enable_shared_from_this<admin_state> {
  admin_state(asio::io_context& i, metrics_registry& r, std::function<bool()> h,
              std::function<std::string()> s, admin_options o)
      : io(i), reg(r), healthy(std::move(h)), snapshot_json(std::move(s)), opts(std::move(o)) {}

  void on_accept(tcp::socket sock);
  void make_room();
  // Calls `done` on the control thread: at once, or after a scrape on the scrape thread.
  void answer(const http::request<http::string_body>& req, bool loopback_peer, answer_fn done);
  void scrape(unsigned version, bool head, answer_fn done);
  void stop_scrape_thread();

  asio::io_context& io;
  metrics_registry& reg;
  std::function<bool()> healthy;
  std::function<std::string()> snapshot_json;
  admin_options opts;
  std::shared_ptr<accept_loop> acceptor;
  bool closed = false;
  // Oldest first. Sessions enroll and withdraw themselves; `open` counts those not closing.
  std::list<admin_session*> sessions;
  std::size_t open = 0;

  // render() of a large table takes a while (observer_bench: ~0.4 s for 2,000 label sets):
  // it runs on its own thread so the control thread keeps publishing Snapshots meanwhile.
  std::mutex scrape_mu;
  std::condition_variable scrape_cv;
  std::deque<std::function<void()>> scrape_jobs;
  bool scrape_stopping = false;
  std::thread scrape_thread;
};

namespace {

// One admin connection: read a request, answer, repeat while keep-alive.
class admin_session : public std::enable_shared_from_this<admin_session> {
 public:
  admin_session(tcp::socket sock, std::shared_ptr<admin_state> server)
      : stream_(std::move(sock)), server_(std::move(server)) {
    enrolled_ = server_->sessions.insert(server_->sessions.end(), this);
    ++server_->open;
    beast::error_code ec;
    auto peer = stream_.socket().remote_endpoint(ec);
    loopback_ = !ec && is_loopback(peer.address());
  }
  ~admin_session() {
    if (!closed_) --server_->open;
    server_->sessions.erase(enrolled_);
  }

  void start() { read(); }
  void close() {
    if (closed_) return;
    closed_ = true;
    --server_->open;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }
  bool closed() const { return closed_; }
  bool waiting() const { return waiting_; }  // for a request, or lingering after the last

 private:
  void read() {
    waiting_ = true;
    parser_.emplace();
    parser_->header_limit(header_limit);
    parser_->body_limit(body_limit);
    // One deadline for the idle wait and the whole request: a byte now and then does not
    // extend it (a slow-loris holds a connection at most this long).
    stream_.expires_after(server_->opts.request_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       self->on_read(ec);
                     });
  }

  void on_read(beast::error_code ec) {
    waiting_ = false;
    if (server_->closed || closed_) return close();
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
        ec == asio::error::eof) {
      return close();
    }
    if (ec) return reply_bad_request();
    auto req = parser_->release();
    bool keep = req.keep_alive();
    server_->answer(req, loopback_, [self = shared_from_this(), keep](admin_response res) {
      if (self->server_->closed || self->closed_) return self->close();
      self->res_ = std::move(res);
      self->res_.keep_alive(keep);
      self->write(!keep);
    });
  }

  void reply_bad_request() {
    res_ = {};
    res_.result(http::status::bad_request);
    res_.version(11);
    res_.set(http::field::content_type, "text/plain");
    res_.body() = "bad request\n";
    res_.prepare_payload();
    res_.keep_alive(false);
    write(true);
  }

  void write(bool close_after) {
    stream_.expires_after(server_->opts.write_timeout);
    http::async_write(stream_, res_,
                      [self = shared_from_this(), close_after](beast::error_code ec, std::size_t) {
                        // A /metrics text's buffer serves the next scrape (metrics_registry).
                        if (self->res_.body().capacity() >= recycle_min)
                          self->server_->reg.recycle(std::move(self->res_.body()));
                        if (ec || self->server_->closed || self->closed_) return self->close();
                        if (close_after) return self->linger();
                        self->read();
                      });
  }

  // Lingering close: stop sending, then drain what the client still sends for a moment, so
  // closing with unread input does not turn into a reset that destroys our response.
  void linger() {
    waiting_ = true;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(linger_timeout);
    drain(linger_limit);
  }

  void drain(std::size_t budget) {
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this(), budget](
                                                       beast::error_code ec, std::size_t n) {
      if (ec || n >= budget || self->server_->closed || self->closed_) return self->close();
      self->drain(budget - n);
    });
  }

  beast::tcp_stream stream_;
  std::shared_ptr<admin_state> server_;
  std::list<admin_session*>::iterator enrolled_;
  beast::flat_buffer buffer_{header_limit + body_limit};
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  bool loopback_ = false;
  bool waiting_ = false;
  bool closed_ = false;
};

http::response<http::string_body> text_response(unsigned version, http::status status,
                                                std::string_view type, std::string body) {
  http::response<http::string_body> res{status, version};
  res.set(http::field::content_type, type);
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

}  // namespace

void admin_state::answer(const http::request<http::string_body>& req, bool loopback_peer,
                         answer_fn done) {
  std::string_view target = req.target();
  target = target.substr(0, target.find('?'));
  bool head = req.method() == http::verb::head;
  bool get = req.method() == http::verb::get || head;
  unsigned v = req.version();
  if (get && target == "/metrics") return scrape(v, head, std::move(done));
  const bool debug = target == "/debug" || target.starts_with("/debug/");
  admin_response res;
  if (get && target == "/healthz") {
    bool ok = healthy && healthy();
    res = text_response(v, ok ? http::status::ok : http::status::internal_server_error,
                        "text/plain; charset=utf-8", ok ? "ok" : "unhealthy");
  } else if (debug && opts.debug == debug_endpoints::loopback && !loopback_peer) {
    // The table names every tenant's hosts, Services and pod addresses.
    res = text_response(v, http::status::forbidden, "text/plain; charset=utf-8",
                        "403 forbidden: /debug/ is served to loopback clients only "
                        "(--debug-endpoints)\n");
  } else if (get && target == "/debug/snapshot" && opts.debug != debug_endpoints::off) {
    res = text_response(v, http::status::ok, "application/json",
                        snapshot_json ? snapshot_json() : std::string("null"));
  } else if (get && target == "/debug/gateway-status" && opts.debug != debug_endpoints::off &&
             opts.gateway_status_json) {
    res = text_response(v, http::status::ok, "application/json", opts.gateway_status_json());
  } else {
    res = text_response(v, http::status::not_found, "text/plain; charset=utf-8",
                        "404 page not found\n");
  }
  if (head) res.body().clear();  // Content-Length stays
  done(std::move(res));
}

void admin_state::scrape(unsigned version, bool head, answer_fn done) {
  {
    std::lock_guard lock(scrape_mu);
    if (scrape_jobs.size() < max_pending_scrapes) {
      if (!scrape_thread.joinable()) {
        scrape_thread = std::thread([this] {
          std::unique_lock lock(scrape_mu);
          for (;;) {
            scrape_cv.wait(lock, [this] { return scrape_stopping || !scrape_jobs.empty(); });
            if (scrape_stopping) return;
            auto job = std::move(scrape_jobs.front());
            scrape_jobs.pop_front();
            lock.unlock();
            job();
            lock.lock();
          }
        });
      }
      auto ex = io.get_executor();
      scrape_jobs.push_back([this, version, head, done = std::move(done), ex]() mutable {
        auto res = text_response(version, http::status::ok,
                                 "text/plain; version=0.0.4; charset=utf-8", reg.render());
        if (head) res.body().clear();
        asio::post(ex, [done = std::move(done), res = std::move(res)]() mutable {
          done(std::move(res));
        });
      });
      scrape_cv.notify_one();
      return;
    }
  }
  // Scrapes are piling up: refuse rather than queue without bound.
  done(text_response(version, http::status::service_unavailable, "text/plain; charset=utf-8",
                     "scrape in progress\n"));
}

// Control thread. Waits for a running scrape; pending ones are dropped here, on this thread,
// so the sessions they hold die where they live.
void admin_state::stop_scrape_thread() {
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard lock(scrape_mu);
    scrape_stopping = true;
    dropped.swap(scrape_jobs);
  }
  scrape_cv.notify_all();
  if (scrape_thread.joinable()) scrape_thread.join();
}

void admin_state::on_accept(tcp::socket sock) {
  if (closed) return;
  if (open >= opts.max_connections) make_room();
  std::make_shared<admin_session>(std::move(sock), shared_from_this())->start();
}

// Closes the oldest connection waiting for a request (idle keep-alive, slow or silent
// client, lingering close); if every one is busy answering, the oldest of all. The newest
// connection is the probe's chance: it is always admitted.
void admin_state::make_room() {
  admin_session* victim = nullptr;
  for (auto* s : sessions) {
    if (s->closed()) continue;
    if (s->waiting()) {
      victim = s;
      break;
    }
    if (!victim) victim = s;
  }
  if (victim) victim->close();
}

struct admin_server::impl : admin_state {
  using admin_state::admin_state;
};

admin_server::admin_server(asio::io_context& control, const std::string& address,
                           std::uint16_t port, metrics_registry& reg,
                           std::function<bool()> healthy,
                           std::function<std::string()> snapshot_json, admin_options opts)
    : impl_(std::make_shared<impl>(control, reg, std::move(healthy), std::move(snapshot_json),
                                   std::move(opts))) {
  tcp::endpoint ep(asio::ip::make_address(address), port);
  std::weak_ptr<admin_state> weak = impl_;
  impl_->acceptor = std::make_shared<accept_loop>(
      accept_loop::bind(control.get_executor(), ep, false), "admin", impl_->opts.gauges,
      impl_->opts.log, [weak](tcp::socket sock, const tcp::endpoint&) {
        if (auto state = weak.lock()) state->on_accept(std::move(sock));
      });
  boost::system::error_code ec;
  impl_->acceptor->listen(ec);
  if (ec) throw boost::system::system_error(ec, "listen on the admin port");
}

admin_server::~admin_server() { close(); }

std::uint16_t admin_server::port() const { return impl_->acceptor->port(); }

void admin_server::close() {
  if (impl_->closed) return;
  impl_->closed = true;
  impl_->acceptor->stop();
  for (auto* s : impl_->sessions) s->close();
  impl_->stop_scrape_thread();
}

}  // namespace portico::proxy
