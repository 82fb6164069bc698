// MD5 (RFC 1321) for the hex digests of affinity cookies and persistent hashing: ingress-nginx
// uses ngx.md5, so the values must be MD5's. Written out here because OpenSSL's EVP interface
// costs more than the digest of a short name: with two digests per new cluster, EVP's
// init/final were most of md5_hex and md5_hex a tenth of a first build at 10,000 Ingresses
// (callgrind, bench/micro/list_decode_bench.cpp). tests/config/md5_test.cpp checks it against
// RFC 1321's test suite and against OpenSSL.
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "config/snapshot.hpp"

namespace portico::config {

namespace {

// K[i] = floor(|sin(i + 1)| * 2^32), and the per-round shifts (RFC 1321, 3.4).
constexpr std::array<std::uint32_t, 64> k_table = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};
constexpr std::array<unsigned, 16> shifts = {7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21};

constexpr std::uint32_t rotl(std::uint32_t x, unsigned c) { return (x << c) | (x >> (32 - c)); }

std::uint32_t load_le(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

// One step: a += f + K[i] + m[g], rotated by s, plus b; then the words turn (d, a, b, c).
template <typename F>
inline void step(std::uint32_t& a, std::uint32_t& b, std::uint32_t& c, std::uint32_t& d, F f,
                 std::uint32_t x, unsigned s) {
  const std::uint32_t t = a + f(b, c, d) + x;
  a = d;
  d = c;
  c = b;
  b += rotl(t, s);
}

// The four rounds, each with its own function, word order and shifts (one loop per round so
// that none branches per step).
void md5_block(std::array<std::uint32_t, 4>& h, const unsigned char* block) {
  std::uint32_t m[16];
  for (unsigned i = 0; i < 16; ++i) m[i] = load_le(block + 4 * i);
  std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
  auto f1 = [](std::uint32_t x, std::uint32_t y, std::uint32_t z) { return (x & y) | (~x & z); };
  auto f2 = [](std::uint32_t x, std::uint32_t y, std::uint32_t z) { return (z & x) | (~z & y); };
  auto f3 = [](std::uint32_t x, std::uint32_t y, std::uint32_t z) { return x ^ y ^ z; };
  auto f4 = [](std::uint32_t x, std::uint32_t y, std::uint32_t z) { return y ^ (x | ~z); };
  for (unsigned i = 0; i < 16; ++i) step(a, b, c, d, f1, k_table[i] + m[i], shifts[i % 4]);
  for (unsigned i = 16; i < 32; ++i) step(a, b, c, d, f2, k_table[i] + m[(5 * i + 1) & 15], shifts[4 + i % 4]);
  for (unsigned i = 32; i < 48; ++i) step(a, b, c, d, f3, k_table[i] + m[(3 * i + 5) & 15], shifts[8 + i % 4]);
  for (unsigned i = 48; i < 64; ++i) step(a, b, c, d, f4, k_table[i] + m[(7 * i) & 15], shifts[12 + i % 4]);
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
}

}  // namespace

std::string md5_hex(std::string_view data) {
  std::array<std::uint32_t, 4> h = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t n = data.size();
  for (; n >= 64; n -= 64, p += 64) md5_block(h, p);
  // The rest, 0x80, zeros, and the length in bits (little-endian) end the last one or two blocks.
  unsigned char tail[128] = {};
  std::memcpy(tail, p, n);
  tail[n] = 0x80;
  const std::size_t tail_len = n < 56 ? 64 : 128;
  std::uint64_t bits = static_cast<std::uint64_t>(data.size()) * 8;
  for (unsigned i = 0; i < 8; ++i) tail[tail_len - 8 + i] = static_cast<unsigned char>(bits >> (8 * i));
  md5_block(h, tail);
  if (tail_len == 128) md5_block(h, tail + 64);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out(32, '0');
  for (unsigned i = 0; i < 16; ++i) {
    const auto byte = static_cast<unsigned char>(h[i / 4] >> (8 * (i % 4)));
    out[2 * i] = hex[byte >> 4];
    out[2 * i + 1] = hex[byte & 15];
  }
  return out;
}

}  // namespace portico::config
