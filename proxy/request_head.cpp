#include "proxy/request_head.hpp"

#include "proxy/plain_head.hpp"

namespace portico::proxy {

request_reader::request_reader(message_head& h, std::uint32_t header_limit)
    : head_(h), header_limit_(header_limit) {
  head_.clear();
}

std::size_t request_reader::take_head(std::string_view head, boost::beast::error_code& ec) {
  ec = {};
  if (parse_plain(head)) {
    plain_done_ = true;
    return head.size();
  }
  head_.clear();  // (of what the plain parse noted before it gave up)
  request_parser& p = parser_.emplace(head_);
  p.header_limit(header_limit_);
  p.body_limit(boost::none);
  const std::size_t n = p.put(boost::asio::buffer(head.data(), head.size()), ec);
  method_text = p.method_text;
  target = p.target;
  version = p.version;
  error = p.error;
  return n;
}

// Beast's rules (parse_method, parse_target, parse_version, parse_field, do_field and
// finish_header of boost/beast/http) on the heads they accept that need nothing more: false
// for any other, which Beast then parses (or refuses).
bool request_reader::parse_plain(std::string_view head) {
  namespace ph = plain_head;
  if (head.size() < 4 || head.size() > header_limit_ || head.substr(head.size() - 4) != "\r\n\r\n")
    return false;
  const char* const p = head.data();
  // "method SP target SP HTTP/1.x CRLF" (each test reads a byte only when those before it
  // matched, so never past the head's final CRLF)
  const char* m = p;
  while (ph::tchar(*m)) ++m;
  if (m == p || *m != ' ') return false;
  const char* const t0 = m + 1;
  const char* t = t0;
  // Beast's is_pathchar: any byte above SP but DEL
  while (static_cast<unsigned char>(*t) > 0x20 && *t != 0x7f) ++t;
  if (t == t0 || *t != ' ') return false;
  const unsigned v = ph::version(t + 1);
  if (v == 0 || t[9] != '\r' || t[10] != '\n') return false;
  ph::connection_flags conn;  // (note_request_field keeps its own)
  const bool ok = ph::fields(t + 11, p + head.size(), conn, [&](const header_field& f) {
    if (f.name == http_field::content_length || f.name == http_field::transfer_encoding)
      return false;  // a body: Beast frames it
    return note_request_field(head_, f) == head_error::none;
  });
  if (!ok) return false;
  method_text = std::string_view(p, static_cast<std::size_t>(m - p));
  target = std::string_view(t0, static_cast<std::size_t>(t - t0));
  version = v;
  return true;
}

std::optional<std::uint64_t> request_reader::content_length() const {
  if (!parser_) return std::nullopt;
  const auto cl = parser_->content_length();
  return cl ? std::optional<std::uint64_t>(*cl) : std::nullopt;
}

void request_reader::body_limit(std::uint64_t n) {
  if (parser_) parser_->body_limit(n);
}

void request_reader::set_sink(body_sink* s) {
  if (parser_) parser_->set_sink(s);
}

void request_reader::eager(bool v) {
  if (parser_) parser_->eager(v);
}

std::size_t request_reader::put(boost::asio::const_buffer bytes, boost::beast::error_code& ec) {
  if (parser_) return parser_->put(bytes, ec);
  ec = {};
  return 0;
}

}  // namespace portico::proxy
