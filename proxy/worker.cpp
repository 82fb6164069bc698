#include "proxy/worker.hpp"

#include <boost/asio/post.hpp>
#include <chrono>
#include <random>

#include "proxy/http_session.hpp"
#include "proxy/observe.hpp"
#include "proxy/tls_handshake.hpp"

namespace portico::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

health_options health_of(const server_options& o) {
  return {o.eject_after_failures, o.eject_base, o.eject_max};
}

std::uint64_t random_seed(unsigned index) {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^
         (static_cast<std::uint64_t>(index) * 0x9e3779b97f4a7c15ULL);
}

}  // namespace

worker::worker(unsigned index, const server_options& opts, metrics_registry* reg)
    : index_(index),
      opts_(opts),
      lb_(health_of(opts), random_seed(index)),
      observer_(reg ? std::make_unique<worker_observer>(*reg, opts, index) : nullptr),
      own_gauges_(reg ? nullptr : std::make_unique<worker_gauges>()),
      gauges_(observer_ ? &observer_->gauges() : own_gauges_.get()),
      pool_(opts.upstream_keepalive_connections, opts.upstream_keepalive_timeout, gauges_) {
  for (const auto& cidr : opts.trusted_proxies) trusted_.add(cidr);
  flag_settings_ = settings_from(opts);
  rng_[0] = random_seed(index) | 1;
  rng_[1] = random_seed(index + 1000) | 2;
}

worker::~worker() {
  if (thread_.joinable()) {
    ioc_.stop();
    thread_.join();
  }
  destroying_ = true;
  pool_.clear();
}

namespace {
std::uint16_t bind_reuseport(tcp::acceptor& a, const tcp::endpoint& ep) {
  a.open(ep.protocol());
  a.set_option(asio::socket_base::reuse_address(true));
  int one = 1;
  ::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  a.bind(ep);
  a.listen(asio::socket_base::max_listen_connections);
  return a.local_endpoint().port();
}
}  // namespace

std::uint16_t worker::listen(const tcp::endpoint& ep) {
  const auto port = bind_reuseport(acceptor_, ep);
  port_text_ = std::to_string(port);
  accepting_ = true;
  return port;
}

std::uint16_t worker::listen_https(const tcp::endpoint& ep, tls_server_context& tls) {
  const auto port = bind_reuseport(https_acceptor_, ep);
  https_port_text_ = std::to_string(port);
  tls_shared_ = &tls;
  tls_ = std::make_unique<tls_worker>(tls);
  accepting_https_ = true;
  return port;
}

void worker::run(std::function<void()> on_exit) {
  on_exit_ = std::move(on_exit);
  thread_ = std::thread([this] {
    if (accepting_) accept_loop();
    if (accepting_https_) https_accept_loop();
    tick();
    ioc_.run();
    if (observer_) observer_->flush();
    if (on_exit_) on_exit_();
  });
}

void worker::join() {
  if (thread_.joinable()) thread_.join();
}

void worker::accept_loop() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket sock) {
    if (!accepting_) return;
    if (!ec) {
      auto s = std::make_shared<http_session>(*this, std::move(sock));
      s->start();
    }
    if (!ec || ec != asio::error::operation_aborted) accept_loop();
  });
}

void worker::https_accept_loop() {
  https_acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket sock) {
    if (!accepting_https_) return;
    if (!ec) std::make_shared<tls_handshake>(*this, std::move(sock))->start();
    if (!ec || ec != asio::error::operation_aborted) https_accept_loop();
  });
}

void worker::set_ticket_keys(const ticket_keys& keys) {
  asio::post(ioc_, [this, keys] {
    if (tls_) tls_->set_keys(keys);
  });
}

void worker::tick() {
  // ~100 ms: access-log flush, pool sweep, ejection gauge, shutdown completion.
  const auto now = std::chrono::steady_clock::now();
  if (observer_) observer_->flush();
  pool_.sweep(now);
  gauges_->ejected_endpoints.store(static_cast<std::int64_t>(lb_.ejected_count(now)),
                                   std::memory_order_relaxed);
  maybe_finish();
  if (finished_) return;
  ticker_.expires_after(std::chrono::milliseconds(100));
  ticker_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) tick();
  });
}

void worker::publish(config::snapshot_ptr snap) {
  asio::post(ioc_, [this, snap = std::move(snap)]() mutable {
    if (observer_) observer_->on_snapshot(*snap);
    lb_.retain_only(*snap, pool_);
    if (tls_) tls_->on_snapshot(snap);
    adopt_settings(snap->settings_ptr());
    snap_ = std::move(snap);
  });
}

// A Snapshot's settings: the trusted networks and the upstream pool limits follow them.
void worker::adopt_settings(const config::controller_config_ptr& s) {
  if (!s || s == trusted_from_) return;
  const auto& now = s->trusted_cidrs();
  if (!trusted_from_ || trusted_from_->trusted_cidrs() != now) {
    trusted_ = trusted_networks{};
    for (const auto& cidr : now) trusted_.add(cidr);
    ++trusted_version_;
  }
  pool_.configure(s->upstream_keepalive_connections, s->upstream_keepalive_timeout);
  trusted_from_ = s;
}

void worker::stop_accepting() {
  asio::post(ioc_, [this] {
    accepting_ = false;
    accepting_https_ = false;
    boost::system::error_code ec;
    acceptor_.close(ec);
    https_acceptor_.close(ec);
  });
}

void worker::drain() {
  asio::post(ioc_, [this] {
    draining_ = true;
    accepting_ = false;
    accepting_https_ = false;
    boost::system::error_code ec;
    acceptor_.close(ec);
    https_acceptor_.close(ec);
    for (auto* h : handshakes_) h->cancel();
    for (auto* s : sessions_) s->drain();
    maybe_finish();
  });
}

void worker::force_close() {
  asio::post(ioc_, [this] {
    draining_ = true;
    for (auto* h : handshakes_) h->cancel();
    for (auto* s : sessions_) s->force_close();
    maybe_finish();
  });
}

void worker::maybe_finish() {
  if (!draining_ || !sessions_.empty() || !handshakes_.empty() || finished_) return;
  finished_ = true;
  pool_.clear();
  ticker_.cancel();
  boost::system::error_code ec;
  acceptor_.close(ec);
  https_acceptor_.close(ec);
}

void worker::next_request_id(char out[32]) {
  static constexpr char hex[] = "0123456789abcdef";
  for (int half = 0; half < 2; ++half) {
    // xorshift128+
    std::uint64_t s1 = rng_[0];
    const std::uint64_t s0 = rng_[1];
    rng_[0] = s0;
    s1 ^= s1 << 23;
    rng_[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    std::uint64_t v = rng_[1] + s0;
    for (int i = 0; i < 16; ++i, v >>= 4) out[half * 16 + i] = hex[v & 15];
  }
}

std::list<http_session*>::iterator worker::enroll(http_session* s) {
  return sessions_.insert(sessions_.end(), s);
}

void worker::withdraw(std::list<http_session*>::iterator it) {
  sessions_.erase(it);
  if (draining_ && sessions_.empty() && !destroying_) asio::post(ioc_, [this] { maybe_finish(); });
}

std::list<tls_handshake*>::iterator worker::enroll(tls_handshake* h) {
  return handshakes_.insert(handshakes_.end(), h);
}

void worker::withdraw(std::list<tls_handshake*>::iterator it) {
  handshakes_.erase(it);
  if (draining_ && handshakes_.empty() && !destroying_)
    asio::post(ioc_, [this] { maybe_finish(); });
}

}  // namespace portico::proxy
