// Body bytes moved between two plain TCP sockets inside the kernel: socket -> pipe -> socket
// with splice(2), so they never cross into user space. Each worker thread keeps its own small
// set of pipes; a transfer holds one while it runs and gives it back only empty (a pipe that
// still holds bytes after a failed transfer is closed, never reused).
#pragma once

#include <cstddef>
#include <cstdint>

namespace portico::proxy {

// Bodies with at least this many bytes left (after those already received) are spliced; a
// shorter rest goes through the receive buffer, as a pipe costs two more system calls per
// piece than a read and a write.
inline constexpr std::uint64_t splice_min_bytes = 64 * 1024;

// Whether nothing waits to be read on socket `fd` (no byte, no end of stream): a spliced
// body leaves what came after it in the socket, and such a connection is not reused.
bool socket_quiet(int fd);

// One pipe of the worker thread's set, held for one transfer.
class splice_pipe {
 public:
  // A pipe from the thread's set, or a new one; !valid() when none can be made (no file
  // descriptors left): the caller relays through user space instead.
  splice_pipe();
  ~splice_pipe();
  splice_pipe(const splice_pipe&) = delete;
  splice_pipe& operator=(const splice_pipe&) = delete;

  bool valid() const { return rd_ >= 0; }
  std::size_t held() const { return held_; }  // bytes in the pipe

  enum class io : std::uint8_t {
    moved,       // some bytes moved (count in `n`)
    would_block, // nothing now: wait for readiness
    closed,      // fill(): the source sent its FIN before the bytes asked for
    failed,      // an error (errno kept)
  };
  // Moves up to `max` bytes from socket `from` into the pipe.
  io fill(int from, std::size_t max, std::size_t& n);
  // Moves what the pipe holds into socket `to`.
  io drain(int to, std::size_t& n);

  // Idle pipes this thread keeps (for tests).
  static std::size_t idle_count();

 private:
  int rd_ = -1;
  int wr_ = -1;
  std::size_t held_ = 0;
};

}  // namespace portico::proxy
