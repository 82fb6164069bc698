#include "proxy/response_head.hpp"

#include "proxy/plain_head.hpp"
#include "proxy/request_check.hpp"

#include <boost/beast/http/field.hpp>

#include <algorithm>
#include <cstring>

namespace portico::proxy {

namespace {

constexpr std::size_t refused = std::string_view::npos;

// The end of the head in `buffered` (the byte after its blank line), 0 while it has not
// arrived, or npos for a line that refuses the head. `line` is the start of the first line
// whose LF has not been seen; it moves on as lines end.
// bench/callgrind.sh: one memchr per line here, where a find of CRLFCRLF and then a scan of
// every line for LF, CR and NUL (three memchr per line) cost about 400 of 21,100 instructions
// per keep-alive request, for checks the parser makes again on the same bytes.
std::size_t find_head_end(std::string_view buffered, std::size_t& line) {
  const char* p = buffered.data();
  const std::size_t n = buffered.size();
  while (line < n) {
    if (line > 0 && (p[line] == ' ' || p[line] == '\t')) return refused;  // obs-fold
    const void* lf = std::memchr(p + line, '\n', n - line);
    if (lf == nullptr) return 0;
    const std::size_t end = static_cast<std::size_t>(static_cast<const char*>(lf) - p);
    if (end == line || p[end - 1] != '\r') return refused;  // a bare LF
    if (end - 1 == line) return line == 0 ? refused : end + 1;  // the blank line (or none)
    line = end + 1;
  }
  return 0;
}

}  // namespace

response_reader::response_reader(message_head& h, bool skip_body, std::size_t limit)
    : head_(h), limit_(limit), skip_body_(skip_body) {
  head_.clear();
}

response_head_state response_reader::take(std::string_view buffered) {
  const std::size_t n =
      find_head_end(buffered.substr(0, std::min(buffered.size(), limit_)), searched_);
  if (n == refused) return response_head_state::malformed;
  if (n == 0) {
    return buffered.size() >= limit_ ? response_head_state::too_large
                                     : response_head_state::incomplete;
  }
  const std::string_view head = buffered.substr(0, n);
  if (!parse_plain(head) && !parse_with_beast(head)) return response_head_state::malformed;
  length_ = n;
  return response_head_state::complete;
}

// Beast's rules (parse_version, parse_status, parse_reason, parse_field, do_field and
// finish_header of boost/beast/http) on the heads they accept that need nothing more: false
// for any other, which Beast then parses (or refuses). `head` ends in CRLF CRLF.
bool response_reader::parse_plain(std::string_view head) {
  namespace ph = plain_head;
  const char* const p = head.data();
  // "HTTP/1.x ddd reason\r\n" (each test reads a byte only when those before it matched, so
  // never past the head's final CRLF)
  const unsigned v = ph::version(p);
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (v == 0 || p[8] != ' ' || !digit(p[9]) || !digit(p[10]) || !digit(p[11]) || p[12] != ' ')
    return false;
  const char* r = p + 13;
  while (ph::text_byte(*r)) ++r;
  if (r[0] != '\r' || r[1] != '\n') return false;
  ph::connection_flags conn;
  bool has_length = false;
  std::uint64_t declared = 0;
  const bool ok = ph::fields(r + 2, p + head.size(), conn, [&](const header_field& f) {
    switch (f.name) {
      case http_field::content_length:
        if (has_length) return false;
        if (const auto cl = parse_content_length(f.value)) declared = *cl;
        else return false;  // (a list, a sign, 19 digits or more: Beast decides)
        has_length = true;
        break;
      case http_field::transfer_encoding:
        return false;
      default:
        break;
    }
    note_response_field(head_, f);
    return true;
  });
  if (!ok) return false;
  const unsigned st = static_cast<unsigned>((p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0'));
  status = st;
  version = v;
  reason = std::string_view(p + 13, static_cast<std::size_t>(r - (p + 13)));
  has_length_ = has_length;
  declared_ = declared;
  conn_close_ = conn.close;
  conn_keep_alive_ = conn.keep_alive;
  // RFC 9112 6.3, as Beast's finish_header for a response.
  if (skip_body_ || st / 100 == 1 || st == 204 || st == 304) {
    done_ = true;
  } else if (has_length) {
    remaining_ = declared;
    done_ = declared == 0;
  } else {
    need_eof_ = true;
  }
  return true;
}

bool response_reader::parse_with_beast(std::string_view head) {
  head_.clear();  // (of what the plain parse noted before it gave up)
  response_parser& p = parser_.emplace(head_);
  p.header_limit(64 * 1024);
  p.body_limit(boost::none);
  if (skip_body_) p.skip(true);
  if (sink_ != nullptr) p.set_sink(sink_);
  boost::beast::error_code ec;
  const std::size_t used = p.put(boost::asio::buffer(head.data(), head.size()), ec);
  if (ec || !p.is_header_done() || used != head.size()) return false;
  if (head_.has_transfer_encoding && head_.has_content_length) return false;
  p.eager(true);
  status = p.status;
  version = p.version;
  reason = p.reason;
  return true;
}

std::optional<std::uint64_t> response_reader::content_length() const {
  if (parser_) {
    const auto cl = parser_->content_length();
    return cl ? std::optional<std::uint64_t>(*cl) : std::nullopt;
  }
  return has_length_ ? std::optional<std::uint64_t>(declared_) : std::nullopt;
}

bool response_reader::keep_alive() const {
  if (parser_) return parser_->keep_alive();
  if (version >= 11 ? conn_close_ : !conn_keep_alive_) return false;
  return !need_eof_;
}

void response_reader::set_sink(body_sink* s) {
  sink_ = s;
  if (parser_) parser_->set_sink(s);
}

std::size_t response_reader::put(boost::asio::const_buffer bytes, boost::beast::error_code& ec) {
  if (parser_) return parser_->put(bytes, ec);
  ec = {};
  if (done_) return 0;
  std::string_view piece(static_cast<const char*>(bytes.data()), bytes.size());
  if (!need_eof_ && piece.size() > remaining_) piece = piece.substr(0, static_cast<std::size_t>(remaining_));
  const std::size_t n = sink_->put(piece, ec);
  if (!need_eof_) {
    remaining_ -= n;
    if (remaining_ == 0) done_ = true;
  }
  return n;
}

void response_reader::put_eof(boost::beast::error_code& ec) {
  if (parser_) return parser_->put_eof(ec);
  ec = {};
  if (need_eof_) done_ = true;
  else if (!done_) ec = boost::beast::http::error::partial_message;
}

}  // namespace portico::proxy
