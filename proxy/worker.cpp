#include "proxy/worker.hpp"

#include <boost/asio/post.hpp>
#include <algorithm>
#include <chrono>
#include <random>

#include "proxy/accept_loop.hpp"
#include "proxy/h2_session.hpp"
#include "proxy/http_session.hpp"
#include "proxy/proxy_protocol.hpp"
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
  idle_.start(ioc_);
}

worker::~worker() {
  if (thread_.joinable()) {
    ioc_.stop();
    thread_.join();
  }
  destroying_ = true;
  idle_.stop();
  pool_.clear();
  h2_pool_.clear();
}

std::uint16_t worker::bind(const tcp::endpoint& ep) {
  http_accept_ = std::make_shared<accept_loop>(
      accept_loop::bind(ioc_.get_executor(), ep, true), "http", gauges_, opts_.log,
      [this](tcp::socket sock, const tcp::endpoint& peer) { on_accept(std::move(sock), false, 0, peer); });
  const auto port = http_accept_->port();
  port_text_ = std::to_string(port);
  return port;
}

std::uint16_t worker::bind_https(const tcp::endpoint& ep, tls_server_context& tls) {
  https_accept_ = std::make_shared<accept_loop>(
      accept_loop::bind(ioc_.get_executor(), ep, true), "https", gauges_, opts_.log,
      [this](tcp::socket sock, const tcp::endpoint& peer) { on_accept(std::move(sock), true, 0, peer); });
  const auto port = https_accept_->port();
  https_port_text_ = std::to_string(port);
  tls_shared_ = &tls;
  tls_ = std::make_unique<tls_worker>(tls);
  tls_->allow_h2(opts_.http2 && flag_settings_.use_http2);
  return port;
}

void worker::bind_gateway(const tcp::endpoint& ep, bool https) {
  const std::uint16_t port = ep.port();
  gateway_port_texts_.emplace_back(port, std::to_string(port));
  gateway_accept_.push_back(std::make_shared<accept_loop>(
      accept_loop::bind(ioc_.get_executor(), ep, true), (https ? "https:" : "http:") + std::to_string(port),
      gauges_, opts_.log, [this, https, port](tcp::socket sock, const tcp::endpoint& peer) {
        on_accept(std::move(sock), https, port, peer);
      }));
}

std::string_view worker::port_text_of(std::uint16_t listener_port, bool https) const {
  if (listener_port != 0) {
    for (const auto& [port, text] : gateway_port_texts_)
      if (port == listener_port) return text;
  }
  return https ? https_port_text_ : port_text_;
}

template <typename Fn>
void worker::each_loop(Fn fn) {
  if (http_accept_) fn(*http_accept_);
  if (https_accept_) fn(*https_accept_);
  for (auto& l : gateway_accept_) fn(*l);
}

void worker::run(std::function<void()> on_exit,
                 std::function<void(const boost::system::error_code&)> on_listening) {
  on_exit_ = std::move(on_exit);
  on_listening_ = std::move(on_listening);
  thread_ = std::thread([this] {
    tick();
    ioc_.run();
    if (observer_) observer_->flush();
    if (on_exit_) on_exit_();
  });
}

void worker::join() {
  if (thread_.joinable()) thread_.join();
}

// The first Snapshot is in: open the listeners.
void worker::start_listening() {
  if (listening_ || stopped_accepting_ || draining_) return;
  listening_ = true;
  boost::system::error_code ec;
  each_loop([&ec](accept_loop& l) {
    if (!ec) l.listen(ec);
  });
  if (on_listening_) on_listening_(ec);
}

void worker::stop_listening() {
  stopped_accepting_ = true;
  each_loop([](accept_loop& l) { l.stop(); });
}

void worker::on_accept(tcp::socket sock, bool https, std::uint16_t listener_port, const tcp::endpoint& peer) {
  // With use-proxy-protocol the connection counts once its header is read (accept_proxied);
  // until then the header timeout bounds it.
  if (settings().use_proxy_protocol)
    return accept_with_proxy_header(*this, std::move(sock), https, listener_port);
  accept_proxied(std::move(sock), https, listener_port, address_text(peer.address()), true);
}

void worker::accept_proxied(tcp::socket sock, bool https, std::uint16_t listener_port, std::string peer,
                            bool just_accepted) {
  if (https) std::make_shared<tls_handshake>(*this, std::move(sock), std::move(peer), listener_port)->start();
  else
    idle_conn::wait(*this, std::move(sock), {std::move(peer), 0, 0, listener_port, true, false},
                    just_accepted);
  if (opts_.max_connections == 0 || at_limit_ || connections() < opts_.max_connections) return;
  // Full: every listener waits until a connection closes (withdraw()).
  at_limit_ = true;
  each_loop([](accept_loop& l) { l.hold(); });
}

void worker::below_limit() {
  if (!at_limit_ || destroying_ || connections() >= opts_.max_connections) return;
  at_limit_ = false;
  each_loop([](accept_loop& l) { l.release(); });
}

void worker::set_ticket_keys(const ticket_keys& keys) {
  asio::post(ioc_, [this, keys] {
    if (tls_) tls_->set_keys(keys);
  });
}

