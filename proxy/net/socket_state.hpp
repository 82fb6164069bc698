// What Asio's epoll backend knows of a socket, for the few places that save system calls by
// telling it what Portico already knows: a descriptor that accept4() or socket() made
// non-blocking, and that no other descriptor shares. Asio 1.81 would otherwise make every
// such socket non-blocking with ioctl(FIONBIO) at its first operation, and take an assigned
// one out of the epoll set with epoll_ctl(DEL) before close() (a descriptor it did not open
// itself might be a dup() of one that stays open; close() of the only one leaves the set by
// itself).
//
// Only with the epoll reactor (the default build); PORTICO_EPOLL_REACTOR says which.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/recycling_allocator.hpp>
#include <cerrno>
#include <utility>

#if defined(BOOST_ASIO_HAS_EPOLL) && !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#define PORTICO_EPOLL_REACTOR 1
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#else
#define PORTICO_EPOLL_REACTOR 0
#endif

namespace portico::proxy::net {

#if PORTICO_EPOLL_REACTOR
// basic_socket keeps its implementation protected; a pointer to member formed through a
// derived class reaches it in any tcp::socket.
struct socket_access : boost::asio::ip::tcp::socket {
  static auto& impl(boost::asio::ip::tcp::socket& s) {
    return (s.*(&socket_access::impl_)).get_implementation();
  }
};
#endif

// `s` takes `fd`, a stream socket made by accept4() or socket() with SOCK_NONBLOCK |
// SOCK_CLOEXEC and held by nothing else. Registers it with the reactor (epoll_ctl ADD);
// nothing more.
inline void adopt_own(boost::asio::ip::tcp::socket& s, const boost::asio::ip::tcp& proto,
                           int fd, boost::system::error_code& ec) {
  s.assign(proto, fd, ec);
  if (ec) return;
#if PORTICO_EPOLL_REACTOR
  namespace ops = boost::asio::detail::socket_ops;
  auto& impl = socket_access::impl(s);
  impl.state_ |= ops::internal_non_blocking;  // as Asio would mark it after its own ioctl
  impl.state_ &= static_cast<ops::state_type>(~ops::possible_dup);
#endif
}

// Opens `s` (closed) for `proto` with socket(SOCK_NONBLOCK | SOCK_CLOEXEC), ready for
// async_connect without an ioctl. On an error `s` stays closed (async_connect would open it).
inline void open_nonblocking(boost::asio::ip::tcp::socket& s, const boost::asio::ip::tcp& proto,
                             boost::system::error_code& ec) {
  const int fd = ::socket(proto.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ec = boost::system::error_code(errno, boost::system::system_category());
    return;
  }
  adopt_own(s, proto, fd, ec);
  if (ec) ::close(fd);
}

#if PORTICO_EPOLL_REACTOR
// Waits for a descriptor to become readable, on the reactor's read queue and without a
// system call: it completes on the next epoll event. Only right after the descriptor was
// registered (epoll_ctl ADD reports bytes already there as an event), with no epoll_wait in
// between, is that the same as socket::async_wait(wait_read), which must re-arm the
// edge-triggered registration with epoll_ctl(MOD) because an event may have come and gone.
template <class Handler>
class fresh_wait_op : public boost::asio::detail::reactor_op {
 public:
  explicit fresh_wait_op(Handler h)
      : reactor_op(boost::system::error_code(), &perform, &complete), handler_(std::move(h)) {}

  static void start(boost::asio::ip::tcp::socket& s, Handler h) {
    namespace asio = boost::asio;
    asio::recycling_allocator<fresh_wait_op> alloc;
    fresh_wait_op* op = new (alloc.allocate(1)) fresh_wait_op(std::move(h));
    auto& impl = socket_access::impl(s);
    auto& reactor = asio::use_service<asio::detail::reactor>(
        asio::query(s.get_executor(), asio::execution::context));
    op->first_ = true;
    reactor.start_op(asio::detail::reactor::read_op, impl.socket_, impl.reactor_data_, op, false,
                     true);
    // The reactor tries a new operation at once ("speculatively") unless it knows the
    // descriptor has nothing; this one declines that first try (first_), so it waits for
    // the event.
    op->first_ = false;
  }

 private:
  static status perform(reactor_op* base) {
    auto* op = static_cast<fresh_wait_op*>(base);
    if (op->first_) {
      op->first_ = false;
      return not_done;
    }
    return done;  // an event: readable, closed or failed; the reader finds out which
  }

  // owner == nullptr: the io_context is going away; the handler is destroyed, not called.
  static void complete(void* owner, boost::asio::detail::operation* base,
                       const boost::system::error_code&, std::size_t) {
    auto* op = static_cast<fresh_wait_op*>(base);
    Handler h(std::move(op->handler_));
    const boost::system::error_code ec = op->ec_;
    op->~fresh_wait_op();
    boost::asio::recycling_allocator<fresh_wait_op>().deallocate(op, 1);
    if (owner != nullptr) h(ec);
  }

  Handler handler_;
  bool first_ = true;
};
#endif

// Calls `h(error_code)` when `s` is readable. `fresh`: `s` was registered with the reactor
// in this same run of handlers (an accepted socket, before anything waited on it), which
// saves the epoll_ctl(MOD) of a plain async_wait.
template <class Handler>
void async_wait_readable(boost::asio::ip::tcp::socket& s, bool fresh, Handler h) {
#if PORTICO_EPOLL_REACTOR
  if (fresh) return fresh_wait_op<Handler>::start(s, std::move(h));
#endif
  s.async_wait(boost::asio::ip::tcp::socket::wait_read, std::move(h));
}

}  // namespace portico::proxy::net
