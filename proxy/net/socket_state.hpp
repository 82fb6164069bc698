// What Asio's epoll backend knows of a socket, for the few places that save system calls by
// telling it what Portico already knows: an accepted descriptor that accept4() made
// non-blocking, and that no other descriptor shares. Asio 1.81 would otherwise make every
// accepted socket non-blocking with ioctl(FIONBIO) at its first operation, and take it out of
// the epoll set with epoll_ctl(DEL) before close() (a descriptor it did not open itself might
// be a dup() of one that stays open; close() of the only one leaves the set by itself).
//
// Only with the epoll reactor (the default build); PORTICO_EPOLL_REACTOR says which.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#if defined(BOOST_ASIO_HAS_EPOLL) && !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#define PORTICO_EPOLL_REACTOR 1
#include <boost/asio/detail/reactor.hpp>
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

// `s` takes `fd`, a stream socket made by accept4(SOCK_NONBLOCK | SOCK_CLOEXEC) and held by
// nothing else. Registers it with the reactor (epoll_ctl ADD); nothing more.
inline void adopt_accepted(boost::asio::ip::tcp::socket& s, const boost::asio::ip::tcp& proto,
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

}  // namespace portico::proxy::net
