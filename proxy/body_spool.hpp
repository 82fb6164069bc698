// Where a buffered request body goes once it outgrows client-body-buffer-size: an unnamed
// temporary file (O_TMPFILE, or a file unlinked at once), as nginx's client_body_temp_path.
// Written and read with plain blocking calls on the worker thread, like nginx: the file lives
// in the page cache for the short time between receiving the body and sending it upstream.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace portico::proxy {

class body_spool {
 public:
  body_spool() = default;
  ~body_spool() { reset(); }
  body_spool(const body_spool&) = delete;
  body_spool& operator=(const body_spool&) = delete;

  // Appends bytes, creating the file in `dir` on first use. False (errno kept) on failure.
  bool append(std::string_view dir, std::string_view data);
  // Reads up to `n` bytes at `offset` into `buf`; returns the count (0 at the end, -1 error).
  long read_at(std::uint64_t offset, char* buf, std::size_t n) const;
  std::uint64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void reset();  // closes (and so deletes) the file

 private:
  bool open_in(std::string_view dir);
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

}  // namespace portico::proxy
