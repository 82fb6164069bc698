#include "proxy/tls_socket.hpp"

#include <openssl/err.h>
#include <sys/socket.h>

#include <boost/asio/ssl/error.hpp>
#include <boost/system/system_error.hpp>
#include <cerrno>

namespace portico::proxy {

namespace asio = boost::asio;

namespace {

// The BIO under the SSL object: send/recv on the descriptor, MSG_NOSIGNAL (a write to a
// connection the peer reset is an error, not SIGPIPE), EAGAIN as a retry.

int bio_write(BIO* b, const char* data, int len) {
  auto* st = static_cast<tls_socket::bio_state*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  const ssize_t n = ::send(st->fd, data, static_cast<std::size_t>(len), MSG_NOSIGNAL);
  if (n < 0) {
    st->last_errno = errno;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) BIO_set_retry_write(b);
  }
  return static_cast<int>(n);
}

int bio_read(BIO* b, char* data, int len) {
  auto* st = static_cast<tls_socket::bio_state*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  ssize_t n;
  do n = ::recv(st->fd, data, static_cast<std::size_t>(len), 0);
  while (n < 0 && errno == EINTR);  // a retry means "found nothing" (tls_socket's read wait)
  if (n < 0) {
    st->last_errno = errno;
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_read(b);
  } else if (n == 0) {
    st->eof = true;
  }
  return static_cast<int>(n);
}

long bio_ctrl(BIO* b, int cmd, long, void*) {  // NOLINT(google-runtime-int): OpenSSL's type
  switch (cmd) {
    case BIO_CTRL_FLUSH: return 1;
    case BIO_CTRL_EOF: return static_cast<tls_socket::bio_state*>(BIO_get_data(b))->eof ? 1 : 0;
    default: return 0;
  }
}

int bio_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

const BIO_METHOD* socket_method() {
  static BIO_METHOD* m = [] {
    BIO_METHOD* x = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "portico socket");
    if (x != nullptr) {
      BIO_meth_set_write(x, bio_write);
      BIO_meth_set_read(x, bio_read);
      BIO_meth_set_ctrl(x, bio_ctrl);
      BIO_meth_set_create(x, bio_create);
    }
    return x;
  }();
  return m;
}

[[noreturn]] void throw_openssl(const char* what) {
  boost::system::error_code ec(static_cast<int>(ERR_get_error()), asio::error::get_ssl_category());
  ERR_clear_error();
  throw boost::system::system_error(ec, what);
}

}  // namespace

tls_socket::tls_socket(tcp::socket sock, SSL_CTX* ctx)
    : sock_(std::move(sock)) {
  ssl_ = SSL_new(ctx);
  if (ssl_ == nullptr) throw_openssl("SSL_new");
  BIO* b = socket_method() != nullptr ? BIO_new(socket_method()) : nullptr;
  if (b == nullptr) {
    SSL_free(ssl_);
    throw_openssl("BIO_new");
  }
  bio_.fd = sock_.native_handle();
  BIO_set_data(b, &bio_);
  SSL_set_bio(ssl_, b, b);
  // Partial writes: a write completes with the records that went out. Read-ahead: one recv
  // takes what the socket has (up to the record buffer), not a header and then a body.
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                         SSL_MODE_RELEASE_BUFFERS);
  SSL_set_read_ahead(ssl_, 1);
  SSL_set_accept_state(ssl_);
  boost::system::error_code ec;
  sock_.non_blocking(true, ec);
  if (ec) {
    SSL_free(ssl_);
    throw boost::system::system_error(ec, "non_blocking");
  }
}

tls_socket::~tls_socket() { SSL_free(ssl_); }

tls_socket::step tls_socket::classify(int ret, boost::system::error_code& ec) {
  if (ret == 1) return step::done;
  const int e = SSL_get_error(ssl_, ret);
  step st = step::failed;
  switch (e) {
    case SSL_ERROR_WANT_READ: st = step::want_read; break;
    case SSL_ERROR_WANT_WRITE: st = step::want_write; break;
    case SSL_ERROR_ZERO_RETURN: ec = asio::error::eof; break;  // close_notify
    case SSL_ERROR_SYSCALL:
      if (const unsigned long err = ERR_get_error(); err != 0)  // NOLINT(google-runtime-int)
        ec.assign(static_cast<int>(err), asio::error::get_ssl_category());
      else if (bio_.last_errno != 0 && !bio_.eof)
        ec.assign(bio_.last_errno, boost::system::system_category());
      else
        ec = asio::ssl::error::stream_truncated;
      break;
    default: {
      const unsigned long err = ERR_peek_last_error();  // NOLINT(google-runtime-int)
      if (ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        ec = asio::ssl::error::stream_truncated;  // the peer closed TCP without close_notify
      else if (err != 0)
        ec.assign(static_cast<int>(err), asio::error::get_ssl_category());
      else  // nothing queued: still a failure, never a success with no bytes
        ec = asio::ssl::error::unspecified_system_error;
      break;
    }
  }
  ERR_clear_error();
  return st;
}

tls_socket::step tls_socket::handshake_step(boost::system::error_code& ec) {
  ERR_clear_error();
  bio_.last_errno = 0;
  return classify(SSL_do_handshake(ssl_), ec);
}

tls_socket::step tls_socket::read_step(void* data, std::size_t size, std::size_t& n,
                                       boost::system::error_code& ec) {
  ERR_clear_error();
  bio_.last_errno = 0;
  n = 0;
  return classify(SSL_read_ex(ssl_, data, size, &n), ec);
}

tls_socket::step tls_socket::write_step(const void* data, std::size_t size, std::size_t& n,
                                        boost::system::error_code& ec) {
  ERR_clear_error();
  bio_.last_errno = 0;
  n = 0;
  return classify(SSL_write_ex(ssl_, data, size, &n), ec);
}

}  // namespace portico::proxy
