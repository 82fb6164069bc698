// The data plane's entry point: worker threads, publishing, health and graceful shutdown.
#include "proxy/server.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <thread>
#include <vector>

#include "proxy/admin.hpp"
#include "proxy/metrics.hpp"
#include "config/gateway_status.hpp"
#include "proxy/snapshot_json.hpp"
#include "proxy/tls_server.hpp"
#include "proxy/worker.hpp"

namespace portico::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
// Session ticket keys: a new one every 4 hours; the previous still decrypts for 4 more.
constexpr std::chrono::hours ticket_key_period{4};
}  // namespace

struct server::impl {
  impl(asio::io_context& c, server_options o)
      : control(c), opts(std::move(o)), metrics(opts), signals(c), delay_timer(c), grace_timer(c),
        ticket_timer(c) {
    metrics.add_worker_gauges(&admin_gauges);
  }

  void begin_shutdown();
  void on_worker_listening(const boost::system::error_code& ec);
  void on_worker_exit();
  void rotate_ticket_keys();

  asio::io_context& control;
  server_options opts;
  worker_gauges admin_gauges;  // the admin listener's accept counters; outlives `metrics`
  metrics_registry metrics;
  std::unique_ptr<admin_server> admin;
  std::vector<std::unique_ptr<worker>> workers;
  asio::signal_set signals;
  asio::steady_timer delay_timer;
  asio::steady_timer grace_timer;
  asio::steady_timer ticket_timer;
  std::unique_ptr<tls_server_context> tls;  // when HTTPS is on; outlives the workers
  config::snapshot_ptr current;
  std::function<void()> stopped;
  std::uint16_t http_port = 0;
  std::uint16_t https_port = 0;
  std::uint16_t admin_port = 0;
  unsigned live_workers = 0;
  unsigned listening_workers = 0;  // workers whose listeners are open (first Snapshot in)
  bool started = false;
  bool published = false;
  bool draining = false;
  bool forced = false;
};

void server::impl::begin_shutdown() {
  if (draining) {
    // A second signal: stop waiting.
    forced = true;
    for (auto& w : workers) w->force_close();
    return;
  }
  draining = true;  // /healthz fails from now on
  delay_timer.expires_after(opts.shutdown_delay);
  delay_timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    for (auto& w : workers) w->drain();
    grace_timer.expires_after(opts.shutdown_grace);
    grace_timer.async_wait([this](const boost::system::error_code& ec2) {
      if (ec2) return;
      for (auto& w : workers) w->force_close();
    });
  });
  signals.async_wait([this](const boost::system::error_code& ec, int) {
    if (!ec) begin_shutdown();
  });
  if (workers.empty()) on_worker_exit();
}

// Control thread. /healthz turns 200 only when every worker listens.
void server::impl::on_worker_listening(const boost::system::error_code& ec) {
  if (ec) {
    // A bound port that cannot listen: as fatal as a bind failure at start.
    throw boost::system::system_error(ec, "listen on the HTTP(S) port");
  }
  ++listening_workers;
}

void server::impl::rotate_ticket_keys() {
  ticket_timer.expires_after(ticket_key_period);
  ticket_timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec || draining) return;
    const ticket_keys keys = tls->rotate();
    for (auto& w : workers) w->set_ticket_keys(keys);
    rotate_ticket_keys();
  });
}

void server::impl::on_worker_exit() {
  if (live_workers > 0) --live_workers;
  if (live_workers > 0) return;
  for (auto& w : workers) w->join();
  delay_timer.cancel();
  grace_timer.cancel();
  ticket_timer.cancel();
  boost::system::error_code ec;
  signals.cancel(ec);
  if (admin) admin->close();
  if (stopped) stopped();
}

server::server(asio::io_context& control, server_options opts)
    : impl_(std::make_unique<impl>(control, std::move(opts))) {}

server::~server() {
  for (auto& w : impl_->workers) w->force_close();
  for (auto& w : impl_->workers) w->join();
  impl_->workers.clear();  // before the TLS context they use
}

void server::start() {
  auto& d = *impl_;
  unsigned n = d.opts.workers != 0 ? d.opts.workers : std::thread::hardware_concurrency();
  if (n == 0) n = 1;
  const auto addr = asio::ip::make_address(d.opts.listen_address);
  std::uint16_t port = d.opts.http_port;
  std::uint16_t tls_port = d.opts.https_port;
  if (tls_port != 0) d.tls = std::make_unique<tls_server_context>();
  // Bound now (a port conflict fails here); each worker listens once it has the first
  // Snapshot, so no connection is answered from an empty table.
  for (unsigned i = 0; i < n; ++i) {
    auto w = std::make_unique<worker>(i, d.opts, &d.metrics);
    port = w->bind(tcp::endpoint(addr, port));  // port 0: the first bind picks, others follow
    if (d.tls) tls_port = w->bind_https(tcp::endpoint(addr, tls_port), *d.tls);
    for (const std::uint16_t p : d.opts.gateway_http_ports) w->bind_gateway(tcp::endpoint(addr, p), false);
    if (d.tls)
      for (const std::uint16_t p : d.opts.gateway_https_ports) w->bind_gateway(tcp::endpoint(addr, p), true);
    d.workers.push_back(std::move(w));
  }
  d.http_port = port;
  d.https_port = d.tls ? tls_port : 0;
  if (d.tls) d.rotate_ticket_keys();
  admin_options ao;
  ao.debug = d.opts.debug;
  ao.gauges = &d.admin_gauges;
  ao.log = d.opts.log;
  ao.gateway_status_json = [&d] {
    return d.current ? config::gateway_status_json(*d.current->gateway_status_ptr())
                     : std::string(R"({"gateways":[],"routes":[]})");
  };
  d.admin = std::make_unique<admin_server>(
      d.control, d.opts.admin_address, d.opts.admin_port, d.metrics,
      [&d] { return d.published && d.listening_workers == d.workers.size() && !d.draining; },
      [&d] { return d.current ? snapshot_to_json(*d.current) : std::string("{}"); }, ao);
  d.admin_port = d.admin->port();
  if (d.current)
    for (auto& w : d.workers) w->publish(d.current);
  d.live_workers = n;
  for (auto& w : d.workers)
    w->run([&d] { asio::post(d.control, [&d] { d.on_worker_exit(); }); },
           [&d](const boost::system::error_code& ec) {
             asio::post(d.control, [&d, ec] { d.on_worker_listening(ec); });
           });
  d.started = true;
  d.signals.add(SIGTERM);
  d.signals.add(SIGINT);
  d.signals.async_wait([&d](const boost::system::error_code& ec, int) {
    if (!ec) d.begin_shutdown();
  });
}

void server::publish(config::snapshot_ptr snap, const publish_info& info) {
  auto& d = *impl_;
  if (!snap) return;
  d.metrics.on_publish(*snap, info.build_seconds, true);
  d.current = snap;
  d.published = true;
  if (d.started)
    for (auto& w : d.workers) w->publish(snap);
}

void server::reload_failed() { impl_->metrics.on_reload_failed(); }

void server::set_leader(bool leading, const std::string& election_id) {
  impl_->metrics.set_leader(leading, election_id);
}

void server::on_stopped(std::function<void()> fn) { impl_->stopped = std::move(fn); }

std::uint16_t server::http_port() const { return impl_->http_port; }
std::uint16_t server::https_port() const { return impl_->https_port; }
std::uint16_t server::admin_port() const { return impl_->admin_port; }

}  // namespace portico::proxy
