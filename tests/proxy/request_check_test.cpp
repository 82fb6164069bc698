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

TEST(transfer_coding, classified_per_rfc_9112) {
  EXPECT_EQ(classify_transfer_coding("chunked"), transfer_coding::chunked);
  EXPECT_EQ(classify_transfer_coding(" Chunked "), transfer_coding::chunked);
  EXPECT_EQ(classify_transfer_coding("gzip, chunked"), transfer_coding::unsupported);
  EXPECT_EQ(classify_transfer_coding("gzip,chunked"), transfer_coding::unsupported);
  EXPECT_EQ(classify_transfer_coding("deflate, gzip, chunked"), transfer_coding::unsupported);
  for (const char* v : {"chunked, chunked", "gzip", "chunked, gzip", "xchunked", "chunked,", "", ",", "gz ip, chunked",
                        "gzip;q=1, chunked", "identity"})
    EXPECT_EQ(classify_transfer_coding(v), transfer_coding::invalid) << v;
}

// Security review: a 32 KiB head sent in 2-byte pieces was rescanned from its start on every
// read. The scanner examines each byte once: feeding a head byte by byte gives the same
// verdicts as feeding it whole, and examines no byte twice (beyond a pending CR).
TEST(head_scanner, byte_by_byte_matches_one_shot) {
  const std::string heads[] = {
      "GET / HTTP/1.1\r\nHost: a\r\n\r\nNEXT",
      "GET / HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n",
      "GET / HTTP/1.1\r\nX-A: 1\rX-B: 2\r\n\r\n",
      "GET / HTTP/1.1\nHost: a\r\n\r\n",
      std::string("GET / HTTP/1.1\r\nX-A: \0\r\n\r\n", 27),
      "\r\nGET / HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\n\r",
  };
  for (const auto& raw : heads) {
    const auto whole = scan_head(raw, 1024);
    head_scanner s(1024, 0);
    head_scan_result r;
    for (std::size_t n = 1; n <= raw.size(); ++n) {
      r = s.scan(std::string_view(raw).substr(0, n));
      if (r.state != head_scan::incomplete) break;
    }
    EXPECT_EQ(r.state, whole.state) << raw;
    EXPECT_EQ(r.length, whole.length) << raw;
  }
}

TEST(head_scanner, caps_the_number_of_fields) {
  std::string raw = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 100; ++i) raw += "X-F" + std::to_string(i) + ": v\r\n";
  raw += "\r\n";
  EXPECT_EQ(head_scanner(1 << 20, 100).scan(raw).state, head_scan::complete);
  std::string more = raw.substr(0, raw.size() - 2) + "X-Extra: v\r\n\r\n";
  EXPECT_EQ(head_scanner(1 << 20, 100).scan(more).state, head_scan::too_many_fields);
  EXPECT_EQ(head_scanner(1 << 20, 0).scan(more).state, head_scan::complete);
}
