// config/md5.cpp against RFC 1321's test suite (A.5) and against OpenSSL's MD5 on every length
// from 0 to 300 bytes (the block and padding boundaries 55/56/63/64/119/120/128 among them).
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdint>
#include <string>

#include "config/snapshot.hpp"

namespace portico::config {
namespace {

std::string openssl_md5_hex(const std::string& s) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EXPECT_EQ(EVP_Digest(s.data(), s.size(), d, &n, EVP_md5(), nullptr), 1);
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    static constexpr char hex[] = "0123456789abcdef";
    out.push_back(hex[d[i] >> 4]);
    out.push_back(hex[d[i] & 15]);
  }
  return out;
}

TEST(md5, rfc_1321_test_suite) {
  EXPECT_EQ(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(md5_hex("a"), "0cc175b9c0f1b6a831c399e269772661");
  EXPECT_EQ(md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(md5_hex("message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
  EXPECT_EQ(md5_hex("abcdefghijklmnopqrstuvwxyz"), "c3fcd3d76192e4007dfb496cca67e13b");
  EXPECT_EQ(md5_hex("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
            "d174ab98d277d9f5a5611c2c9f419d9f");
  EXPECT_EQ(md5_hex("12345678901234567890123456789012345678901234567890123456789012345678901234567890"),
            "57edf4a22be3c955ac49da2e2107b67a");
}

TEST(md5, same_as_openssl_for_every_length_to_300) {
  std::uint32_t x = 2463534242u;  // xorshift32: every byte value, reproducibly
  std::string s;
  for (int len = 0; len <= 300; ++len) {
    EXPECT_EQ(md5_hex(s), openssl_md5_hex(s)) << "length " << len;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    s.push_back(static_cast<char>(x & 0xff));
  }
}

}  // namespace
}  // namespace portico::config
