// The session's Beast parser subclass (proxy/http_parser.hpp): what it accepts in chunked
// bodies beyond Beast's own checks.
#include "proxy/http_parser.hpp"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>

#include <string>

namespace portico::proxy {
namespace {

// The body of a chunked POST through request_parser into a body_sink; the parser's error.
boost::beast::error_code parse_chunked(const std::string& body, std::string& out) {
  const std::string head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  message_head mh;
  request_parser p(mh);
  p.body_limit(boost::none);
  boost::beast::error_code ec;
  p.put(boost::asio::buffer(head), ec);
  if (ec || !p.is_header_done()) return ec;
  body_sink sink{&out, 1 << 20, false, 0, 0};
  p.set_sink(&sink);
  p.eager(true);
  p.put(boost::asio::buffer(body), ec);
  if (!ec && !p.is_done()) ec = boost::beast::http::error::need_more;
  return ec;
}

TEST(chunked_body, extensions_as_rfc_9112_writes_them_are_accepted) {
  for (const char* body : {"5;name=value\r\nhello\r\n0\r\n\r\n", "5 ; a = \"b \\\" c\"\r\nhello\r\n0\r\n\r\n",
                           "5;a;b=\"\t\"\r\nhello\r\n0;last\r\n\r\n"}) {
    std::string out;
    EXPECT_FALSE(parse_chunked(body, out)) << body;
    EXPECT_EQ(out, "hello") << body;
  }
}

// Found by the body fuzzer: Beast accepts a quoted chunk extension holding a bare LF, a NUL or
// another control character. A parser in front of the proxy that ends the chunk line at the LF
// sees different chunk boundaries: the classic chunk-extension smuggling.
TEST(chunked_body, control_characters_in_a_chunk_extension_are_rejected) {
  for (std::string body : {std::string("5;a=\"x\ny\"\r\nhello\r\n0\r\n\r\n"),
                           std::string("5;a=\"x\0y\"\r\nhello\r\n0\r\n\r\n", 24),
                           std::string("5;a=\"x\x18y\"\r\nhello\r\n0\r\n\r\n"),
                           std::string("5;a=\"x\ry\"\r\nhello\r\n0\r\n\r\n"),
                           std::string("5\r\nhello\r\n0;a=\"\n\"\r\n\r\n")}) {
    std::string out;
    EXPECT_TRUE(parse_chunked(body, out)) << testing::PrintToString(body);
  }
}

}  // namespace
}  // namespace portico::proxy
