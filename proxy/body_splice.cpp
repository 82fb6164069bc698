#include "proxy/body_splice.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace portico::proxy {

namespace {

// Idle pipes kept per worker thread: as many as transfers that ran at once there lately, up
// to this; more are closed when given back.
constexpr std::size_t max_idle_pipes = 16;
// Pipe capacity asked for (the kernel's default is 64 KiB): fewer splice calls per body.
constexpr int pipe_bytes = 256 * 1024;

struct pipe_set {
  struct ends {
    int rd;
    int wr;
  };
  std::vector<ends> idle;
  ~pipe_set() {
    for (const auto& p : idle) {
      ::close(p.rd);
      ::close(p.wr);
    }
  }
};

pipe_set& thread_pipes() {
  thread_local pipe_set set;
  return set;
}

}  // namespace

bool socket_quiet(int fd) {
  char c;
  const ssize_t r = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

splice_pipe::splice_pipe() {
  auto& set = thread_pipes();
  if (!set.idle.empty()) {
    rd_ = set.idle.back().rd;
    wr_ = set.idle.back().wr;
    set.idle.pop_back();
    return;
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return;
  rd_ = fds[0];
  wr_ = fds[1];
  ::fcntl(wr_, F_SETPIPE_SZ, pipe_bytes);  // best effort: the default size works too
}

splice_pipe::~splice_pipe() {
  if (rd_ < 0) return;
  auto& set = thread_pipes();
  if (held_ == 0 && set.idle.size() < max_idle_pipes) {
    set.idle.push_back({rd_, wr_});
    return;
  }
  // Bytes of a transfer that failed stay in it: the pipe goes, so no later body gets them.
  ::close(rd_);
  ::close(wr_);
}

std::size_t splice_pipe::idle_count() { return thread_pipes().idle.size(); }

splice_pipe::io splice_pipe::fill(int from, std::size_t max, std::size_t& n) {
  n = 0;
  for (;;) {
    const ssize_t r = ::splice(from, nullptr, wr_, nullptr, max, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (r > 0) {
      n = static_cast<std::size_t>(r);
      held_ += n;
      return io::moved;
    }
    if (r == 0) return io::closed;
    if (errno == EINTR) continue;
    return errno == EAGAIN ? io::would_block : io::failed;
  }
}

splice_pipe::io splice_pipe::drain(int to, std::size_t& n) {
  n = 0;
  for (;;) {
    const ssize_t r = ::splice(rd_, nullptr, to, nullptr, held_, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (r > 0) {
      n = static_cast<std::size_t>(r);
      held_ -= n;
      return io::moved;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) return io::would_block;
    return io::failed;
  }
}

}  // namespace portico::proxy
