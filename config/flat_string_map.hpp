// A build-once, read-many hash map from strings to small values, for the route table.
// Open addressing with linear probing, power-of-two capacity, load factor <= 1/2; each slot
// keeps the full 64-bit hash, so a probe touches the key bytes only on a hash match; keys
// live in one arena string. No erase (a Snapshot's table is never edited).
// Compared with std::unordered_map it saves the node hops on every probe: see
// bench/micro/route_lookup_bench.cpp.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portico::config {

template <class V>
class flat_string_map {
 public:
  static std::uint64_t hash(std::string_view s) noexcept {
    return std::hash<std::string_view>{}(s) | 1;  // never 0: 0 marks an empty slot
  }

  const V* find(std::string_view key) const noexcept {
    if (size_ == 0) return nullptr;
    std::uint64_t h = hash(key);
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      const slot& s = slots_[i];
      if (s.hash == 0) return nullptr;
      if (s.hash == h && equal(s, key)) return &s.value;
    }
  }
  V* find(std::string_view key) noexcept {
    return const_cast<V*>(static_cast<const flat_string_map*>(this)->find(key));
  }

  // Inserts when absent. Returns the value's slot and whether it was inserted. The pointer
  // is valid until the next insert.
  std::pair<V*, bool> insert(std::string_view key, V value) {
    if (V* existing = find(key)) return {existing, false};
    if ((size_ + 1) * 2 > slots_.size()) grow();
    slot s{hash(key), static_cast<std::uint32_t>(keys_.size()),
           static_cast<std::uint32_t>(key.size()), std::move(value)};
    keys_.append(key);
    ++size_;
    return {place(std::move(s)), true};
  }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

 private:
  struct slot {
    std::uint64_t hash = 0;
    std::uint32_t off = 0;
    std::uint32_t len = 0;
    V value{};
  };

  bool equal(const slot& s, std::string_view key) const noexcept {
    return s.len == key.size() &&
           (key.empty() || std::memcmp(keys_.data() + s.off, key.data(), key.size()) == 0);
  }
  V* place(slot s) {
    std::size_t mask = slots_.size() - 1;
    std::size_t i = s.hash & mask;
    while (slots_[i].hash != 0) i = (i + 1) & mask;
    slots_[i] = std::move(s);
    return &slots_[i].value;
  }
  void grow() {
    std::vector<slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 8 : old.size() * 2, slot{});
    for (auto& s : old) {
      if (s.hash != 0) place(std::move(s));
    }
  }

  std::vector<slot> slots_;
  std::string keys_;
  std::size_t size_ = 0;
};

}  // namespace portico::config
