// Memory of the per-thread caches (block_cache, frame_pool) comes from slabs of its own, mapped
// from the kernel apart from the malloc heap.
//
// A burst of requests takes sessions, frames and buffers for every request in progress, and
// the connections accepted meanwhile leave small long-lived objects (idle waits, Asio's
// descriptor states) between them in the heap. Freed after the burst, that memory stayed in
// the RSS: malloc_trim can give back only whole free pages, and the long-lived objects kept
// nearly every page partly in use (3,000 idle connections opened in bursts of 500 held 1.7 KB
// each, 0.7 KB of it live). In slabs, blocks of one size lie together: a slab whose blocks
// are all free is unmapped at once, and the long-lived blocks (idle waits) share slabs with
// their own kind only.
//
// A slab holds blocks of one size: 16 KiB to 256 KiB, aligned to its size, the header at its
// start; its pages are untouched until a block on them is first taken. Blocks are taken from
// the slab that last had one freed into it while not full, and slabs that were full queue
// behind, so that the rest can empty. Thread-safe (one mutex): callers are caches
// that come here only when empty or trimming. Under AddressSanitizer the blocks come from
// operator new, so that it still sees every block.
#pragma once

#include <cstddef>

namespace portico::proxy {

class slab_heap {
 public:
  static constexpr std::size_t granule = 16;  // block sizes are rounded up to this
  static constexpr std::size_t max_block = 32 * 1024;

  // A block of `bytes` (at most max_block), aligned to 16 bytes (to 64 when `bytes` is a
  // multiple of 64); throws std::bad_alloc.
  static void* allocate(std::size_t bytes);
  // `p` from allocate(bytes) with the same `bytes`; any thread.
  static void deallocate(void* p, std::size_t bytes) noexcept;

  // Bytes mapped for slabs now, and slabs unmapped so far (tests, metrics).
  static std::size_t mapped_bytes() noexcept;
  static std::size_t slabs_unmapped() noexcept;
  // The size of the slabs that hold blocks of `bytes`.
  static std::size_t slab_bytes(std::size_t bytes) noexcept;
};

}  // namespace portico::proxy