void worker::tick() {
  // tick_period: warm waits, blind upstream reads, access-log flush, pool sweep, ejection gauge,
  // shutdown completion.
  const auto now = std::chrono::steady_clock::now();
  ++ticks_;
  end_warm_waits();
  // (A look only cancels a read; the session resumes later, through the executor.)
  for (auto* s = sessions_.front(); s != nullptr; s = s->next) s->owner->look_at_blind_read(ticks_);
  trim_caches();
  if (observer_) observer_->flush();
  pool_.sweep(now);
  h2_pool_.sweep(now, settings().upstream_keepalive_timeout);
  gauges_->ejected_endpoints.store(static_cast<std::int64_t>(lb_.ejected_count(now)),
                                   std::memory_order_relaxed);
  maybe_finish();
  if (finished_) return;
  ticker_.expires_after(tick_period);
  ticker_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) tick();
  });
}

// The spare sessions and the thread's caches give back what lay unused for a window of ticks,
// and everything once the worker is idle (no session at work and none begun for idle_ticks
// ticks): the memory a burst of requests took goes back to slab_heap, which unmaps the slabs
// left empty, and an idle worker holds nothing but its connections.
void worker::trim_caches() {
  const bool busy = !sessions_.empty() || enrolled_ != enrolled_seen_;
  enrolled_seen_ = enrolled_;
  quiet_ticks_ = busy ? 0 : std::min(quiet_ticks_ + 1, idle_ticks);
  const bool idle = quiet_ticks_ >= idle_ticks;
  http_session::trim_spares(idle);
  thread_caches::trim_all(idle);
}

void worker::publish(config::snapshot_ptr snap) {
  asio::post(ioc_, [this, snap = std::move(snap)]() mutable {
    if (observer_) observer_->on_snapshot(*snap);
    lb_.retain_only(*snap, pool_);
    if (tls_) {
      tls_->on_snapshot(snap);
      tls_->allow_h2(opts_.http2 && snap->settings().use_http2);
    }
    adopt_settings(snap->settings_ptr());
    snap_ = std::move(snap);
    start_listening();
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
  if (!trusted_from_ || trusted_from_->proxy_real_ip_cidr != s->proxy_real_ip_cidr) {
    proxy_trusted_ = trusted_networks{};
    for (const auto& cidr : s->proxy_real_ip_cidr) proxy_trusted_.add(cidr);
  }
  pool_.configure(s->upstream_keepalive_connections, s->upstream_keepalive_timeout);
  trusted_from_ = s;
}

void worker::stop_accepting() {
  asio::post(ioc_, [this] { stop_listening(); });
}

void worker::drain() {
  asio::post(ioc_, [this] {
    draining_ = true;
    stop_listening();
    for (auto* h : handshakes_) h->cancel();
    for (auto* c : h2_connections_) c->drain();
    for (auto* s = sessions_.front(); s != nullptr;) {
      auto* next = s->next;  // (read first, as the list's iterator was before)
      s->owner->drain();
      s = next;
    }
    idle_.expire_all();
    maybe_finish();
  });
}

void worker::force_close() {
  asio::post(ioc_, [this] {
    draining_ = true;
    for (auto* h : handshakes_) h->cancel();
    // Copies: closing a connection ends its streams' sessions, which leave sessions_.
    for (auto* c : std::vector<h2_connection*>(h2_connections_.begin(), h2_connections_.end()))
      c->force_close();
    for (auto* s = sessions_.front(); s != nullptr;) {
      auto* next = s->next;  // (read first, as the list's iterator was before)
      s->owner->force_close();
      s = next;
    }
    idle_.close_all();
    maybe_finish();
  });
}

void worker::maybe_finish() {
  if (!draining_ || !sessions_.empty() || !handshakes_.empty() || !h2_connections_.empty() ||
      !idle_.empty() || finished_)
    return;
  finished_ = true;
  idle_.stop();  // its timers' waits would keep the io_context running
  http_session::drop_spares();  // and so would the spare sessions' deadline waits
  pool_.clear();
  h2_pool_.clear();
  ticker_.cancel();
  stop_listening();
}

// The oldest first: each one that began before the previous tick leaves the list.
void worker::end_warm_waits() {
  while (auto* s = warm_.front()) {
    if (!s->owner->end_warm_wait(ticks_)) break;
  }
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

void worker::enroll(list_hook<http_session>& s, bool h2_stream) {
  ++enrolled_;
  if (h2_stream) ++h2_stream_sessions_;
  sessions_.push_back(s);
}

void worker::withdraw(list_hook<http_session>& s, bool h2_stream) {
  if (h2_stream) --h2_stream_sessions_;
  sessions_.erase(s);
  below_limit();
  if (draining_ && sessions_.empty() && !destroying_) asio::post(ioc_, [this] { maybe_finish(); });
}

void worker::idle_closed() {
  below_limit();
  if (draining_ && idle_.empty() && !destroying_) asio::post(ioc_, [this] { maybe_finish(); });
}

std::list<h2_connection*>::iterator worker::enroll(h2_connection* c) {
  return h2_connections_.insert(h2_connections_.end(), c);
}

void worker::withdraw(std::list<h2_connection*>::iterator it) {
  h2_connections_.erase(it);
  below_limit();
  if (draining_ && h2_connections_.empty() && !destroying_)
    asio::post(ioc_, [this] { maybe_finish(); });
}

std::list<tls_handshake*>::iterator worker::enroll(tls_handshake* h) {
  return handshakes_.insert(handshakes_.end(), h);
}

void worker::withdraw(std::list<tls_handshake*>::iterator it) {
  handshakes_.erase(it);
  below_limit();
  if (draining_ && handshakes_.empty() && !destroying_)
    asio::post(ioc_, [this] { maybe_finish(); });
}

}  // namespace portico::proxy
