// The client's request head, parsed once head_scanner has found it whole, and the framing of
// its body.
//
// request_reader parses a plain head itself: a token method, a target of visible characters
// (and obs-text), "HTTP/1.0" or "HTTP/1.1"; fields of token names and values of visible
// characters, SP, HTAB and obs-text; Connection lists of tokens; no Content-Length and no
// Transfer-Encoding (so no body), and nothing note_request_field() refuses. Any other head,
// whether Beast accepts or refuses it, goes to Beast's parser, which then frames the body: the
// plain parse never decides a case of its own. tests/proxy/request_head_test.cpp checks that
// the answer is the same as Beast's on the request corpus and every one-byte edit of it.
#pragma once

#include <boost/asio/buffer.hpp>

#include <cstdint>
#include <optional>
#include <string_view>

#include "proxy/http_parser.hpp"

namespace portico::proxy {

class request_reader {
 public:
  // The head's fields go into `h` (cleared); `header_limit` as Beast's parser's.
  request_reader(message_head& h, std::uint32_t header_limit);
  request_reader(const request_reader&) = delete;
  request_reader& operator=(const request_reader&) = delete;

  // The whole head (ending in its blank line). Returns the bytes taken; the head is parsed
  // when is_header_done() and ec is clear, else `error` (or ec) says why not.
  std::size_t take_head(std::string_view head, boost::beast::error_code& ec);
  bool is_header_done() const { return parser_ ? parser_->is_header_done() : plain_done_; }
  bool parsed_plain() const { return plain_done_; }

  std::string_view method_text;
  std::string_view target;
  unsigned version = 11;
  head_error error = head_error::none;

  message_head& head() { return head_; }
  bool chunked() const { return parser_ ? parser_->chunked() : false; }
  std::optional<std::uint64_t> content_length() const;
  bool is_done() const { return parser_ ? parser_->is_done() : plain_done_; }

  // The body (Beast's parser only: a plain head has none).
  void body_limit(std::uint64_t n);
  void set_sink(body_sink* s);
  void eager(bool v);
  std::size_t put(boost::asio::const_buffer bytes, boost::beast::error_code& ec);

 private:
  bool parse_plain(std::string_view head);

  message_head& head_;
  std::optional<request_parser> parser_;
  std::uint32_t header_limit_;
  bool plain_done_ = false;
};

}  // namespace portico::proxy
