// Taking an upstream response head out of the receive buffer, and framing its body.
//
// Beast's parser, given part of a head, parses the status line and every complete field at
// once and reports those bytes consumed; the parser's views (reason, field names and values)
// then point into bytes that the next read may move or free. And a folded field (obs-fold) gets
// a value that points into the parser's own stack. So a head is parsed only when it is
// complete and unfolded: its lines are found one by one as bytes arrive (the search resumes at
// the line it stopped in, so a head dripped a byte at a time costs linear time), a line that
// starts with SP or HTAB (obs-fold: RFC 9112 5.2 lets a proxy answer 502 for a folded
// response) or ends in a bare LF refuses the head at once, and the line "\r\n" ends it.
//
// response_reader parses a plain head itself: "HTTP/1.0" or "HTTP/1.1", three digits and a
// reason; fields of token names and values of visible characters, SP, HTAB and obs-text; at most
// one Content-Length of plain digits; Connection lists of tokens; no Transfer-Encoding. Its body
// (a length, until close, or none) it frames itself too. Any other head, whether Beast accepts
// or refuses it, goes to Beast's parser, which then frames the body (chunked bodies included):
// the plain parse never decides a case of its own. The rest of RFC 9112's line rules (a bare CR
// or a NUL inside a line, control characters in a value or the reason) are Beast's;
// tests/proxy/response_head_test.cpp checks that the answer is the same as Beast's after a full
// scan of every byte, head and body, on the corpus and every one-byte edit of it.
// A head with both Transfer-Encoding and Content-Length is malformed too (RFC 9112 6.3).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include <boost/asio/buffer.hpp>

#include "proxy/http_parser.hpp"

namespace portico::proxy {

enum class response_head_state : std::uint8_t { incomplete, complete, malformed, too_large };

class response_reader {
 public:
  // The head's fields go into `h` (cleared); `skip_body`: the answer to a HEAD request.
  explicit response_reader(message_head& h, bool skip_body = false,
                           std::size_t limit = 64 * 1024);
  response_reader(const response_reader&) = delete;
  response_reader& operator=(const response_reader&) = delete;

  // `buffered` is everything received and not consumed, from the head's first byte; the
  // caller passes the same bytes again, with more after them, until the state is final. Only
  // the first `limit` bytes are looked at, so that what is refused does not depend on how the
  // bytes arrived. length() is the head's size once it is complete.
  response_head_state take(std::string_view buffered);
  std::size_t length() const { return length_; }
  bool parsed_plain() const { return !parser_.has_value(); }

  unsigned status = 0;
  unsigned version = 11;
  std::string_view reason;

  message_head& head() { return head_; }
  std::optional<std::uint64_t> content_length() const;
  bool chunked() const { return parser_ ? parser_->chunked() : false; }
  bool keep_alive() const;
  bool need_eof() const { return parser_ ? parser_->need_eof() : need_eof_; }
  bool is_done() const { return parser_ ? parser_->is_done() : done_; }

  // The body, after a complete head: as Beast's parser with eager(true) and the sink as its
  // body (need_buffer when the sink is full, put_eof() at the upstream's EOF).
  void set_sink(body_sink* s);
  std::size_t put(boost::asio::const_buffer bytes, boost::beast::error_code& ec);
  void put_eof(boost::beast::error_code& ec);

 private:
  bool parse_plain(std::string_view head);
  bool parse_with_beast(std::string_view head);

  message_head& head_;
  std::optional<response_parser> parser_;
  body_sink* sink_ = nullptr;
  std::size_t limit_;
  std::size_t searched_ = 0;
  std::size_t length_ = 0;
  std::uint64_t declared_ = 0;   // Content-Length
  std::uint64_t remaining_ = 0;  // of a Content-Length body
  bool skip_body_;
  bool has_length_ = false;
  bool conn_close_ = false;
  bool conn_keep_alive_ = false;
  bool need_eof_ = false;
  bool done_ = false;
};

}  // namespace portico::proxy
