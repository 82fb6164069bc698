#include "proxy/slab_heap.hpp"

#include "proxy/sanitized.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <mutex>
#include <new>

namespace portico::proxy {

namespace {

constexpr std::size_t header_bytes = 64;
constexpr std::size_t min_slab = 16 * 1024;
constexpr std::size_t max_slab = 256 * 1024;

struct slab {
  slab* prev;
  slab* next;            // in its class's list of slabs with free blocks
  void* given_back;      // blocks freed into this slab (a list through their first word)
  std::uint32_t free;    // free blocks: given back, and never taken
  std::uint32_t total;
  std::uint32_t fresh;   // blocks [fresh, total) were never taken (their pages untouched)
  std::uint32_t block;
  bool listed;           // in its class's list (it has a free block)
};
static_assert(sizeof(slab) <= header_bytes);

constexpr std::size_t classes = slab_heap::max_block / slab_heap::granule;

struct slab_list {
  slab* head = nullptr;
  slab* tail = nullptr;
};

struct heap_state {
  std::mutex mu;
  slab_list partial[classes];  // per class: the slabs with a free block
  std::atomic<std::size_t> mapped{0};
  std::atomic<std::size_t> unmapped{0};
};

heap_state& state() {
  // Never destroyed: blocks may come back from threads that outlive static destruction.
  static heap_state* s = new heap_state;
  return *s;
}

std::size_t rounded(std::size_t bytes) {
  return bytes == 0 ? slab_heap::granule : (bytes + slab_heap::granule - 1) / slab_heap::granule * slab_heap::granule;
}

// `n` bytes aligned to `n` (a power of two): map twice as much and unmap the rest.
void* map_aligned(std::size_t n) {
  void* p = ::mmap(nullptr, 2 * n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  const auto base = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t aligned = (base + n - 1) & ~(std::uintptr_t(n) - 1);
  const std::size_t head = aligned - base;
  if (head != 0) ::munmap(p, head);
  if (n - head != 0) ::munmap(reinterpret_cast<void*>(aligned + n), n - head);
  return reinterpret_cast<void*>(aligned);
}

void link_front(slab_list& l, slab* s) {
  s->prev = nullptr;
  s->next = l.head;
  if (l.head != nullptr) l.head->prev = s;
  else l.tail = s;
  l.head = s;
  s->listed = true;
}

void link_back(slab_list& l, slab* s) {
  s->next = nullptr;
  s->prev = l.tail;
  if (l.tail != nullptr) l.tail->next = s;
  else l.head = s;
  l.tail = s;
  s->listed = true;
}

void unlink(slab_list& l, slab* s) {
  if (s->prev != nullptr) s->prev->next = s->next;
  else l.head = s->next;
  if (s->next != nullptr) s->next->prev = s->prev;
  else l.tail = s->prev;
  s->prev = s->next = nullptr;
  s->listed = false;
}

void* take_from(slab_list& l, slab* s) {
  void* p;
  if (s->given_back != nullptr) {
    p = s->given_back;
    s->given_back = *static_cast<void**>(p);
  } else {
    p = reinterpret_cast<char*>(s) + header_bytes + std::size_t(s->fresh) * s->block;
    ++s->fresh;
  }
  if (--s->free == 0) unlink(l, s);
  return p;
}

}  // namespace

std::size_t slab_heap::slab_bytes(std::size_t bytes) noexcept {
  const std::size_t want = header_bytes + 8 * rounded(bytes);  // room for 8 blocks
  return std::min(max_slab, std::max(min_slab, std::bit_ceil(want)));
}

void* slab_heap::allocate(std::size_t bytes) {
  if constexpr (address_sanitized) return ::operator new(bytes);
  const std::size_t block = rounded(bytes);
  if (block > max_block) throw std::bad_alloc();
  const std::size_t c = block / granule - 1;
  heap_state& h = state();
  {
    std::lock_guard lk(h.mu);
    if (slab* s = h.partial[c].head) return take_from(h.partial[c], s);
  }
  // A new slab, mapped without the lock held.
  const std::size_t n = slab_bytes(block);
  auto* s = static_cast<slab*>(map_aligned(n));
  s->given_back = nullptr;
  s->total = s->free = static_cast<std::uint32_t>((n - header_bytes) / block);
  s->fresh = 0;
  s->block = static_cast<std::uint32_t>(block);
  h.mapped.fetch_add(n, std::memory_order_relaxed);
  std::lock_guard lk(h.mu);
  link_front(h.partial[c], s);
  return take_from(h.partial[c], s);
}

void slab_heap::deallocate(void* p, std::size_t bytes) noexcept {
  if constexpr (address_sanitized) return ::operator delete(p);
  const std::size_t block = rounded(bytes);
  const std::size_t c = block / granule - 1;
  const std::size_t n = slab_bytes(block);
  auto* s = reinterpret_cast<slab*>(reinterpret_cast<std::uintptr_t>(p) & ~(std::uintptr_t(n) - 1));
  heap_state& h = state();
  {
    std::lock_guard lk(h.mu);
    *static_cast<void**>(p) = s->given_back;
    s->given_back = p;
    ++s->free;
    if (s->free < s->total) {
      // Slabs that were full go to the back: blocks are taken from the slabs freed into
      // first, so the others can empty.
      if (!s->listed) link_back(h.partial[c], s);
      return;
    }
    if (s->listed) unlink(h.partial[c], s);
  }
  // Every block is free: the slab goes back to the kernel.
  ::munmap(s, n);
  h.mapped.fetch_sub(n, std::memory_order_relaxed);
  h.unmapped.fetch_add(1, std::memory_order_relaxed);
}

std::size_t slab_heap::mapped_bytes() noexcept {
  return state().mapped.load(std::memory_order_relaxed);
}

std::size_t slab_heap::slabs_unmapped() noexcept {
  return state().unmapped.load(std::memory_order_relaxed);
}

}  // namespace portico::proxy
