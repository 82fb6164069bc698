#include "proxy/accept_loop.hpp"

#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "proxy/net/socket_state.hpp"
#include "proxy/observe.hpp"

#if PORTICO_EPOLL_REACTOR
#include <boost/asio/detail/reactor_op.hpp>
#endif

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

enum class accept_step : std::uint8_t { accepted, again, failed };

// One accept4; a connection that was reset before it was taken is skipped for the next one.
accept_step accept_one(int listen_fd, sockaddr_storage& addr, int& fd, int& err) {
  for (;;) {
    socklen_t len = sizeof addr;
    fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len,
                   SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return accept_step::accepted;
    err = errno;
    if (err == EINTR || err == ECONNABORTED || err == EPROTO) continue;
    return err == EAGAIN || err == EWOULDBLOCK ? accept_step::again : accept_step::failed;
  }
}

tcp::endpoint endpoint_of(const sockaddr_storage& addr) {
  tcp::endpoint ep;
  const std::size_t len =
      addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  std::memcpy(ep.data(), &addr, len);
  ep.resize(len);
  return ep;
}

tcp::socket listening_socket(tcp::acceptor& a) {
  const tcp proto = a.local_endpoint().protocol();
  tcp::socket s(a.get_executor());
  const int fd = a.release();  // once per listener: the acceptor leaves the epoll set
  s.assign(proto, fd);
  s.non_blocking(true);
  return s;
}

}  // namespace

#if PORTICO_EPOLL_REACTOR
// accept4 as an operation of Asio's epoll reactor: tried at once, else performed when the
// listener becomes readable, like Asio's own accept (whose accept() needs an ioctl after it).
struct accept_loop::accept_op : asio::detail::reactor_op {
  explicit accept_op(int listen_fd)
      : reactor_op(boost::system::error_code(), &perform, &complete), listen_fd_(listen_fd) {}

  static status perform(reactor_op* base) {
    auto* op = static_cast<accept_op*>(base);
    int err = 0;
    switch (accept_one(op->listen_fd_, op->addr_, op->fd_, err)) {
      case accept_step::accepted: return done;
      case accept_step::again: return not_done;
      case accept_step::failed: break;
    }
    op->ec_ = boost::system::error_code(err, boost::system::system_category());
    return done;
  }

  // owner == nullptr: the io_context is going away and destroys what is pending.
  static void complete(void* owner, asio::detail::operation* base,
                       const boost::system::error_code&, std::size_t) {
    auto* op = static_cast<accept_op*>(base);
    std::shared_ptr<accept_loop> self = std::move(op->self_);  // alive for this call
    const int fd = std::exchange(op->fd_, -1);
    if (owner == nullptr) {
      if (fd >= 0) ::close(fd);
      return;
    }
    self->on_accept(op->ec_, fd);
  }

  void start(std::shared_ptr<accept_loop> self, tcp::socket& listener) {
    self_ = std::move(self);
    ec_ = boost::system::error_code();
    auto& impl = net::socket_access::impl(listener);
    auto& reactor = asio::use_service<asio::detail::reactor>(
        asio::query(listener.get_executor(), asio::execution::context));
    reactor.start_op(asio::detail::reactor::read_op, impl.socket_, impl.reactor_data_, this,
                     false, true);
  }

  int listen_fd_;
  int fd_ = -1;
  sockaddr_storage addr_{};
  std::shared_ptr<accept_loop> self_;  // set while pending
};
#else
// Other backends: wait for readability, then accept4.
struct accept_loop::accept_op {
  explicit accept_op(int listen_fd) : listen_fd_(listen_fd) {}

  void start(std::shared_ptr<accept_loop> self, tcp::socket& listener) {
    listener.async_wait(tcp::socket::wait_read, [self = std::move(self), this](
                                                    const boost::system::error_code& ec) {
      int fd = -1;
      int err = 0;
      if (ec) return self->on_accept(ec, -1);
      switch (accept_one(listen_fd_, addr_, fd, err)) {
        case accept_step::accepted: return self->on_accept({}, fd);
        case accept_step::again: return self->on_accept(asio::error::would_block, -1);
        case accept_step::failed: break;
      }
      self->on_accept(boost::system::error_code(err, boost::system::system_category()), -1);
    });
  }

  int listen_fd_;
  sockaddr_storage addr_{};
};
#endif

accept_loop::accept_loop(tcp::acceptor acceptor, std::string name, worker_gauges* gauges,
                         log_fn log, handler on_accept)
    : listener_(listening_socket(acceptor)),
      op_(std::make_unique<accept_op>(listener_.native_handle())),
      retry_(listener_.get_executor()),
      name_(std::move(name)),
      gauges_(gauges),
      log_(std::move(log)),
      on_accept_(std::move(on_accept)) {}

accept_loop::~accept_loop() = default;

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
  auto ep = listener_.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void accept_loop::listen(boost::system::error_code& ec) {
  if (stopped_ || listening_) return;
  ec = boost::system::error_code();
  if (::listen(listener_.native_handle(), SOMAXCONN) != 0) {
    ec = boost::system::error_code(errno, boost::system::system_category());
    return;
  }
  listening_ = true;
  arm();
}

void accept_loop::hold() {
  if (held_) return;
  held_ = true;
  set_paused(true);
  boost::system::error_code ec;
  if (accepting_) listener_.cancel(ec);  // completes with operation_aborted
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
  listener_.close(ec);
  retry_.cancel();
  set_paused(false);
}

void accept_loop::arm() {
  if (stopped_ || !listening_ || held_ || accepting_ || waiting_) return;
  accepting_ = true;
  op_->start(shared_from_this(), listener_);
}

void accept_loop::on_accept(const boost::system::error_code& ec, int fd) {
  accepting_ = false;
  if (stopped_) {
    if (fd >= 0) ::close(fd);
    return;
  }
  if (!ec) {
    delay_ = std::chrono::milliseconds(0);
    const tcp::endpoint peer = endpoint_of(op_->addr_);
    tcp::socket sock(listener_.get_executor());
    boost::system::error_code aec;
    net::adopt_own(sock, peer.protocol(), fd, aec);
    if (aec) {  // no room in the epoll set: as if accept had failed
      ::close(fd);
      return failed(aec);
    }
    on_accept_(std::move(sock), peer);  // may hold() or stop()
    return arm();
  }
  // hold() cancelled it, or (not epoll) the connection went before accept4 took it.
  if (ec == asio::error::operation_aborted || ec == asio::error::would_block) return arm();
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
