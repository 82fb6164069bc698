// Beast's basic_parser, driven with put() over the connection's flat receive buffer. Fields are
// noted as views (no fields container, no allocation per header) and bodies are copied into a
// body_sink that frames them for the other side. Included only by the session sources.
#pragma once

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <charconv>
#include <string>

#include "proxy/header_rewrite.hpp"

namespace portico::proxy {

// Receives body bytes into an output buffer up to `capacity`, optionally as chunks.
struct body_sink {
  std::string* out = nullptr;
  std::size_t capacity = 0;
  bool chunked_out = false;
  std::uint64_t total = 0;      // body bytes received
  std::uint64_t max_total = 0;  // 0: unlimited
  bool too_large = false;
  bool allow_underscores = false;  // trailer names with '_' are passed on
  bool last_chunk = false;  // chunked_out: "0\r\n" and any trailers are written

  // Chunked output: ends the body (the last chunk unless written, then the blank line).
  void end_chunked() {
    if (last_chunk) out->append("\r\n", 2);
    else out->append("0\r\n\r\n", 5);
  }

  // Copies as much of `piece` as fits; sets need_buffer when the output is full.
  std::size_t put(std::string_view piece, boost::beast::error_code& ec) {
    std::size_t room = capacity > out->size() ? capacity - out->size() : 0;
    if (chunked_out) room = room > 16 ? room - 16 : 0;
    std::size_t n = piece.size() < room ? piece.size() : room;
    if (n > 0) {
      if (chunked_out) {
        char hex[16];
        auto r = std::to_chars(hex, hex + sizeof hex, n, 16);
        out->append(hex, static_cast<std::size_t>(r.ptr - hex)).append("\r\n", 2);
        out->append(piece.data(), n).append("\r\n", 2);
      } else {
        out->append(piece.data(), n);
      }
      total += n;
      if (max_total != 0 && total > max_total) {
        too_large = true;
        ec = boost::beast::http::error::body_limit;
        return n;
      }
    }
    if (n < piece.size()) ec = boost::beast::http::error::need_buffer;
    return n;
  }
};

template <bool IsRequest>
class head_parser : public boost::beast::http::basic_parser<IsRequest> {
 public:
  using string_view = boost::beast::string_view;
  using error_code = boost::beast::error_code;

  explicit head_parser(message_head& head) : head_(head) { head_.clear(); }

  message_head& head() { return head_; }
  void set_sink(body_sink* s) { sink_ = s; }

  std::string_view method_text;
  std::string_view target;
  unsigned version = 11;
  unsigned status = 0;
  std::string_view reason;
  head_error error = head_error::none;

 private:
  void on_request_impl(boost::beast::http::verb, string_view method, string_view t, int v,
                       error_code&) override {
    method_text = method;
    target = t;
    version = static_cast<unsigned>(v);
  }
  void on_response_impl(int code, string_view r, int v, error_code&) override {
    status = static_cast<unsigned>(code);
    reason = r;
    version = static_cast<unsigned>(v);
  }
  void on_field_impl(http_field name, string_view name_text, string_view value,
                     error_code& ec) override {
    if (header_done_) {
      // A chunked trailer field: passed on when the output is chunked too (it can carry
      // trailers) and the field may appear in a trailer; otherwise dropped.
      header_field f{name, name_text, value};
      if (sink_ != nullptr && sink_->last_chunk && allowed_in_trailer(f) &&
          (sink_->allow_underscores || !has_underscore(name_text))) {
        sink_->out->append(name_text.data(), name_text.size()).append(": ", 2);
        sink_->out->append(value.data(), value.size()).append("\r\n", 2);
      }
      return;
    }
    header_field f{name, name_text, value};
    if constexpr (IsRequest) {
      error = note_request_field(head_, f);
      if (error != head_error::none) ec = boost::beast::http::error::bad_field;
    } else {
      note_response_field(head_, f);
    }
  }
  void on_header_impl(error_code&) override { header_done_ = true; }
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  std::size_t on_body_impl(string_view body, error_code& ec) override {
    return sink_->put(body, ec);
  }
  void on_chunk_header_impl(std::uint64_t size, string_view ext, error_code& ec) override {
    // Beast accepts control characters (a bare LF, NUL) inside a quoted chunk extension; a
    // parser in front of the proxy that ends the chunk line at that LF sees other chunk
    // boundaries. RFC 9112 7.1.1 allows none of them (HTAB aside).
    for (const unsigned char c : ext) {
      if ((c < 0x20 && c != '\t') || c == 0x7f) {
        ec = boost::beast::http::error::bad_chunk_extension;
        return;
      }
    }
    if (size == 0 && sink_ != nullptr && sink_->chunked_out) {
      sink_->out->append("0\r\n", 3);  // trailers, if any, follow
      sink_->last_chunk = true;
    }
  }
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code& ec) override {
    return sink_->put(body, ec);
  }
  void on_finish_impl(error_code&) override {}

  message_head& head_;
  body_sink* sink_ = nullptr;
  bool header_done_ = false;
};

using request_parser = head_parser<true>;
using response_parser = head_parser<false>;

}  // namespace portico::proxy
