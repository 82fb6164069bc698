#include "proxy/body_spool.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace portico::proxy {

bool body_spool::open_in(std::string_view dir) {
  std::string d(dir.empty() ? std::string_view("/tmp") : dir);
#ifdef O_TMPFILE
  fd_ = ::open(d.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd_ >= 0) return true;
#endif
  // File systems without O_TMPFILE: a named file, unlinked before it is used.
  std::string path = d + "/portico-body-XXXXXX";
  fd_ = ::mkostemp(path.data(), O_CLOEXEC);
  if (fd_ < 0) return false;
  ::unlink(path.c_str());
  return true;
}

bool body_spool::append(std::string_view dir, std::string_view data) {
  if (fd_ < 0 && !open_in(dir)) return false;
  while (!data.empty()) {
    const ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
    size_ += static_cast<std::uint64_t>(n);
  }
  return true;
}

long body_spool::read_at(std::uint64_t offset, char* buf, std::size_t n) const {
  for (;;) {
    const ssize_t r = ::pread(fd_, buf, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    return static_cast<long>(r);
  }
}

void body_spool::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  size_ = 0;
}

}  // namespace portico::proxy
