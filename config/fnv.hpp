// 64-bit FNV-1a, used for cluster versions and the Snapshot config hash (stable across runs
// and platforms, unlike std::hash).
#pragma once

#include <cstdint>
#include <string_view>

namespace portico::config {

class fnv1a {
 public:
  fnv1a& add(std::string_view s) noexcept {
    for (unsigned char c : s) {
      h_ ^= c;
      h_ *= 0x100000001b3ULL;
    }
    return sep();
  }
  fnv1a& add(std::uint64_t v) noexcept {
    for (int i = 0; i < 8; ++i) {
      h_ ^= static_cast<unsigned char>(v >> (8 * i));
      h_ *= 0x100000001b3ULL;
    }
    return sep();
  }
  std::uint64_t value() const noexcept { return h_; }

 private:
  // A field separator, so ("ab","c") and ("a","bc") hash differently.
  fnv1a& sep() noexcept {
    h_ ^= 0xff;
    h_ *= 0x100000001b3ULL;
    return *this;
  }
  std::uint64_t h_ = 0xcbf29ce484222325ULL;
};

}  // namespace portico::config
