#include "proxy/accept_loop.hpp"

#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstdio>

#include "proxy/observe.hpp"

namespace portico::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr std::chrono::milliseconds first_delay{10};
constexpr std::chrono::milliseconds max_delay{100};
// A failure is logged when no accept failed in the whole process for this long: running out
// of descriptors hits every listener at once and lasts, so one line says it.
constexpr std::chrono::seconds episode_gap{10};

// Process-wide: the moment of the last accept failure (steady clock, ns; 0 = never).
std::atomic<std::int64_t> last_failure_ns{0};

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// True for the first failure of an episode.
bool episode_begins() {
  const std::int64_t now = steady_ns();
  const std::int64_t prev = last_failure_ns.exchange(now, std::memory_order_relaxed);
  return prev == 0 || now - prev >= std::chrono::nanoseconds(episode_gap).count();
}

std::string open_file_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return "";
  return " (open-file limit " + std::to_string(rl.rlim_cur) + ")";
}

}  // namespace

accept_loop::accept_loop(tcp::acceptor acceptor, std::string name, worker_gauges* gauges,
                         log_fn log, handler on_accept)
    : acceptor_(std::move(acceptor)),
      retry_(acceptor_.get_executor()),
      name_(std::move(name)),
      gauges_(gauges),
      log_(std::move(log)),
      on_accept_(std::move(on_accept)) {}

tcp::acceptor accept_loop::bind(asio::any_io_executor ex, const tcp::endpoint& ep,
                                bool reuse_port) {
  tcp::acceptor a(ex);
  a.open(ep.protocol());
  a.set_option(asio::socket_base::reuse_address(true));
  if (reuse_port) {
    int one = 1;
    ::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  }
  a.bind(ep);
  a.set_option(tcp::no_delay(true));
  return a;
}

std::string address_text(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  return a.to_string();
}

std::uint16_t accept_loop::port() const {
  boost::system::error_code ec;
  auto ep = acceptor_.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void accept_loop::listen(boost::system::error_code& ec) {
  if (stopped_ || listening_) return;
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return;
  listening_ = true;
  arm();
}

void accept_loop::hold() {
  if (held_) return;
  held_ = true;
  set_paused(true);
  boost::system::error_code ec;
  if (accepting_) acceptor_.cancel(ec);  // completes with operation_aborted
}

void accept_loop::release() {
  if (!held_) return;
  held_ = false;
  set_paused(waiting_);
  arm();
}

void accept_loop::stop() {
  stopped_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  retry_.cancel();
  set_paused(false);
}

void accept_loop::arm() {
  if (stopped_ || !listening_ || held_ || accepting_ || waiting_) return;
  accepting_ = true;
  acceptor_.async_accept(
      peer_, [self = shared_from_this()](const boost::system::error_code& ec, tcp::socket sock) {
        self->on_accept(ec, std::move(sock));
      });
}

void accept_loop::on_accept(const boost::system::error_code& ec, tcp::socket sock) {
  accepting_ = false;
  if (stopped_) return;
  if (!ec) {
    delay_ = std::chrono::milliseconds(0);
    on_accept_(std::move(sock), peer_);  // may hold() or stop()
    return arm();
  }
  if (ec == asio::error::operation_aborted) return arm();  // hold() cancelled it
  failed(ec);
}

// Retrying at once would find the same pending connection and the same error: a busy loop.
void accept_loop::failed(const boost::system::error_code& ec) {
  if (gauges_) gauge_add(gauges_->accept_errors, 1);
  if (episode_begins()) {
    const std::string msg =
        "accept on the " + name_ + " listener failed: " + ec.message() + open_file_limit() +
        "; new connections wait while established ones are served, retried every 10-100 ms; "
        "further failures are counted in portico_accept_errors_total and logged again after "
        "10 s without any";
    if (log_) log_("warn", msg);
    else std::fprintf(stderr, "portico: %s\n", msg.c_str());
  }
  delay_ = delay_.count() == 0 ? first_delay : std::min(delay_ * 2, max_delay);
  waiting_ = true;
  set_paused(true);
  retry_.expires_after(delay_);
  retry_.async_wait([self = shared_from_this()](const boost::system::error_code&) {
    if (self->stopped_) return;
    self->waiting_ = false;
    self->set_paused(self->held_);
    self->arm();
  });
}

void accept_loop::set_paused(bool paused) {
  if (paused == paused_reported_) return;
  paused_reported_ = paused;
  if (gauges_) gauge_add(gauges_->accept_paused, paused ? 1 : -1);
}

}  // namespace portico::proxy
