// What the kernel charges for the ways a keep-alive connection can go back to waiting for its
// next request on an edge-triggered epoll registration (the socket has nothing unread):
//  - epoll_ctl(EPOLL_CTL_MOD) with the same events: Asio's socket::async_wait re-arms so, and
//    the kernel polls the socket again (what Portico's idle wait costs per request);
//  - recv(MSG_PEEK | MSG_DONTWAIT) of one byte that fails with EAGAIN: "nothing unread, no
//    FIN", after which the edge of the next bytes is enough and no re-arm is needed;
//  - recv(MSG_DONTWAIT) that fails with EAGAIN (the speculative read Asio makes);
//  - epoll_wait with a zero timeout and nothing ready (Asio's poll between handlers).
// One connected loopback TCP pair, the server end registered EPOLLIN | EPOLLET as Asio does.
#include <benchmark/benchmark.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace {

struct conn_pair {
  int listener = -1, client = -1, server = -1, ep = -1;

  conn_pair() {
    listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listener, 1) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      std::abort();
    client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) std::abort();
    server = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (server < 0 || ep < 0) std::abort();
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLPRI | EPOLLET;
    ev.data.fd = server;
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, server, &ev) != 0) std::abort();
  }
  ~conn_pair() {
    ::close(ep);
    ::close(server);
    ::close(client);
    ::close(listener);
  }
};

void BM_epoll_ctl_mod(benchmark::State& state) {
  conn_pair p;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLPRI | EPOLLET;
  ev.data.fd = p.server;
  for (auto _ : state) {
    if (::epoll_ctl(p.ep, EPOLL_CTL_MOD, p.server, &ev) != 0) state.SkipWithError("epoll_ctl");
  }
}
BENCHMARK(BM_epoll_ctl_mod);

void BM_recv_peek_eagain(benchmark::State& state) {
  conn_pair p;
  char b;
  for (auto _ : state) {
    if (::recv(p.server, &b, 1, MSG_PEEK | MSG_DONTWAIT) != -1 || errno != EAGAIN)
      state.SkipWithError("recv");
  }
}
BENCHMARK(BM_recv_peek_eagain);

void BM_recv_eagain(benchmark::State& state) {
  conn_pair p;
  char b[4096];
  for (auto _ : state) {
    if (::recv(p.server, b, sizeof b, MSG_DONTWAIT) != -1 || errno != EAGAIN)
      state.SkipWithError("recv");
  }
}
BENCHMARK(BM_recv_eagain);

void BM_epoll_wait_zero(benchmark::State& state) {
  conn_pair p;
  epoll_event evs[8];
  for (auto _ : state) benchmark::DoNotOptimize(::epoll_wait(p.ep, evs, 8, 0));
}
BENCHMARK(BM_epoll_wait_zero);

}  // namespace
