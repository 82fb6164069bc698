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

#include <boost/asio/async_result.hpp>
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
// Waits for a descriptor to become readable, on the reactor's read queue, without the
// epoll_ctl(MOD) of socket::async_wait(wait_read). That wait re-arms the edge-triggered
// registration because an edge may have come and gone with the bytes still unread; but the
// reactor knows when none has: its read queue's `try_speculative_` flag is false from a read
// that left the socket empty until the next event. Then this op is queued without a system
// call and completes on the next event. When the flag is set (an event since, or a
// descriptor just registered), the reactor asks the op first ("speculatively"):
//   - `armed`: an event is sure to come for any byte not yet read, because in this same run
//     of handlers (no epoll_wait in between) the descriptor was registered (epoll_ctl ADD
//     reports bytes already there as an event) or a read on it found nothing (EAGAIN: the
//     next byte makes a new edge). It declines and waits for that event, no system call;
//   - otherwise it looks with recv(MSG_PEEK) of one byte: bytes, the end or an error complete
//     it at once; nothing (EAGAIN) queues it, and bytes arriving after that look make the
//     edge it waits for.
// Either way no epoll_ctl: at most one recv when something may be there.
template <class Handler>
class readable_wait_op : public boost::asio::detail::reactor_op {
 public:
  readable_wait_op(Handler h, int fd, bool armed)
      : reactor_op(boost::system::error_code(), &perform, &complete),
        handler_(std::move(h)),
        fd_(fd),
        armed_(armed) {}

  static void start(boost::asio::ip::tcp::socket& s, bool armed, Handler h) {
    namespace asio = boost::asio;
    asio::recycling_allocator<readable_wait_op> alloc;
    auto& impl = socket_access::impl(s);
    readable_wait_op* op = new (alloc.allocate(1)) readable_wait_op(std::move(h), impl.socket_, armed);
    auto& reactor = asio::use_service<asio::detail::reactor>(
        asio::query(s.get_executor(), asio::execution::context));
    reactor.start_op(asio::detail::reactor::read_op, impl.socket_, impl.reactor_data_, op, false,
                     true);
    // Not asked speculatively (the flag was clear): every later perform is an event's. (The
    // worker's io_context runs on one thread: the op cannot have completed in between.)
    op->first_ = false;
  }

 private:
  static status perform(reactor_op* base) {
    auto* op = static_cast<readable_wait_op*>(base);
    if (op->first_) {
      op->first_ = false;
      if (op->armed_) return not_done;
      char c;
      ssize_t r;
      do r = ::recv(op->fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
      while (r < 0 && errno == EINTR);
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return not_done;
    }
    return done;  // readable, closed or failed; the reader finds out which
  }

  // owner == nullptr: the io_context is going away; the handler is destroyed, not called.
  static void complete(void* owner, boost::asio::detail::operation* base,
                       const boost::system::error_code&, std::size_t) {
    auto* op = static_cast<readable_wait_op*>(base);
    Handler h(std::move(op->handler_));
    const boost::system::error_code ec = op->ec_;
    op->~readable_wait_op();
    boost::asio::recycling_allocator<readable_wait_op>().deallocate(op, 1);
    if (owner != nullptr) h(ec);
  }

  Handler handler_;
  int fd_;
  bool armed_;
  bool first_ = true;
};
#endif

// Calls `h(error_code)` when `s` is readable (or at its end, or failed), without an
// epoll_ctl; operation_aborted when cancelled. `armed`: an event is sure to come for any
// byte not read yet (see readable_wait_op: registered, or found empty by a read, in this same
// run of handlers), which saves even the look with recv(MSG_PEEK).
template <class Handler>
void async_wait_readable(boost::asio::ip::tcp::socket& s, bool armed, Handler h) {
#if PORTICO_EPOLL_REACTOR
  readable_wait_op<Handler>::start(s, armed, std::move(h));
#else
  (void)armed;
  s.async_wait(boost::asio::ip::tcp::socket::wait_read, std::move(h));
#endif
}

// The same for a completion token (a coroutine's): void(error_code).
template <class Token>
auto async_readable(boost::asio::ip::tcp::socket& s, bool armed, Token&& token) {
  return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
      [&s, armed](auto handler) { async_wait_readable(s, armed, std::move(handler)); }, token);
}

}  // namespace portico::proxy::net
