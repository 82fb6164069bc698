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

#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/recycling_allocator.hpp>
#include <cerrno>
#include <cstring>
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

// One recv() that does not wait, retried when a signal interrupts it. `bytes` counts what it
// took (0 with `end`); `failed` keeps errno in `err`.
struct recv_result {
  enum kind { bytes, nothing, end, failed } what;
  std::size_t n = 0;
  int err = 0;
  // The outcome as an Asio read completes: eof at the end, the errno when it failed.
  boost::system::error_code error() const {
    if (what == end) return boost::asio::error::eof;
    if (what == failed) return {err, boost::asio::error::get_system_category()};
    return {};
  }
};
inline recv_result recv_now(int fd, void* data, std::size_t size, int flags = 0) {
  ssize_t r;
  do r = ::recv(fd, data, size, flags | MSG_DONTWAIT);
  while (r < 0 && errno == EINTR);
  if (r > 0) return {recv_result::bytes, static_cast<std::size_t>(r)};
  if (r == 0) return {recv_result::end};
  if (errno == EAGAIN || errno == EWOULDBLOCK) return {recv_result::nothing};
  return {recv_result::failed, 0, errno};
}

#if PORTICO_EPOLL_REACTOR
// Puts `op` on the read queue of `s`'s descriptor in its io_context's reactor, which tries it
// at once ("speculatively") when it thinks the descriptor may have bytes.
inline void start_read_op(boost::asio::ip::tcp::socket& s, boost::asio::detail::reactor_op* op) {
  namespace asio = boost::asio;
  auto& impl = socket_access::impl(s);
  auto& reactor = asio::use_service<asio::detail::reactor>(
      asio::query(s.get_executor(), asio::execution::context));
  reactor.start_op(asio::detail::reactor::read_op, impl.socket_, impl.reactor_data_, op, false,
                   true);
}
#endif

#if PORTICO_EPOLL_REACTOR
// A wait for the next epoll event of a descriptor, on the reactor's read queue, with no system
// call: right only when an event is sure to come for any byte not read yet ("armed"): the
// descriptor was registered, or a read on it found nothing (EAGAIN) or took all there was,
// in this same run of handlers (no epoll_wait in between). socket::async_wait(wait_read)
// cannot know that and re-arms the edge-triggered registration with epoll_ctl(MOD) instead.
// The reactor tries a new operation at once ("speculatively") when it thinks the descriptor
// may have bytes; this one declines that first try and waits for the event.
template <class Handler>
class armed_wait_op : public boost::asio::detail::reactor_op {
 public:
  explicit armed_wait_op(Handler h)
      : reactor_op(boost::system::error_code(), &perform, &complete), handler_(std::move(h)) {}

  static void start(boost::asio::ip::tcp::socket& s, Handler h) {
    boost::asio::recycling_allocator<armed_wait_op> alloc;
    armed_wait_op* op = new (alloc.allocate(1)) armed_wait_op(std::move(h));
    start_read_op(s, op);
    // Not asked speculatively: every later perform is an event's. (The worker's io_context
    // runs on one thread: the op cannot have completed in between.)
    op->first_ = false;
  }

 private:
  static status perform(reactor_op* base) {
    auto* op = static_cast<armed_wait_op*>(base);
    if (op->first_) {
      op->first_ = false;
      return not_done;
    }
    return done;  // an event: readable, closed or failed; the reader finds out which
  }

  // owner == nullptr: the io_context is going away; the handler is destroyed, not called.
  static void complete(void* owner, boost::asio::detail::operation* base,
                       const boost::system::error_code&, std::size_t) {
    auto* op = static_cast<armed_wait_op*>(base);
    Handler h(std::move(op->handler_));
    const boost::system::error_code ec = op->ec_;
    op->~armed_wait_op();
    boost::asio::recycling_allocator<armed_wait_op>().deallocate(op, 1);
    if (owner != nullptr) h(ec);
  }

  Handler handler_;
  bool first_ = true;
};
#endif

#if PORTICO_EPOLL_REACTOR
// The operation of mark_empty: asked at once ("speculatively", the reactor thinking the
// descriptor may have bytes) it says "done, and nothing left", which is all it is for; queued
// (the reactor already thought so) it is completed by the next event like a read that found
// something, so that a read queued behind it is tried in the same turn.
class empty_mark_op : public boost::asio::detail::reactor_op {
 public:
  empty_mark_op() : reactor_op(boost::system::error_code(), &perform, &complete) {}

  static void start(boost::asio::ip::tcp::socket& s) {
    boost::asio::recycling_allocator<empty_mark_op> alloc;
    empty_mark_op* op = new (alloc.allocate(1)) empty_mark_op();
    start_read_op(s, op);
    op->starting_ = false;  // (one thread runs the io_context: the op has not completed yet)
  }

 private:
  static status perform(reactor_op* base) {
    return static_cast<empty_mark_op*>(base)->starting_ ? done_and_exhausted : done;
  }
  static void complete(void*, boost::asio::detail::operation* base, const boost::system::error_code&,
                       std::size_t) {
    auto* op = static_cast<empty_mark_op*>(base);
    op->~empty_mark_op();
    boost::asio::recycling_allocator<empty_mark_op>().deallocate(op, 1);
  }

  bool starting_ = true;
};
#endif

