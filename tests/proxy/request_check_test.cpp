#include "proxy/request_check.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace portico::proxy;

TEST(content_length, accepts_plain_digits) {
  EXPECT_EQ(parse_content_length("0"), 0u);
  EXPECT_EQ(parse_content_length("1234"), 1234u);
  EXPECT_EQ(parse_content_length(" 5 "), 5u);  // surrounding OWS is not part of the value
}

TEST(content_length, rejects_smuggling_forms) {
  for (const char* v : {"", "+5", "-1", " 5x", "1, 2", "5, 5", "0x10", "1 2", "5;", "1e3",
                        "9999999999999999999999"})
    EXPECT_FALSE(parse_content_length(v)) << v;
}

TEST(transfer_encoding, only_a_single_chunked_is_accepted) {
  EXPECT_TRUE(is_plain_chunked("chunked"));
  EXPECT_TRUE(is_plain_chunked("Chunked "));
  for (const char* v : {"gzip", "chunked, gzip", "xchunked", "gzip, chunked", "chunked,", ""})
    EXPECT_FALSE(is_plain_chunked(v)) << v;
}

TEST(scan_head, finds_the_end_of_the_header_section) {
  std::string req = "GET / HTTP/1.1\r\nHost: a\r\n\r\nNEXT";
  auto r = scan_head(req, 1024);
  EXPECT_EQ(r.state, head_scan::complete);
  EXPECT_EQ(r.length, req.size() - 4);
}

TEST(scan_head, incomplete_until_the_blank_line) {
  EXPECT_EQ(scan_head("GET / HTTP/1.1\r\nHost: a\r\n", 1024).state, head_scan::incomplete);
  EXPECT_EQ(scan_head("GET / HTTP/1.1\r", 1024).state, head_scan::incomplete);
  EXPECT_EQ(scan_head("GET / HTTP/1.1\r\nHost: a\r\n\r", 1024).state, head_scan::incomplete);
}

TEST(scan_head, rejects_obs_fold) {
  EXPECT_EQ(scan_head("GET / HTTP/1.1\r\nX-A: 1\r\n  folded\r\nHost: a\r\n\r\n", 1024).state,
            head_scan::malformed);
  EXPECT_EQ(scan_head("GET / HTTP/1.1\r\nX-A: 1\r\n\tfolded\r\n\r\n", 1024).state,
            head_scan::malformed);
}

TEST(scan_head, rejects_bare_cr_bare_lf_and_nul) {
  EXPECT_EQ(scan_head("GET / HTTP/1.1\r\nX-A: 1\rX-B: 2\r\n\r\n", 1024).state, head_scan::malformed);
  EXPECT_EQ(scan_head("GET / HTTP/1.1\nHost: a\r\n\r\n", 1024).state, head_scan::malformed);
  EXPECT_EQ(scan_head(std::string("GET / HTTP/1.1\r\nX-A: \0\r\n\r\n", 27), 1024).state,
            head_scan::malformed);
  EXPECT_EQ(scan_head("\r\nGET / HTTP/1.1\r\n\r\n", 1024).state, head_scan::malformed);
}

TEST(scan_head, stops_at_the_limit) {
  std::string big = "GET / HTTP/1.1\r\nX-A: " + std::string(2000, 'a') + "\r\n\r\n";
  EXPECT_EQ(scan_head(big, 1000).state, head_scan::incomplete);
  EXPECT_EQ(scan_head(big, 4000).state, head_scan::complete);
}

TEST(methods, idempotent_set) {
  for (const char* m : {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
    EXPECT_TRUE(is_idempotent(m)) << m;
  for (const char* m : {"POST", "PATCH", "CONNECT", "get"}) EXPECT_FALSE(is_idempotent(m)) << m;
}

TEST(tokens, header_names) {
  EXPECT_TRUE(is_token("X-Custom_1"));
  EXPECT_FALSE(is_token("X Custom"));
  EXPECT_FALSE(is_token("X:A"));
  EXPECT_FALSE(is_token(""));
}
