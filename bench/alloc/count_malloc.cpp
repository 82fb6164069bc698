// An LD_PRELOAD library that counts heap allocations per thread (malloc, calloc, realloc,
// memalign family; operator new goes through malloc). The counters live in a file mapped
// MAP_SHARED (path in $PORTICO_ALLOC_COUNTS), so bench/alloc_count.py reads them while the
// process runs: 512 records of {thread id, allocations} as two little-endian uint64.
// Threads beyond the 511th share the last record. Allocation itself is glibc's.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
}

namespace {

constexpr std::size_t max_threads = 512;

struct record {
  std::atomic<std::uint64_t> tid;
  std::atomic<std::uint64_t> allocs;
};

record* g_records = nullptr;  // null until the constructor mapped the file
std::atomic<std::size_t> g_next{0};
__attribute__((tls_model("initial-exec"))) thread_local record* t_record = nullptr;

void count() {
  if (!g_records) return;
  record* r = t_record;
  if (!r) {
    std::size_t i = g_next.fetch_add(1, std::memory_order_relaxed);
    r = &g_records[i < max_threads ? i : max_threads - 1];
    r->tid.store(static_cast<std::uint64_t>(::syscall(SYS_gettid)), std::memory_order_relaxed);
    t_record = r;
  }
  r->allocs.fetch_add(1, std::memory_order_relaxed);
}

__attribute__((constructor)) void map_counters() {
  const char* path = std::getenv("PORTICO_ALLOC_COUNTS");
  if (!path) return;
  int fd = ::open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  const std::size_t len = max_threads * sizeof(record);
  if (::ftruncate(fd, static_cast<off_t>(len)) != 0) {
    ::close(fd);
    return;
  }
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p != MAP_FAILED) g_records = static_cast<record*>(p);
}

}  // namespace

extern "C" {

void* malloc(std::size_t n) {
  count();
  return __libc_malloc(n);
}

void* calloc(std::size_t n, std::size_t size) {
  count();
  return __libc_calloc(n, size);
}

void* realloc(void* p, std::size_t n) {
  count();
  return __libc_realloc(p, n);
}

void* memalign(std::size_t align, std::size_t n) {
  count();
  return __libc_memalign(align, n);
}

void* aligned_alloc(std::size_t align, std::size_t n) {
  count();
  return __libc_memalign(align, n);
}

int posix_memalign(void** out, std::size_t align, std::size_t n) {
  if (align < sizeof(void*) || (align & (align - 1)) != 0) return 22;  // EINVAL
  count();
  void* p = __libc_memalign(align, n);
  if (!p && n) return 12;  // ENOMEM
  *out = p;
  return 0;
}

}  // extern "C"
