// parse_proxy_header(): the PROXY protocol header as HAProxy's proxy-protocol.txt defines
// versions 1 (text) and 2 (binary); fed whole and cut at every byte.
#include <gtest/gtest.h>

#include <string>

#include "proxy/proxy_protocol.hpp"

namespace portico::proxy {
namespace {

const std::string v2_sig("\r\n\r\n\0\r\nQUIT\n", 12);

std::string v2(unsigned char ver_cmd, unsigned char fam, const std::string& payload) {
  std::string h = v2_sig;
  h += static_cast<char>(ver_cmd);
  h += static_cast<char>(fam);
  h += static_cast<char>(payload.size() >> 8);
  h += static_cast<char>(payload.size() & 0xff);
  return h + payload;
}

// Every proper prefix of a complete header is incomplete; the whole is complete.
void expect_complete(const std::string& header, const std::string& source) {
  const std::string after = "GET / HTTP/1.1\r\n";
  for (std::size_t n = 0; n < header.size(); ++n)
    EXPECT_EQ(parse_proxy_header(header.substr(0, n)).state, proxy_header_state::incomplete)
        << testing::PrintToString(header.substr(0, n));
  const auto h = parse_proxy_header(header + after);
  ASSERT_EQ(h.state, proxy_header_state::complete) << testing::PrintToString(header);
  EXPECT_EQ(h.length, header.size());
  EXPECT_EQ(h.source, source);
}

TEST(proxy_protocol, v1_examples_of_the_spec) {
  expect_complete("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", "192.168.0.1");
  expect_complete("PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n", "2001:db8::1");
  expect_complete("PROXY TCP6 ::ffff:10.1.2.3 ::1 1 2\r\n", "10.1.2.3");
  expect_complete("PROXY UNKNOWN\r\n", "");
  expect_complete("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n", "");
}

TEST(proxy_protocol, v1_malformed) {
  for (const char* bad : {"PROXY TCP4 192.168.0.1 192.168.0.11 56324\r\n",
                          "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 x\r\n",
                          "PROXY TCP4 2001:db8::1 192.168.0.11 1 2\r\n",
                          "PROXY TCP6 192.168.0.1 2001:db8::2 1 2\r\n",
                          "PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n",
                          "PROXY TCP4 192.168.0.1 192.168.0.11 -1 443\r\n",
                          "PROXY TCP4  192.168.0.1 192.168.0.11 1 443\r\n",
                          "PROXY UDP4 192.168.0.1 192.168.0.11 1 443\r\n",
                          "PROXY\r\n", "proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n",
                          "GET / HTTP/1.1\r\n", "\x16\x03\x01\x02\x00"})
    EXPECT_EQ(parse_proxy_header(bad).state, proxy_header_state::invalid) << bad;
  // No CRLF within 107 bytes.
  EXPECT_EQ(parse_proxy_header("PROXY UNKNOWN " + std::string(100, 'x')).state,
            proxy_header_state::invalid);
  EXPECT_EQ(parse_proxy_header("PROXY UNKNOWN " + std::string(80, 'x')).state,
            proxy_header_state::incomplete);
}

TEST(proxy_protocol, v2_proxy_local_and_tlvs) {
  // PROXY, TCP over IPv4: 10.0.0.1 -> 10.0.0.2, 1234 -> 443.
  const std::string v4 = std::string("\x0a\x00\x00\x01\x0a\x00\x00\x02\x04\xd2\x01\xbb", 12);
  expect_complete(v2(0x21, 0x11, v4), "10.0.0.1");
  // A TLV after the addresses (PP2_TYPE_AUTHORITY "a.test") is skipped.
  expect_complete(v2(0x21, 0x11, v4 + std::string("\x02\x00\x06" "a.test", 9)), "10.0.0.1");
  std::string v6(36, '\0');
  v6[0] = '\x20';
  v6[1] = '\x01';
  v6[15] = '\x05';  // 2001::5
  expect_complete(v2(0x21, 0x21, v6), "2001::5");
  expect_complete(v2(0x20, 0x00, ""), "");          // LOCAL (a health check)
  expect_complete(v2(0x20, 0x11, v4), "");          // LOCAL with addresses: ignored
  expect_complete(v2(0x21, 0x00, ""), "");          // PROXY, UNSPEC
  expect_complete(v2(0x21, 0x31, std::string(216, '\0')), "");  // AF_UNIX
}

TEST(proxy_protocol, v2_malformed) {
  const std::string v4(12, '\x01');
  EXPECT_EQ(parse_proxy_header(v2(0x11, 0x11, v4)).state, proxy_header_state::invalid);  // version 1
  EXPECT_EQ(parse_proxy_header(v2(0x22, 0x11, v4)).state, proxy_header_state::invalid);  // command 2
  EXPECT_EQ(parse_proxy_header(v2(0x21, 0x11, v4.substr(0, 8))).state,
            proxy_header_state::invalid);  // too short for IPv4 addresses
  EXPECT_EQ(parse_proxy_header(v2(0x21, 0x21, v4)).state, proxy_header_state::invalid);
  EXPECT_EQ(parse_proxy_header(v2(0x21, 0x41, v4)).state, proxy_header_state::invalid);
  // Longer than Portico reads (1024 bytes of addresses and TLVs).
  EXPECT_EQ(parse_proxy_header(v2(0x21, 0x11, v4 + std::string(2000, '\0'))).state,
            proxy_header_state::invalid);
  std::string wrong_sig = v2(0x21, 0x11, v4);
  wrong_sig[5] = 'x';
  EXPECT_EQ(parse_proxy_header(wrong_sig).state, proxy_header_state::invalid);
}

}  // namespace
}  // namespace portico::proxy
