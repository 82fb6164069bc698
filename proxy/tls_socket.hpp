// Server-side TLS straight on the TCP socket: OpenSSL reads and writes the (non-blocking)
// descriptor itself through a socket BIO, and the socket's readiness waits (async_wait) drive
// the retries. Unlike Asio's ssl::stream there are no staging buffers: Asio's stream keeps two
// 17 KiB vectors and a 2 x 17 KiB BIO pair per connection for its whole life, and the idle
// wait had to hold a receive buffer because those staging buffers hide bytes from socket
// readiness. Here, with SSL_MODE_RELEASE_BUFFERS, an idle connection holds only the SSL
// object (measured: bench idle-tls scenario, bench/causes.md): OpenSSL's record buffers exist
// while a record is in flight.
//
// One read and one write may be in flight at once (as with Asio's stream). Completion
// handlers are never called from inside the initiating function. Errors as Asio's stream
// reports them: close_notify received -> asio::error::eof, the peer's TCP close without it ->
// ssl::error::stream_truncated, TLS failures in the SSL category.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <cstddef>

#include "proxy/net/socket_state.hpp"

namespace portico::proxy {

class tls_socket {
 public:
  using tcp = boost::asio::ip::tcp;
  using executor_type = tcp::socket::executor_type;

  // Takes the connected socket; the SSL object is made from `ctx` in accept state. Throws
  // boost::system::system_error when OpenSSL cannot make it.
  tls_socket(tcp::socket sock, SSL_CTX* ctx);
  ~tls_socket();
  tls_socket(const tls_socket&) = delete;
  tls_socket& operator=(const tls_socket&) = delete;

  SSL* native_handle() const { return ssl_; }
  tcp::socket& next_layer() { return sock_; }
  const tcp::socket& next_layer() const { return sock_; }
  executor_type get_executor() { return sock_.get_executor(); }
  // Bytes OpenSSL holds that socket readiness will not announce (decrypted, or records read
  // from the socket and not processed yet).
  bool has_pending() const { return SSL_has_pending(ssl_) == 1; }

  // The BIO's view of the socket (tls_socket.cpp).
  struct bio_state {
    int fd = -1;
    int last_errno = 0;
    bool eof = false;
  };

  // What one OpenSSL call asks for next.
  enum class step : unsigned char { done, want_read, want_write, failed };
  // One SSL_do_handshake / SSL_read_ex / SSL_write_ex; `n` the bytes moved, `ec` on failure.
  step handshake_step(boost::system::error_code& ec);
  step read_step(void* data, std::size_t size, std::size_t& n, boost::system::error_code& ec);
  step write_step(const void* data, std::size_t size, std::size_t& n,
                  boost::system::error_code& ec);

  // void(error_code)
  template <class Token>
  auto async_handshake(Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code)>(
        handshake_op{{this}}, token, sock_.get_executor());
  }
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& b, Token&& token) {
    const boost::asio::mutable_buffer first = *boost::asio::buffer_sequence_begin(b);
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        io_op<false>{{this}, first.data(), first.size()}, token, sock_.get_executor());
  }
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& b, Token&& token) {
    const boost::asio::const_buffer first = *boost::asio::buffer_sequence_begin(b);
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        io_op<true>{{this}, const_cast<void*>(first.data()), first.size()}, token,
        sock_.get_executor());
  }
  // void(error_code): a read would find bytes (held by OpenSSL, or on the socket) or the
  // connection's end. Holds no buffer while it waits.
  template <class Token>
  auto async_wait_readable(Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler) {
          if (has_pending())
            boost::asio::post(sock_.get_executor(),
                              boost::asio::append(std::move(handler), boost::system::error_code{}));
          else
            net::async_wait_readable(sock_, false, std::move(handler));
        },
        token);
  }

 private:
  // Shared by the operations: retries the step after each readiness wait; completes through a
  // post when the first attempt already finished.
  struct op_base {
    tls_socket* s;
    bool waited = false;
    template <class Self, class... Result>
    void finish(Self& self, Result... r) {
      if (waited) return self.complete(r...);
      waited = true;  // the completion is the posted call's
      boost::asio::post(s->sock_.get_executor(), boost::asio::append(std::move(self), r...));
    }
    // Waits as `st` asks; false when the step finished.
    template <class Self>
    bool wait(Self& self, step st) {
      if (st != step::want_read && st != step::want_write) return false;
      waited = true;
      // A read wait follows the BIO's recv that found nothing, in this same call: the next
      // byte makes an epoll event, so no re-arming epoll_ctl (net/socket_state.hpp).
      if (st == step::want_read) net::async_wait_readable(s->sock_, true, std::move(self));
      else s->sock_.async_wait(tcp::socket::wait_write, std::move(self));
      return true;
    }
  };

  struct handshake_op : op_base {
    bool finished = false;
    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}) {
      if (finished || ec) return self.complete(ec);
      const step st = s->handshake_step(ec);
      if (wait(self, st)) return;
      finished = true;
      finish(self, ec);
    }
  };

  template <bool Write>
  struct io_op : op_base {
    void* data;
    std::size_t size;
    bool finished = false;
    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}, std::size_t n = 0) {
      if (finished || ec) return self.complete(ec, n);
      step st = step::done;
      if (size != 0) {
        if constexpr (Write) st = s->write_step(data, size, n, ec);
        else st = s->read_step(data, size, n, ec);
      }
      if (wait(self, st)) return;
      finished = true;
      finish(self, ec, n);
    }
  };

  step classify(int ret, boost::system::error_code& ec);

  tcp::socket sock_;
  SSL* ssl_ = nullptr;
  bio_state bio_;
};

}  // namespace portico::proxy
