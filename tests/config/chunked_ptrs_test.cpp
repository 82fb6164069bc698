// config::chunked_ptrs: the chunked pointer lists Snapshots share between versions.
#include "config/chunked_ptrs.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

namespace portico::config {
namespace {

using list = chunked_ptrs<int>;
constexpr std::size_t n = list::chunk_size;

std::vector<std::shared_ptr<const int>> numbers(std::size_t count) {
  std::vector<std::shared_ptr<const int>> v;
  for (std::size_t i = 0; i < count; ++i) v.push_back(std::make_shared<const int>(static_cast<int>(i)));
  return v;
}

TEST(chunked_ptrs, keeps_order_across_chunk_boundaries) {
  for (std::size_t count : {std::size_t{0}, std::size_t{1}, n - 1, n, n + 1, 3 * n + 7}) {
    const auto flat = numbers(count);
    const list l(flat);
    ASSERT_EQ(l.size(), count);
    EXPECT_EQ(l.empty(), count == 0);
    EXPECT_EQ(l.chunks().size(), (count + n - 1) / n);
    for (std::size_t i = 0; i < count; ++i) EXPECT_EQ(l[i], flat[i]) << i;
    EXPECT_TRUE(std::equal(l.begin(), l.end(), flat.begin(), flat.end()));
    EXPECT_EQ(static_cast<std::size_t>(l.end() - l.begin()), count);
  }
}

TEST(chunked_ptrs, a_copy_shares_every_chunk_until_written) {
  const list a(numbers(3 * n));
  list b = a;
  for (std::size_t k = 0; k < a.chunks().size(); ++k) EXPECT_EQ(a.chunks()[k], b.chunks()[k]);
  auto fresh = std::make_shared<const int>(-1);
  b.set(n + 5, fresh);
  // Only the written chunk is a copy; the original keeps its element.
  EXPECT_EQ(a.chunks()[0], b.chunks()[0]);
  EXPECT_NE(a.chunks()[1], b.chunks()[1]);
  EXPECT_EQ(a.chunks()[2], b.chunks()[2]);
  EXPECT_EQ(*a[n + 5], static_cast<int>(n + 5));
  EXPECT_EQ(b[n + 5], fresh);
  // The copied chunk holds the same elements elsewhere.
  for (std::size_t i = n; i < 2 * n; ++i) {
    if (i != n + 5) {
      EXPECT_EQ(a[i], b[i]) << i;
    }
  }
  // A second write to that chunk does not copy it again (only b holds it now).
  const auto* chunk = b.chunks()[1].get();
  b.set(n + 6, fresh);
  EXPECT_EQ(b.chunks()[1].get(), chunk);
  EXPECT_EQ(*a[n + 6], static_cast<int>(n + 6));
}

TEST(chunked_ptrs, elements_live_while_any_copy_holds_their_chunk) {
  auto tracked = std::make_shared<const int>(42);
  std::weak_ptr<const int> watch = tracked;
  std::vector<std::shared_ptr<const int>> flat = numbers(n + 1);
  flat[3] = std::move(tracked);
  auto a = std::make_unique<list>(std::move(flat));
  list b = *a;
  b.set(3, std::make_shared<const int>(0));  // b's chunk 0 is its own now
  EXPECT_FALSE(watch.expired());             // a still holds the element
  a.reset();
  EXPECT_TRUE(watch.expired());
  EXPECT_EQ(*b[3], 0);
  EXPECT_EQ(*b[n], static_cast<int>(n));
}

TEST(chunked_ptrs, push_back_after_a_copy_leaves_the_copy_alone) {
  list a(numbers(n - 1));
  const list b = a;
  a.push_back(std::make_shared<const int>(1000));  // fills the shared last chunk: copied first
  a.push_back(std::make_shared<const int>(1001));  // opens a new chunk
  EXPECT_EQ(b.size(), n - 1);
  EXPECT_EQ(a.size(), n + 1);
  EXPECT_EQ(*a[n - 1], 1000);
  EXPECT_EQ(*a.back(), 1001);
  EXPECT_NE(a.chunks()[0], b.chunks()[0]);
}

}  // namespace
}  // namespace portico::config
