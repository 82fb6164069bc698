// proxy/body_splice: bytes moved socket -> pipe -> socket over real loopback TCP connections;
// a pipe goes back to the thread's set only empty.
#include "proxy/body_splice.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace portico::proxy {
namespace {

// A connected loopback TCP pair: first = the connecting end, second = the accepted end.
std::pair<int, int> tcp_pair() {
  const int l = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  EXPECT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(::listen(l, 1), 0);
  EXPECT_EQ(::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const int c = ::socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const int s = ::accept(l, nullptr, nullptr);
  ::close(l);
  for (int fd : {c, s}) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return {c, s};
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7 + i / 251) % 256);
  return s;
}

void wait_for(int fd, short events) {
  pollfd p{fd, events, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1);
}

// Writes all of `data` to `fd` while moving what arrives at `from` to `to` through `pipe`,
// and reads everything from `sink`: returns what the sink got.
std::string relay(splice_pipe& pipe, int src_w, int from, int to, int sink, const std::string& data,
                  std::size_t n) {
  std::string got;
  std::size_t sent = 0;
  std::size_t left = n;
  char buf[65536];
  while (got.size() < n) {
    if (sent < data.size()) {
      const ssize_t w = ::send(src_w, data.data() + sent, data.size() - sent, MSG_DONTWAIT);
      if (w > 0) sent += static_cast<std::size_t>(w);
    }
    std::size_t k = 0;
    if (left > 0 && pipe.fill(from, left, k) == splice_pipe::io::moved) left -= k;
    if (pipe.held() > 0) {
      EXPECT_NE(pipe.drain(to, k), splice_pipe::io::failed);
    }
    const ssize_t r = ::recv(sink, buf, sizeof buf, MSG_DONTWAIT);
    if (r > 0) got.append(buf, static_cast<std::size_t>(r));
    if (r <= 0 && k == 0) {
      pollfd p[2] = {{from, POLLIN, 0}, {sink, POLLIN, 0}};
      ::poll(p, 2, 50);
    }
  }
  return got;
}

TEST(BodySplice, MovesExactlyTheBytesAskedAndLeavesTheRestInTheSocket) {
  auto [client, client_peer] = tcp_pair();
  auto [up_peer, upstream] = tcp_pair();
  const std::string body = pattern(3 * 1024 * 1024 + 3);
  const std::string after = "GET /next HTTP/1.1\r\n\r\n";
  const std::size_t before = splice_pipe::idle_count();
  {
    splice_pipe pipe;
    ASSERT_TRUE(pipe.valid());
    const std::string got = relay(pipe, client, client_peer, up_peer, upstream, body + after, body.size());
    EXPECT_EQ(got.size(), body.size());
    EXPECT_TRUE(got == body);
    EXPECT_EQ(pipe.held(), 0u);
    // What came after the body is still in the source socket.
    wait_for(client_peer, POLLIN);
    EXPECT_FALSE(socket_quiet(client_peer));
    char buf[64];
    EXPECT_EQ(::recv(client_peer, buf, sizeof buf, 0), static_cast<ssize_t>(after.size()));
    EXPECT_EQ(std::string(buf, after.size()), after);
    EXPECT_TRUE(socket_quiet(client_peer));
  }
  EXPECT_EQ(splice_pipe::idle_count(), before + 1);  // empty: kept for the next body
  {
    splice_pipe again;  // the same pipe again, still empty
    EXPECT_TRUE(again.valid());
    EXPECT_EQ(again.held(), 0u);
    EXPECT_EQ(splice_pipe::idle_count(), before);
  }
  for (int fd : {client, client_peer, up_peer, upstream}) ::close(fd);
}

TEST(BodySplice, APipeLeftHoldingBytesIsNotReused) {
  auto [a, b] = tcp_pair();
  const std::size_t before = splice_pipe::idle_count();
  {
    splice_pipe pipe;
    ASSERT_TRUE(pipe.valid());
    const std::string data = pattern(1000);
    ASSERT_EQ(::send(a, data.data(), data.size(), 0), 1000);
    wait_for(b, POLLIN);
    std::size_t k = 0;
    ASSERT_EQ(pipe.fill(b, 1000, k), splice_pipe::io::moved);
    EXPECT_EQ(pipe.held(), k);  // the transfer ends here (say, its sink failed)
  }
  // Closed, not given back (it was taken from the idle ones when there were some).
  EXPECT_EQ(splice_pipe::idle_count(), before > 0 ? before - 1 : 0);
  {
    splice_pipe fresh;
    EXPECT_EQ(fresh.held(), 0u);
    const std::string data = pattern(10);
    ASSERT_EQ(::send(a, data.data(), data.size(), 0), 10);
    wait_for(b, POLLIN);
    std::size_t k = 0;
    ASSERT_EQ(fresh.fill(b, 10, k), splice_pipe::io::moved);
    auto [e, f] = tcp_pair();
    ASSERT_EQ(fresh.drain(e, k), splice_pipe::io::moved);
    EXPECT_EQ(k, 10u);  // only the new bytes: nothing of the failed transfer
    wait_for(f, POLLIN);
    char buf[64];
    EXPECT_EQ(::recv(f, buf, sizeof buf, 0), 10);
    EXPECT_EQ(std::string(buf, 10), data);
    ::close(e);
    ::close(f);
  }
  for (int fd : {a, b}) ::close(fd);
}

TEST(BodySplice, EndOfStreamBeforeTheBodyEndsIsClosedAndAnEmptySocketWouldBlock) {
  auto [a, b] = tcp_pair();
  splice_pipe pipe;
  ASSERT_TRUE(pipe.valid());
  std::size_t k = 0;
  EXPECT_EQ(pipe.fill(b, 100, k), splice_pipe::io::would_block);
  EXPECT_TRUE(socket_quiet(b));
  ASSERT_EQ(::send(a, "abc", 3, 0), 3);
  ::shutdown(a, SHUT_WR);
  wait_for(b, POLLIN);
  ASSERT_EQ(pipe.fill(b, 100, k), splice_pipe::io::moved);
  EXPECT_EQ(k, 3u);
  EXPECT_EQ(pipe.fill(b, 97, k), splice_pipe::io::closed);
  EXPECT_FALSE(socket_quiet(b));  // the end of stream is something to read
  auto [c, d] = tcp_pair();
  ASSERT_EQ(pipe.drain(c, k), splice_pipe::io::moved);
  EXPECT_EQ(pipe.held(), 0u);
  for (int fd : {a, b, c, d}) ::close(fd);
}

}  // namespace
}  // namespace portico::proxy
