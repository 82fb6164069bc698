// A connection that is plain TCP or TLS over TCP, decided at run time, or one stream of an
// HTTP/2 connection (downstream: proxy/h2_session.hpp; upstream: proxy/h2_upstream.hpp)
// carrying one exchange as HTTP/1.1 bytes. Reads and
// writes pass the completion handler straight to the socket's or the TLS stream's own
// operation, so the choice costs one branch and no extra coroutine frame. Models
// AsyncReadStream and AsyncWriteStream (asio::async_write works on it).
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "proxy/tls_socket.hpp"

namespace portico::proxy {

// A move-only completion handler of a read or write, type-erased: an HTTP/2 stream keeps it
// until data or window is there. Handlers up to `inline_size` bytes (a coroutine's, a lambda
// holding a shared_ptr) live inside the object: no allocation per read or write of an HTTP/2
// stream (bench/callgrind.sh --grpc: two of them per call and direction went to malloc).
class io_handler {
 public:
  io_handler() = default;
  template <class H>
  explicit io_handler(H&& h) {
    using F = std::decay_t<H>;
    if constexpr (fits<F>) {
      ::new (static_cast<void*>(buf_)) F(std::forward<H>(h));
      ops_ = &inline_ops<F>;
    } else {
      *reinterpret_cast<F**>(buf_) = new F(std::forward<H>(h));
      ops_ = &heap_ops<F>;
    }
  }
  io_handler(io_handler&& o) noexcept : ops_(o.ops_) {
    if (ops_ != nullptr) ops_->move(o.buf_, buf_);
    o.ops_ = nullptr;
  }
  io_handler& operator=(io_handler&& o) noexcept {
    if (this == &o) return *this;
    reset();
    ops_ = o.ops_;
    if (ops_ != nullptr) ops_->move(o.buf_, buf_);
    o.ops_ = nullptr;
    return *this;
  }
  io_handler(const io_handler&) = delete;
  io_handler& operator=(const io_handler&) = delete;
  ~io_handler() { reset(); }

  explicit operator bool() const { return ops_ != nullptr; }
  // Calls and empties the handler (taken out of the object before the call, which may store
  // a new one here).
  void operator()(const boost::system::error_code& ec, std::size_t n) {
    const ops* o = std::exchange(ops_, nullptr);
    o->call(buf_, ec, n);
  }

 private:
  static constexpr std::size_t inline_size = 64;
  template <class F>
  static constexpr bool fits = sizeof(F) <= inline_size && alignof(F) <= alignof(std::max_align_t) &&
                               std::is_nothrow_move_constructible_v<F>;
  struct ops {
    // Takes the handler out of `b` (left empty), then calls it.
    void (*call)(unsigned char* b, const boost::system::error_code& ec, std::size_t n);
    void (*move)(unsigned char* from, unsigned char* to) noexcept;  // leaves `from` empty
    void (*destroy)(unsigned char* b) noexcept;
  };
  template <class F>
  static F& inline_of(unsigned char* b) { return *std::launder(reinterpret_cast<F*>(b)); }
  template <class F>
  static constexpr ops inline_ops{
      [](unsigned char* b, const boost::system::error_code& ec, std::size_t n) {
        F f(std::move(inline_of<F>(b)));
        inline_of<F>(b).~F();
        f(ec, n);
      },
      [](unsigned char* from, unsigned char* to) noexcept {
        ::new (static_cast<void*>(to)) F(std::move(inline_of<F>(from)));
        inline_of<F>(from).~F();
      },
      [](unsigned char* b) noexcept { inline_of<F>(b).~F(); }};
  template <class F>
  static constexpr ops heap_ops{
      [](unsigned char* b, const boost::system::error_code& ec, std::size_t n) {
        std::unique_ptr<F> f(*reinterpret_cast<F**>(b));
        (*f)(ec, n);
      },
      [](unsigned char* from, unsigned char* to) noexcept {
        *reinterpret_cast<F**>(to) = *reinterpret_cast<F**>(from);
      },
      [](unsigned char* b) noexcept { delete *reinterpret_cast<F**>(b); }};
  void reset() noexcept {
    if (ops_ != nullptr) ops_->destroy(buf_);
    ops_ = nullptr;
  }

