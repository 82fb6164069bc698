// The downstream TLS stream on a real loopback socket against a blocking OpenSSL client on
// another thread: data both ways, close_notify read as eof, a TCP close without it as
// stream_truncated, records OpenSSL already holds reported readable though the socket is
// empty, and a handshake with garbage failing instead of hanging.
#include "proxy/tls_socket.hpp"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "proxy/tls_server.hpp"

using namespace portico::proxy;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

class tls_socket_test : public ::testing::Test {
 protected:
  // Accepts one connection and runs `client(fd)` on a thread against it.
  void connect(const std::function<void(int)>& client) {
    tcp::acceptor acc(io_, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    tcp::socket c(io_);
    c.connect(acc.local_endpoint());
    tcp::socket s = acc.accept();
    client_sock_ = std::move(c);
    server_ = std::make_unique<tls_socket>(std::move(s), shared_.context().native_handle());
    worker_.set_keys(shared_.keys());
    tls_server_context::attach(server_->native_handle(), &worker_);
    thread_ = std::thread([this, client] { client(client_sock_.native_handle()); });
  }
  void TearDown() override {
    if (thread_.joinable()) thread_.join();
    if (cssl_ != nullptr) SSL_free(cssl_);
    if (cctx_ != nullptr) SSL_CTX_free(cctx_);
  }
  // Client side (the thread): a blocking handshake on `fd`.
  SSL* client_handshake(int fd) {
    cctx_ = SSL_CTX_new(TLS_client_method());
    cssl_ = SSL_new(cctx_);
    SSL_set_fd(cssl_, fd);
    return SSL_connect(cssl_) == 1 ? cssl_ : nullptr;
  }
  boost::system::error_code handshake() {
    boost::system::error_code out = asio::error::would_block;
    server_->async_handshake([&](const boost::system::error_code& ec) { out = ec; });
    io_.run_for(std::chrono::seconds(10));
    io_.restart();
    return out;
  }
  std::string read(boost::system::error_code& ec) {
    char buf[64];
    std::size_t got = 0;
    ec = asio::error::would_block;
    server_->async_read_some(asio::buffer(buf), [&](const boost::system::error_code& e, std::size_t n) {
      ec = e;
      got = n;
    });
    io_.run_for(std::chrono::seconds(10));
    io_.restart();
    return std::string(buf, got);
  }

  asio::io_context io_;
  tls_server_context shared_;
  tls_worker worker_{shared_};
  tcp::socket client_sock_{io_};
  std::unique_ptr<tls_socket> server_;
  std::thread thread_;
  SSL_CTX* cctx_ = nullptr;
  SSL* cssl_ = nullptr;
};

TEST_F(tls_socket_test, data_both_ways_then_close_notify_is_eof) {
  std::string reply;
  connect([&](int fd) {
    SSL* ssl = client_handshake(fd);
    if (ssl == nullptr) return;
    SSL_write(ssl, "ping", 4);
    char buf[16];
    const int n = SSL_read(ssl, buf, sizeof buf);
    if (n > 0) reply.assign(buf, static_cast<std::size_t>(n));
    SSL_shutdown(ssl);  // close_notify
  });
  ASSERT_FALSE(handshake());
  boost::system::error_code ec;
  EXPECT_EQ(read(ec), "ping");
  EXPECT_FALSE(ec);
  boost::system::error_code wec = asio::error::would_block;
  server_->async_write_some(asio::buffer("pong", 4),
                            [&](const boost::system::error_code& e, std::size_t) { wec = e; });
  io_.run_for(std::chrono::seconds(10));
  io_.restart();
  EXPECT_FALSE(wec);
  read(ec);
  EXPECT_EQ(ec, asio::error::eof);
  thread_.join();
  EXPECT_EQ(reply, "pong");
}

TEST_F(tls_socket_test, tcp_close_without_close_notify_is_stream_truncated) {
  connect([&](int fd) {
    if (client_handshake(fd) != nullptr) ::shutdown(fd, SHUT_WR);
  });
  ASSERT_FALSE(handshake());
  boost::system::error_code ec;
  read(ec);
  EXPECT_EQ(ec, asio::ssl::error::stream_truncated);
}

TEST_F(tls_socket_test, records_held_by_openssl_count_as_readable) {
  connect([&](int fd) {
    SSL* ssl = client_handshake(fd);
    if (ssl == nullptr) return;
    // Two records produced into memory, sent in one TCP write.
    BIO* mem = BIO_new(BIO_s_mem());
    SSL_set0_wbio(ssl, mem);
    SSL_write(ssl, "first", 5);
    SSL_write(ssl, "second", 6);
    char* data = nullptr;
    const long n = BIO_get_mem_data(mem, &data);
    ::send(fd, data, static_cast<std::size_t>(n), MSG_NOSIGNAL);
  });
  ASSERT_FALSE(handshake());
  boost::system::error_code ec;
  EXPECT_EQ(read(ec), "first");  // one record per read: the second stays inside OpenSSL
  thread_.join();
  EXPECT_TRUE(server_->has_pending());
  boost::system::error_code wait_ec = asio::error::would_block;
  server_->async_wait_readable([&](const boost::system::error_code& e) { wait_ec = e; });
  io_.run_for(std::chrono::seconds(5));
  io_.restart();
  EXPECT_FALSE(wait_ec);  // would_block: the wait did not see the held record
  EXPECT_EQ(read(ec), "second");
}

TEST_F(tls_socket_test, garbage_instead_of_a_client_hello_fails_the_handshake) {
  connect([&](int fd) {
    const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    ::send(fd, junk, sizeof junk - 1, MSG_NOSIGNAL);
  });
  const auto ec = handshake();
  EXPECT_TRUE(ec);
  EXPECT_NE(ec, asio::error::would_block);
}

}  // namespace
