// proxy/slab_heap.hpp: the per-thread caches' memory, in slabs apart from the malloc heap.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include <sys/mman.h>

#include <cerrno>

#include "proxy/sanitized.hpp"
#include "proxy/slab_heap.hpp"

namespace portico::proxy {
namespace {


// Whether the page at `p` is mapped (msync fails with ENOMEM on an unmapped range).
bool mapped(const void* p) {
  auto page = reinterpret_cast<std::uintptr_t>(p) & ~std::uintptr_t(4095);
  return ::msync(reinterpret_cast<void*>(page), 4096, MS_ASYNC) == 0 || errno != ENOMEM;
}

// Blocks of one size fill a slab; once every block of it is given back the slab is unmapped and
// the mapped bytes are what they were.
TEST(slab_heap, a_slab_whose_blocks_are_all_free_is_unmapped) {
  if (address_sanitized) GTEST_SKIP() << "under AddressSanitizer the blocks come from operator new";
  constexpr std::size_t bytes = 1000;  // a size no other test here uses: its own slabs
  const std::size_t before = slab_heap::mapped_bytes();
  const std::size_t unmapped = slab_heap::slabs_unmapped();
  const std::size_t slab = slab_heap::slab_bytes(bytes);
  const std::size_t per_slab = (slab - 64) / 1008;  // 1,000 rounded to 16
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < per_slab + 1; ++i) blocks.push_back(slab_heap::allocate(bytes));
  EXPECT_EQ(slab_heap::mapped_bytes(), before + 2 * slab);  // one full, one with a block
  // The last block opened the second slab: freeing it unmaps that slab.
  void* last = blocks.back();
  ASSERT_TRUE(mapped(last));
  slab_heap::deallocate(last, bytes);
  blocks.pop_back();
  EXPECT_FALSE(mapped(last));
  EXPECT_EQ(slab_heap::mapped_bytes(), before + slab);
  EXPECT_EQ(slab_heap::slabs_unmapped(), unmapped + 1);
  // The first slab stays while any of its blocks is taken.
  for (std::size_t i = 1; i < blocks.size(); ++i) slab_heap::deallocate(blocks[i], bytes);
  EXPECT_EQ(slab_heap::mapped_bytes(), before + slab);
  // A freed block is handed out again before a new slab is mapped.
  void* again = slab_heap::allocate(bytes);
  EXPECT_EQ(slab_heap::mapped_bytes(), before + slab);
  slab_heap::deallocate(again, bytes);
  ASSERT_TRUE(mapped(blocks[0]));
  slab_heap::deallocate(blocks[0], bytes);
  EXPECT_FALSE(mapped(blocks[0]));
  EXPECT_EQ(slab_heap::mapped_bytes(), before);
  EXPECT_EQ(slab_heap::slabs_unmapped(), unmapped + 2);
}

TEST(slab_heap, slab_sizes_hold_several_blocks_within_bounds) {
  EXPECT_EQ(slab_heap::slab_bytes(16), 16u * 1024);
  EXPECT_EQ(slab_heap::slab_bytes(1024), 16u * 1024);
  EXPECT_EQ(slab_heap::slab_bytes(2048), 32u * 1024);
  EXPECT_EQ(slab_heap::slab_bytes(32 * 1024), 256u * 1024);
  for (std::size_t b = 16; b <= slab_heap::max_block; b += 16)
    EXPECT_GE((slab_heap::slab_bytes(b) - 64) / b, 7u) << b;
}

// Against a model: blocks of many sizes taken and given back in a random order never overlap,
// keep what was written into them, and are aligned to 16 bytes (64 for multiples of 64).
TEST(slab_heap, random_blocks_never_overlap_and_keep_their_bytes) {
  std::mt19937 rng(7);
  const std::size_t sizes[] = {16, 40, 144, 224, 1000, 1536, 2048, 4096, 8192, 32 * 1024};
  struct live {
    std::size_t bytes;
    unsigned char fill;
  };
  std::map<std::uintptr_t, live> blocks;  // by address
  auto check = [](std::uintptr_t at, const live& l) {
    const auto* p = reinterpret_cast<const unsigned char*>(at);
    return std::all_of(p, p + l.bytes, [&](unsigned char c) { return c == l.fill; });
  };
  for (int step = 0; step < 4000; ++step) {
    if (blocks.empty() || rng() % 3 != 0) {
      const std::size_t bytes = sizes[rng() % std::size(sizes)];
      void* p = slab_heap::allocate(bytes);
      const auto at = reinterpret_cast<std::uintptr_t>(p);
      ASSERT_EQ(at % 16, 0u);
      if (bytes % 64 == 0) {
        ASSERT_EQ(at % 64, 0u) << bytes;
      }
      // No overlap with the neighbours on either side.
      auto next = blocks.lower_bound(at);
      if (next != blocks.end()) {
        ASSERT_LE(at + bytes, next->first);
      }
      if (next != blocks.begin()) {
        auto prev = std::prev(next);
        ASSERT_LE(prev->first + prev->second.bytes, at);
      }
      const auto fill = static_cast<unsigned char>(rng());
      std::memset(p, fill, bytes);
      blocks[at] = {bytes, fill};
    } else {
      auto it = blocks.begin();
      std::advance(it, rng() % blocks.size());
      ASSERT_TRUE(check(it->first, it->second)) << "block at " << it->first << " was overwritten";
      slab_heap::deallocate(reinterpret_cast<void*>(it->first), it->second.bytes);
      blocks.erase(it);
    }
  }
  for (const auto& [at, l] : blocks) {
    EXPECT_TRUE(check(at, l));
    slab_heap::deallocate(reinterpret_cast<void*>(at), l.bytes);
  }
}

// A block may be given back on another thread than the one that took it.
TEST(slab_heap, blocks_cross_threads) {
  const std::size_t before = slab_heap::mapped_bytes();
  std::vector<void*> blocks;
  std::thread t([&] {
    for (int i = 0; i < 200; ++i) blocks.push_back(slab_heap::allocate(3000));
  });
  t.join();
  for (void* p : blocks) slab_heap::deallocate(p, 3000);
  EXPECT_EQ(slab_heap::mapped_bytes(), before);
}

}  // namespace
}  // namespace portico::proxy