  alignas(std::max_align_t) unsigned char buf_[inline_size];
  const ops* ops_ = nullptr;
};

// One HTTP/2 stream seen as a byte stream: a downstream request stream (proxy/h2_session.cpp)
// or an upstream one (proxy/h2_upstream.cpp). Handlers are never called from inside these
// functions.
class stream_channel {
 public:
  virtual ~stream_channel() = default;
  virtual void read(boost::asio::mutable_buffer b, io_handler h) = 0;
  virtual void write(boost::asio::const_buffer b, io_handler h) = 0;
  virtual void cancel() = 0;  // pending read and write fail with operation_aborted
  virtual void close() = 0;   // finished (reset when the exchange is incomplete)
  virtual bool open() const = 0;
};

class byte_stream {
 public:
  using tcp = boost::asio::ip::tcp;
  using tls_stream = boost::asio::ssl::stream<tcp::socket>;
  using executor_type = tcp::socket::executor_type;

  byte_stream(tcp::socket sock) : sock_(std::move(sock)) {}  // NOLINT: implicit on purpose
  template <class Context>
  explicit byte_stream(Context& ctx) : sock_(ctx) {}
  // One HTTP/2 stream; `tls`: the connection's SSL object (null for h2c), which outlives it.
  template <class Context>
  byte_stream(Context& ctx, std::shared_ptr<stream_channel> s, SSL* tls)
      : sock_(ctx), h2_(std::move(s)), ssl_view_(tls) {}
  template <class Context>
  byte_stream(Context& ctx, std::shared_ptr<stream_channel> s, tls_stream* tls)
      : byte_stream(ctx, std::move(s), tls != nullptr ? tls->native_handle() : nullptr) {}
  byte_stream(byte_stream&& o) noexcept
      : sock_(std::move(o.sock_)), tls_(std::move(o.tls_)), stls_(std::move(o.stls_)),
        h2_(std::move(o.h2_)), ssl_view_(std::exchange(o.ssl_view_, nullptr)) {}
  byte_stream& operator=(byte_stream&& o) noexcept {
    sock_ = std::move(o.sock_);
    tls_ = std::move(o.tls_);
    stls_ = std::move(o.stls_);
    h2_ = std::move(o.h2_);
    ssl_view_ = std::exchange(o.ssl_view_, nullptr);
    return *this;
  }

  // Client side (upstream connections): wraps the (connected) socket in Asio's TLS stream;
  // the handshake is the caller's (tls()->async_handshake). Replaces a previous TLS layer.
  void start_tls(boost::asio::ssl::context& ctx) {
    auto exec = socket().get_executor();
    tcp::socket raw = std::move(socket());
    tls_ = std::make_unique<tls_stream>(std::move(raw), ctx);
    ssl_view_ = tls_->native_handle();
    sock_ = tcp::socket(exec);
  }
  // Server side (accepted connections): TLS on the socket without staging buffers
  // (proxy/tls_socket.hpp); the handshake is the caller's (server_tls()->async_handshake).
  void start_server_tls(SSL_CTX* ctx) {
    auto exec = socket().get_executor();
    tcp::socket raw = std::move(socket());
    stls_ = std::make_unique<tls_socket>(std::move(raw), ctx);
    ssl_view_ = stls_->native_handle();
    sock_ = tcp::socket(exec);
  }
  bool is_tls() const { return ssl_view_ != nullptr; }
  // The connection's SSL object (an HTTP/2 stream: its connection's), or null.
  SSL* ssl() const { return ssl_view_; }
  tls_stream* tls() { return tls_.get(); }          // start_tls()'s stream
  tls_socket* server_tls() { return stls_.get(); }  // start_server_tls()'s
  bool is_h2() const { return h2_ != nullptr; }
  // Plain TCP: no TLS layer, not an HTTP/2 stream.
  bool is_plain() const { return !tls_ && !stls_ && !h2_; }