// Tells `s`'s reactor that the socket holds nothing unread, so that its next read waits for
// the next event instead of trying recv() first (Asio's reads say so only at the end of a
// stream). Right only when every byte that came before the last event was read; and any byte
// or end that comes later makes an event of its own. A FIN that came with the last bytes read
// does not: the caller must not wait on such a socket for what only its end would answer.
inline void mark_empty(boost::asio::ip::tcp::socket& s) {
#if PORTICO_EPOLL_REACTOR
  empty_mark_op::start(s);
#else
  (void)s;
#endif
}

// Calls `h(error_code)` when `s` is readable (or at its end, or failed), without an
// epoll_ctl; operation_aborted when cancelled. `armed` (see armed_wait_op): no system call at
// all. Otherwise one look, recv(MSG_PEEK) of a byte: bytes, the end or an error complete the
// wait at once (through the executor); nothing (EAGAIN) arms it. The look also sees a FIN that
// came with the last bytes read, whose event went with theirs.
template <class Handler>
void async_wait_readable(boost::asio::ip::tcp::socket& s, bool armed, Handler h) {
#if PORTICO_EPOLL_REACTOR
  char c;
  if (!armed && recv_now(s.native_handle(), &c, 1, MSG_PEEK).what != recv_result::nothing) {
    boost::asio::post(s.get_executor(), boost::asio::append(std::move(h), boost::system::error_code{}));
    return;
  }
  armed_wait_op<Handler>::start(s, std::move(h));
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

#if PORTICO_EPOLL_REACTOR
// A client socket's read for request bytes, as socket::async_read_some, with one difference
// that saves a failed read per keep-alive request: when it returns less than the buffer holds
// and the bytes end a request head (CRLF CRLF), it tells the reactor the socket is empty
// (done_and_exhausted), so the next read waits for the next event instead of trying recv()
// first. (Asio's own read op says so only at the end of the stream, and every read after an
// answer, the warm wait's, began with a recv() that found nothing.) The next bytes make a new
// edge. What would not: a FIN that came with the head, its event gone with the head's. A read
// after an answer (the warm wait's) then waits until the warm wait ends (at most 200 ms),
// whose idle wait looks (async_wait_readable) and sees the end; the read after such a look
// must try recv() itself before it waits (`try_first`), as nothing tells the reactor.
// A head that announced a body and came with a FIN instead waits for the body's timeout.
template <class Handler>
class request_read_op : public boost::asio::detail::reactor_op {
 public:
  request_read_op(Handler h, int fd, char* data, std::size_t size)
      : reactor_op(boost::system::error_code(), &perform, &complete),
        handler_(std::move(h)),
        fd_(fd),
        data_(data),
        size_(size) {}

  static void start(boost::asio::ip::tcp::socket& s, boost::asio::mutable_buffer b, Handler h) {
    boost::asio::recycling_allocator<request_read_op> alloc;
    start_read_op(s, new (alloc.allocate(1)) request_read_op(std::move(h), s.native_handle(),
                                                               static_cast<char*>(b.data()), b.size()));
  }

 private:
  static status perform(reactor_op* base) {
    auto* op = static_cast<request_read_op*>(base);
    if (op->size_ == 0) return done;
    const recv_result r = recv_now(op->fd_, op->data_, op->size_);
    if (r.what == recv_result::nothing) return not_done;
    op->ec_ = r.error();
    op->n_ = r.n;
    if (r.what == recv_result::bytes && op->n_ < op->size_ && op->n_ >= 4 && std::memcmp(op->data_ + op->n_ - 4, "\r\n\r\n", 4) == 0)
      return done_and_exhausted;
    return done;
  }

  static void complete(void* owner, boost::asio::detail::operation* base,
                       const boost::system::error_code&, std::size_t) {
    auto* op = static_cast<request_read_op*>(base);
    Handler h(std::move(op->handler_));
    const boost::system::error_code ec = op->ec_;
    const std::size_t n = op->n_;
    op->~request_read_op();
    boost::asio::recycling_allocator<request_read_op>().deallocate(op, 1);
    if (owner != nullptr) h(ec, n);
  }

  Handler handler_;
  int fd_;
  char* data_;
  std::size_t size_;
  std::size_t n_ = 0;
};
#endif

// void(error_code, std::size_t): request bytes from a plain client socket (request_read_op).
// `try_first`: recv() at once whatever the reactor knows (the first read after a wait that
// looked, async_wait_readable); what it finds completes the read through the executor.
template <class Token>
auto async_read_request(boost::asio::ip::tcp::socket& s, boost::asio::mutable_buffer b,
                        bool try_first, Token&& token) {
  return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
      [&s, b, try_first](auto handler) {
#if PORTICO_EPOLL_REACTOR
        if (try_first && b.size() > 0) {
          const recv_result r = recv_now(s.native_handle(), b.data(), b.size());
          if (r.what != recv_result::nothing) {
            boost::asio::post(s.get_executor(),
                              boost::asio::append(std::move(handler), r.error(), r.n));
            return;
          }
        }
        request_read_op<decltype(handler)>::start(s, b, std::move(handler));
#else
        (void)try_first;
        s.async_read_some(b, std::move(handler));
#endif
      },
      token);
}

}  // namespace portico::proxy::net
