#include "proxy/response_head.hpp"

#include "proxy/ascii.hpp"

#include <boost/beast/http/field.hpp>

#include <algorithm>
#include <cstring>

namespace portico::proxy {

namespace {

constexpr std::size_t refused = std::string_view::npos;

// The end of the head in `buffered` (the byte after its blank line), 0 while it has not
// arrived, or npos for a line that refuses the head. `line` is the start of the first line
// whose LF has not been seen; it moves on as lines end. Each LF found is recorded in `ends`
// while there is room (`count` counts them all).
// bench/callgrind.sh: one memchr per line here, where a find of CRLFCRLF and then a scan of
// every line for LF, CR and NUL (three memchr per line) cost about 400 of 21,100 instructions
// per keep-alive request, for checks the parser makes again on the same bytes.
std::size_t find_head_end(std::string_view buffered, std::size_t& line, std::uint32_t* ends,
                          std::size_t room, std::uint32_t& count) {
  const char* p = buffered.data();
  const std::size_t n = buffered.size();
  while (line < n) {
    if (line > 0 && (p[line] == ' ' || p[line] == '\t')) return refused;  // obs-fold
    const void* lf = std::memchr(p + line, '\n', n - line);
    if (lf == nullptr) return 0;
    const std::size_t end = static_cast<std::size_t>(static_cast<const char*>(lf) - p);
    if (end == line || p[end - 1] != '\r') return refused;  // a bare LF
    if (end - 1 == line) return line == 0 ? refused : end + 1;  // the blank line (or none)
    if (count < room) ends[count] = static_cast<std::uint32_t>(end);
    ++count;
    line = end + 1;
  }
  return 0;
}

// RFC 9110 5.6.2 tchar, as Beast's parser tests a field name.
constexpr bool tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

struct tchar_table {
  bool v[256];
  constexpr tchar_table() : v{} {
    for (int c = 0; c < 256; ++c) v[c] = tchar(static_cast<unsigned char>(c));
  }
};
constexpr tchar_table tchars;

// A byte of a field value or reason phrase: VCHAR, SP, HTAB or obs-text (what Beast's
// parse_token_to_eol lets through before the CR).
inline bool text_byte(unsigned char c) { return (c >= 0x20 && c != 0x7f) || c == '\t'; }

inline bool ows(char c) { return c == ' ' || c == '\t'; }

// "token *( OWS "," OWS token )": the Connection lists the plain parse takes (an empty element,
// or anything else, goes to Beast). Notes close and keep-alive as Beast's parser does.
bool plain_token_list(std::string_view v, bool& close, bool& keep_alive) {
  std::size_t i = 0;
  const std::size_t n = v.size();
  for (;;) {
    const std::size_t start = i;
    while (i < n && tchars.v[static_cast<unsigned char>(v[i])]) ++i;
    if (i == start) return false;
    const std::string_view tok = v.substr(start, i - start);
    if (ascii::iequals(tok, "close")) close = true;
    else if (ascii::iequals(tok, "keep-alive")) keep_alive = true;
    while (i < n && ows(v[i])) ++i;
    if (i == n) return true;
    if (v[i] != ',') return false;
    ++i;
    while (i < n && ows(v[i])) ++i;
  }
}

}  // namespace

response_reader::response_reader(message_head& h, bool skip_body, std::size_t limit)
    : head_(h), limit_(limit), skip_body_(skip_body) {
  head_.clear();
}

response_head_state response_reader::take(std::string_view buffered) {
  const std::size_t n = find_head_end(buffered.substr(0, std::min(buffered.size(), limit_)),
                                      searched_, ends_, max_lines, lines_);
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
// for any other, which Beast then parses (or refuses).
bool response_reader::parse_plain(std::string_view head) {
  if (lines_ > max_lines) return false;
  const char* p = head.data();
  // "HTTP/1.x ddd reason\r\n"
  const std::size_t cr0 = ends_[0] - 1;
  if (cr0 < 13 || std::memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
      p[8] != ' ' || p[12] != ' ')
    return false;
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (!digit(p[9]) || !digit(p[10]) || !digit(p[11])) return false;
  for (std::size_t i = 13; i < cr0; ++i)
    if (!text_byte(static_cast<unsigned char>(p[i]))) return false;
  const unsigned st = static_cast<unsigned>((p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0'));
  bool close = false, keep_alive = false, has_length = false;
  std::uint64_t declared = 0;
  for (std::uint32_t i = 1; i < lines_; ++i) {
    const char* c = p + ends_[i - 1] + 1;
    const char* const lim = p + ends_[i] - 1;  // the line's CR
    const char* const name = c;
    while (c < lim && tchars.v[static_cast<unsigned char>(*c)]) ++c;
    if (c == name || c == lim || *c != ':') return false;
    const std::string_view name_text(name, static_cast<std::size_t>(c - name));
    ++c;
    while (c < lim && ows(*c)) ++c;
    const char* const value = c;
    for (; c < lim; ++c)
      if (!text_byte(static_cast<unsigned char>(*c))) return false;
    const char* end = lim;
    while (end > value && ows(end[-1])) --end;
    const header_field f{boost::beast::http::string_to_field(name_text), name_text,
                         std::string_view(value, static_cast<std::size_t>(end - value))};
    switch (f.name) {
      case http_field::connection:
      case http_field::proxy_connection:
        if (!plain_token_list(f.value, close, keep_alive)) return false;
        break;
      case http_field::content_length:
        if (has_length || f.value.empty() || f.value.size() > 19) return false;
        for (char d : f.value) {
          if (!digit(d)) return false;
          declared = declared * 10 + static_cast<std::uint64_t>(d - '0');
        }
        has_length = true;
        break;
      case http_field::transfer_encoding:
        return false;
      default:
        break;
    }
    note_response_field(head_, f);
  }
  status = st;
  version = p[7] == '1' ? 11 : 10;
  reason = std::string_view(p + 13, cr0 - 13);
  has_length_ = has_length;
  declared_ = declared;
  conn_close_ = close;
  conn_keep_alive_ = keep_alive;
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
