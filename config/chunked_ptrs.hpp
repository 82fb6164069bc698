// A vector of shared_ptr<const T> kept in fixed-size chunks that copies share: copying it
// copies one pointer per chunk, and set() copies only the chunk it writes (copy on write).
// A Snapshot's routes and clusters live in these, so an endpoint-only successor
// (config/incremental.hpp) costs the touched chunks plus one reference count per chunk,
// not one per route and cluster: at 50,000 routes, copying and releasing the two flat
// vectors took 2.6-5.4 ms per change (bench/micro/incremental_bench.cpp).
//
// Element access is one more dependent load than a flat vector (the chunk pointer, from a
// table of N/256 entries that stays in cache); route_lookup_bench measures the lookup path.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <iterator>
#include <memory>
#include <utility>
#include <vector>

namespace portico::config {

template <class T>
class chunked_ptrs {
 public:
  using value_type = std::shared_ptr<const T>;
  static constexpr std::size_t chunk_bits = 8;
  static constexpr std::size_t chunk_size = std::size_t{1} << chunk_bits;
  static constexpr std::size_t chunk_mask = chunk_size - 1;
  struct chunk {
    std::array<value_type, chunk_size> items;
  };

  class const_iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = chunked_ptrs::value_type;
    using difference_type = std::ptrdiff_t;
    using pointer = const value_type*;
    using reference = const value_type&;

    const_iterator() = default;
    const_iterator(const chunked_ptrs* v, std::size_t i) : v_(v), i_(i) {}
    reference operator*() const { return (*v_)[i_]; }
    pointer operator->() const { return &(*v_)[i_]; }
    reference operator[](difference_type n) const { return (*v_)[i_ + n]; }
    const_iterator& operator++() { ++i_; return *this; }
    const_iterator operator++(int) { auto t = *this; ++i_; return t; }
    const_iterator& operator--() { --i_; return *this; }
    const_iterator operator--(int) { auto t = *this; --i_; return t; }
    const_iterator& operator+=(difference_type n) { i_ += n; return *this; }
    const_iterator& operator-=(difference_type n) { i_ -= n; return *this; }
    friend const_iterator operator+(const_iterator a, difference_type n) { return a += n; }
    friend const_iterator operator+(difference_type n, const_iterator a) { return a += n; }
    friend const_iterator operator-(const_iterator a, difference_type n) { return a -= n; }
    friend difference_type operator-(const const_iterator& a, const const_iterator& b) {
      return static_cast<difference_type>(a.i_) - static_cast<difference_type>(b.i_);
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) { return a.i_ == b.i_; }
    friend auto operator<=>(const const_iterator& a, const const_iterator& b) { return a.i_ <=> b.i_; }

   private:
    const chunked_ptrs* v_ = nullptr;
    std::size_t i_ = 0;
  };
  using iterator = const_iterator;

  chunked_ptrs() = default;
  // From a flat vector (build() and hand-made Snapshots).
  chunked_ptrs(std::vector<value_type> items) {  // NOLINT: implicit on purpose
    chunks_.reserve((items.size() + chunk_mask) >> chunk_bits);
    for (auto& p : items) push_back(std::move(p));
  }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const value_type& operator[](std::size_t i) const { return chunks_[i >> chunk_bits]->items[i & chunk_mask]; }
  const value_type& front() const { return (*this)[0]; }
  const value_type& back() const { return (*this)[size_ - 1]; }
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, size_}; }

  void push_back(value_type p) {
    if ((size_ & chunk_mask) == 0) chunks_.push_back(std::make_shared<chunk>());
    writable(size_ >> chunk_bits).items[size_ & chunk_mask] = std::move(p);
    ++size_;
  }
  // Replaces element i; the chunk holding it is copied first when another copy shares it.
  void set(std::size_t i, value_type p) {
    writable(i >> chunk_bits).items[i & chunk_mask] = std::move(p);
  }

  // The chunks, chunk_size elements each (the last one may hold fewer; the rest are null).
  // Two vectors whose chunk k is the same pointer hold the same elements there, which lets
  // a reader skip the unchanged parts of a successor (proxy/balancer.cpp).
  const std::vector<std::shared_ptr<const chunk>>& chunks() const { return chunks_; }

 private:
  chunk& writable(std::size_t k) {
    // Only this vector holds chunk k: no other copy can see the write. (The fence orders the
    // write after the reads of a copy released on another thread; its release was acq_rel.)
    if (chunks_[k].use_count() != 1)
      chunks_[k] = std::make_shared<chunk>(*chunks_[k]);
    else
      std::atomic_thread_fence(std::memory_order_acquire);
    return const_cast<chunk&>(*chunks_[k]);
  }

  std::vector<std::shared_ptr<const chunk>> chunks_;
  std::size_t size_ = 0;
};

}  // namespace portico::config
