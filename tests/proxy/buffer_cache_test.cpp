#include "proxy/buffer_cache.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace portico::proxy;

namespace {

struct counted {
  static inline int live = 0;
  explicit counted(int v) : value(v) { ++live; }
  ~counted() { --live; }
  int value;
  char pad[100];
};

}  // namespace

TEST(pooled_box, holds_an_object_only_between_emplace_and_reset) {
  pooled_box<counted> box;
  EXPECT_FALSE(box);
  box.emplace(7);
  ASSERT_TRUE(box.has_value());
  EXPECT_EQ(box->value, 7);
  EXPECT_EQ(counted::live, 1);
  box.emplace(8);  // replaces: the old object is destroyed first
  EXPECT_EQ((*box).value, 8);
  EXPECT_EQ(counted::live, 1);
  box.reset();
  EXPECT_FALSE(box);
  EXPECT_EQ(counted::live, 0);
}

TEST(pooled_box, storage_is_recycled_on_the_same_thread) {
  pooled_box<counted> a;
  a.emplace(1);
  const counted* first = &*a;
  a.reset();
  pooled_box<counted> b;
  b.emplace(2);
  EXPECT_EQ(&*b, first);  // the block given back is the next one taken
}

TEST(pooled_box, destructor_destroys_the_object) {
  {
    pooled_box<counted> box;
    box.emplace(3);
    EXPECT_EQ(counted::live, 1);
  }
  EXPECT_EQ(counted::live, 0);
}

TEST(string_pool, parked_storage_is_reused_with_its_capacity) {
  std::string s(1000, 'x');
  const auto cap = s.capacity();
  const char* storage = s.data();
  string_pool::park(s);
  EXPECT_TRUE(s.empty());
  EXPECT_LE(s.capacity(), 15u);  // nothing allocated while parked
  std::string t;
  string_pool::fill(t);
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.capacity(), cap);
  EXPECT_EQ(t.data(), storage);
}

TEST(string_pool, large_strings_are_freed_not_parked) {
  std::string big(string_pool::max_capacity * 2, 'y');
  string_pool::park(big);
  EXPECT_LE(big.capacity(), 15u);
  std::string t;
  string_pool::fill(t);
  EXPECT_LT(t.capacity(), string_pool::max_capacity * 2);
}

TEST(string_pool, a_string_with_storage_keeps_it) {
  std::string parked(500, 'p');
  string_pool::park(parked);
  std::string own(300, 'o');
  const char* storage = own.data();
  string_pool::fill(own);
  EXPECT_EQ(own.data(), storage);
  EXPECT_EQ(own, std::string(300, 'o'));
}

// trim() once per tick: while the thread is busy, half of what the cache holds beyond `keep`
// once every window of trims; when it is idle, everything.
TEST(block_cache, trim_halves_the_surplus_once_a_window_and_frees_everything_when_idle) {
  using cache = portico::proxy::block_cache<40, 32>;
  using mark = portico::proxy::trim_mark;
  std::vector<void*> held;
  for (int i = 0; i < 20; ++i) held.push_back(cache::take());
  for (void* p : held) cache::give(p);
  held.clear();
  ASSERT_EQ(cache::cached(), 20u);
  // Busy: nothing within a window, then half of the 16 beyond the 4 kept.
  for (unsigned t = 1; t < mark::busy_window; ++t) EXPECT_EQ(cache::trim(4), 0u) << t;
  EXPECT_EQ(cache::trim(4), 8u);
  EXPECT_EQ(cache::cached(), 12u);
  for (unsigned t = 1; t < mark::busy_window; ++t) EXPECT_EQ(cache::trim(4), 0u) << t;
  EXPECT_EQ(cache::trim(4), 4u);
  EXPECT_EQ(cache::cached(), 8u);
  // What remains is still handed out and taken back.
  for (int i = 0; i < 10; ++i) held.push_back(cache::take());
  for (void* p : held) cache::give(p);
  held.clear();
  EXPECT_EQ(cache::cached(), 10u);
  // Idle: everything goes at once, and an idle trim of an empty cache frees nothing.
  EXPECT_EQ(cache::trim(4, true), 10u);
  EXPECT_EQ(cache::cached(), 0u);
  EXPECT_EQ(cache::trim(4, true), 0u);
  // Taken from the slabs again afterwards, and cached again.
  for (int i = 0; i < 8; ++i) held.push_back(cache::take());
  for (void* p : held) cache::give(p);
  EXPECT_EQ(cache::cached(), 8u);
}
