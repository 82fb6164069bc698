// A connection that is plain TCP or TLS over TCP, decided at run time. Reads and writes pass
// the completion handler straight to the socket's or the TLS stream's own operation, so the
// choice costs one branch and no extra coroutine frame. Models AsyncReadStream and
// AsyncWriteStream (asio::async_write works on it).
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <memory>
#include <utility>

namespace portico::proxy {

class byte_stream {
 public:
  using tcp = boost::asio::ip::tcp;
  using tls_stream = boost::asio::ssl::stream<tcp::socket>;
  using executor_type = tcp::socket::executor_type;

  byte_stream(tcp::socket sock) : sock_(std::move(sock)) {}  // NOLINT: implicit on purpose
  template <class Context>
  explicit byte_stream(Context& ctx) : sock_(ctx) {}
  byte_stream(byte_stream&&) noexcept = default;
  byte_stream& operator=(byte_stream&&) noexcept = default;

  // Wraps the (connected) socket in TLS; the handshake is the caller's. Replaces a previous
  // TLS layer.
  void start_tls(boost::asio::ssl::context& ctx) {
    auto exec = socket().get_executor();
    tcp::socket raw = std::move(socket());
    tls_ = std::make_unique<tls_stream>(std::move(raw), ctx);
    sock_ = tcp::socket(exec);
  }
  bool is_tls() const { return tls_ != nullptr; }
  tls_stream* tls() { return tls_.get(); }

  // The TCP socket underneath (the TLS stream's next layer when TLS is on).
  tcp::socket& socket() { return tls_ ? tls_->next_layer() : sock_; }
  const tcp::socket& socket() const { return tls_ ? tls_->next_layer() : sock_; }
  executor_type get_executor() { return socket().get_executor(); }
  bool is_open() const { return socket().is_open(); }

  void cancel(boost::system::error_code& ec) { socket().cancel(ec); }
  // Closes the socket and drops the TLS layer: the object is a plain, closed socket again.
  void close(boost::system::error_code& ec) {
    socket().close(ec);
    if (tls_) {
      auto exec = tls_->next_layer().get_executor();
      tls_.reset();
      sock_ = tcp::socket(exec);
    }
  }
  // Half-close of the sending side at the TCP level (TLS: without close_notify).
  void shutdown_send(boost::system::error_code& ec) {
    socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& b, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& bufs) {
          if (tls_)
            tls_->async_read_some(bufs, std::move(handler));
          else
            sock_.async_read_some(bufs, std::move(handler));
        },
        token, b);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& b, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& bufs) {
          if (tls_)
            tls_->async_write_some(bufs, std::move(handler));
          else
            sock_.async_write_some(bufs, std::move(handler));
        },
        token, b);
  }

 private:
  tcp::socket sock_;  // the connection when plain; a closed placeholder under TLS
  std::unique_ptr<tls_stream> tls_;
};

}  // namespace portico::proxy