  // The TCP socket underneath (the TLS stream's next layer when TLS is on).
  tcp::socket& socket() { return tls_ ? tls_->next_layer() : stls_ ? stls_->next_layer() : sock_; }
  const tcp::socket& socket() const {
    return tls_ ? tls_->next_layer() : stls_ ? stls_->next_layer() : sock_;
  }
  executor_type get_executor() { return socket().get_executor(); }
  bool is_open() const { return h2_ ? h2_->open() : socket().is_open(); }

  void cancel(boost::system::error_code& ec) {
    if (h2_) h2_->cancel();
    else socket().cancel(ec);
  }
  // Closes the socket and drops the TLS layer: the object is a plain, closed socket again.
  // An HTTP/2 stream is finished (reset when its response is incomplete).
  void close(boost::system::error_code& ec) {
    if (h2_) {
      h2_->close();
      h2_.reset();
      ssl_view_ = nullptr;
      return;
    }
    socket().close(ec);
    ssl_view_ = nullptr;
    if (tls_ || stls_) {
      auto exec = socket().get_executor();
      tls_.reset();
      stls_.reset();
      sock_ = tcp::socket(exec);
    }
  }
  // Half-close of the sending side at the TCP level (TLS: without close_notify).
  void shutdown_send(boost::system::error_code& ec) {
    if (h2_) h2_->close();
    else socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& b, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& bufs) {
          if (stls_)
            stls_->async_read_some(bufs, std::move(handler));
          else if (tls_)
            tls_->async_read_some(bufs, std::move(handler));
          else if (h2_) [[unlikely]]
            h2_->read(*boost::asio::buffer_sequence_begin(bufs), io_handler(std::move(handler)));
          else
            sock_.async_read_some(bufs, std::move(handler));
        },
        token, b);
  }

  // The client side's read of request bytes: on plain TCP net::async_read_request (a read that
  // ends a request head leaves no failed recv() for the next; `try_first` there), else
  // async_read_some.
  template <class Token>
  auto async_read_request(boost::asio::mutable_buffer b, bool try_first, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this, try_first](auto handler, boost::asio::mutable_buffer buf) {
          if (is_plain()) net::async_read_request(sock_, buf, try_first, std::move(handler));
          else async_read_some(buf, std::move(handler));
        },
        token, b);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& b, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& bufs) {
          if (stls_)
            stls_->async_write_some(bufs, std::move(handler));
          else if (tls_)
            tls_->async_write_some(bufs, std::move(handler));
          else if (h2_) [[unlikely]]
            h2_->write(*boost::asio::buffer_sequence_begin(bufs), io_handler(std::move(handler)));
          else
            sock_.async_write_some(bufs, std::move(handler));
        },
        token, b);
  }

  // void(error_code): the connection has something to read (or its end), without a buffer
  // while it waits. Plain TCP and server-side TLS (bytes OpenSSL holds count); not for an
  // HTTP/2 stream or Asio's TLS stream, whose staging buffers readiness does not see.
  template <class Token>
  auto async_wait_readable(Token&& token) {
    if (stls_) return stls_->async_wait_readable(std::forward<Token>(token));
    return net::async_readable(sock_, false, std::forward<Token>(token));
  }

 private:
  tcp::socket sock_;  // the connection when plain; a closed placeholder under TLS
  std::unique_ptr<tls_stream> tls_;   // client side TLS
  std::unique_ptr<tls_socket> stls_;  // server side TLS
  std::shared_ptr<stream_channel> h2_;
  SSL* ssl_view_ = nullptr;  // of tls_ or stls_, or an HTTP/2 stream's connection's
};

}  // namespace portico::proxy
