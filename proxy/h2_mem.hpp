// The allocator nghttp2 uses in Portico's HTTP/2 sessions (both sides): per-thread free lists
// by size class (32 bytes to 1 KiB) for its small per-stream blocks (stream state, outbound
// frames, copied header fields, HPACK entries), plain malloc for larger ones. glibc's
// per-thread cache keeps 7 blocks per size, too few for hundreds of streams in flight, so
// most of nghttp2's 27 allocations per gRPC call took malloc's slow path (bench/callgrind.sh
// --grpc, 64 x 10). Each list holds at most 96 KiB of free blocks (about 1 MiB per thread in
// all). Under AddressSanitizer nothing is cached, so every block is checked.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <string_view>
#include <vector>

namespace portico::proxy {

nghttp2_mem* h2_mem();

// The same lists for Portico's own per-stream objects (the streams of both sides, made with
// std::allocate_shared): blocks 16-byte aligned.
void* h2_block_take(std::size_t n);
void h2_block_give(void* p) noexcept;

template <class T>
struct h2_block_allocator {
  using value_type = T;
  h2_block_allocator() = default;
  template <class U>
  h2_block_allocator(const h2_block_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    void* p = h2_block_take(n * sizeof(T));
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) noexcept { h2_block_give(p); }
  template <class U>
  bool operator==(const h2_block_allocator<U>&) const noexcept { return true; }
};

// The name/value array of one HEADERS frame to submit: on the stack for up to 32 fields
// (a response head or a gRPC request usually has under 16), past that on the heap. nghttp2
// copies the fields it is given.
class h2_nv_list {
 public:
  explicit h2_nv_list(std::size_t n) {
    if (n > inline_size) heap_.reserve(n);
  }
  void add(std::string_view n, std::string_view v) {
    const nghttp2_nv nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(n.data())),
                        reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), n.size(),
                        v.size(), NGHTTP2_NV_FLAG_NONE};
    if (heap_.capacity() == 0 && size_ < inline_size) {
      inline_[size_++] = nv;
      return;
    }
    if (heap_.empty()) heap_.assign(inline_, inline_ + size_);
    heap_.push_back(nv);
    size_ = heap_.size();
  }
  const nghttp2_nv* data() const { return heap_.empty() ? inline_ : heap_.data(); }
  std::size_t size() const { return size_; }

 private:
  static constexpr std::size_t inline_size = 32;
  nghttp2_nv inline_[inline_size];
  std::vector<nghttp2_nv> heap_;
  std::size_t size_ = 0;
};

}  // namespace portico::proxy
