// A slow, literal decoder of the chunked transfer coding, written from RFC 9112 section 7.1
// (and the field-line grammar of section 5 for trailers), for the body-decoder fuzzer to
// compare the proxy's parser with.
//
//   chunked-body   = *chunk last-chunk trailer-section CRLF
//   chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//   chunk-size     = 1*HEXDIG
//   last-chunk     = 1*("0") [ chunk-ext ] CRLF
//   chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//   chunk-ext-name = token
//   chunk-ext-val  = token / quoted-string
//   trailer-section = *( field-line CRLF )
//   field-line     = field-name ":" OWS field-value OWS
// A trailer line that starts with SP or HTAB continues the previous field (obs-fold): RFC 9112
// 5.2 lets a recipient either reject it or replace it with SP, so it is accepted here as the
// parser does (the proxy drops trailers; the end of the body is the same either way). Framing
// fields are not allowed as trailers (RFC 9110 6.5.1): Transfer-Encoding or Content-Length
// there is rejected.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace portico::fuzz::rfc9112 {

enum class decode_state { complete, incomplete, invalid };

struct decoded {
  decode_state state = decode_state::incomplete;
  std::string body;          // the chunk data seen (all of it when complete)
  std::size_t consumed = 0;  // bytes of the chunked body when complete
};

class chunked_decoder {
 public:
  explicit chunked_decoder(std::string_view in) : in_(in) {}

  decoded run() {
    decoded d;
    d.state = body(d.body);
    if (d.state == decode_state::complete) d.consumed = pos_;
    return d;
  }

 private:
  // Each step returns complete (it matched), incomplete (the input ended inside it) or invalid.
  decode_state body(std::string& out) {
    for (;;) {
      std::uint64_t size = 0;
      if (auto s = chunk_size(size); s != decode_state::complete) return s;
      if (auto s = chunk_ext(); s != decode_state::complete) return s;
      if (auto s = crlf(); s != decode_state::complete) return s;
      if (size == 0) break;
      const std::size_t left = in_.size() - pos_;
      if (left < size) {
        out.append(in_.substr(pos_));
        pos_ = in_.size();
        return decode_state::incomplete;
      }
      out.append(in_.substr(pos_, size));
      pos_ += size;
      if (auto s = crlf(); s != decode_state::complete) return s;
    }
    bool in_field = false;
    for (;;) {  // trailer-section CRLF
      if (at_end()) return decode_state::incomplete;
      if (in_[pos_] == '\r') return crlf();
      if (is_ws(in_[pos_])) {
        if (!in_field) return decode_state::invalid;  // no field to continue
        if (auto s = field_content(); s != decode_state::complete) return s;
      } else if (auto s = field_line(); s != decode_state::complete) {
        return s;
      }
      in_field = true;
      if (auto s = crlf(); s != decode_state::complete) return s;
    }
  }

  static bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }
  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return c - 'A' + 10;
  }
  static bool is_tchar(char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  }
  static bool is_ws(char c) { return c == ' ' || c == '\t'; }
  static bool is_obs_text(char c) { return static_cast<unsigned char>(c) >= 0x80; }
  static bool is_vchar(char c) { return c > 0x20 && c < 0x7f; }
  bool at_end() const { return pos_ >= in_.size(); }

  decode_state chunk_size(std::uint64_t& size) {
    const std::size_t start = pos_;
    while (!at_end() && is_hex(in_[pos_])) {
      if (size >> 60) return decode_state::invalid;  // more than 64 bits: no real body is that big
      size = size * 16 + static_cast<unsigned>(hex(in_[pos_]));
      ++pos_;
    }
    if (at_end()) return decode_state::incomplete;
    return pos_ > start ? decode_state::complete : decode_state::invalid;
  }

  void bws() {
    while (!at_end() && is_ws(in_[pos_])) ++pos_;
  }

  decode_state token() {
    const std::size_t start = pos_;
    while (!at_end() && is_tchar(in_[pos_])) ++pos_;
    if (at_end()) return decode_state::incomplete;
    return pos_ > start ? decode_state::complete : decode_state::invalid;
  }

  decode_state quoted_string() {
    ++pos_;  // DQUOTE
    for (;;) {
      if (at_end()) return decode_state::incomplete;
      const char c = in_[pos_];
      if (c == '"') {
        ++pos_;
        return decode_state::complete;
      }
      if (c == '\\') {
        if (++pos_ >= in_.size()) return decode_state::incomplete;
        const char q = in_[pos_];
        if (!is_ws(q) && !is_vchar(q) && !is_obs_text(q))
          return decode_state::invalid;
        ++pos_;
        continue;
      }
      if (!is_ws(c) && !is_obs_text(c) && !(is_vchar(c) && c != '"' && c != '\\'))
        return decode_state::invalid;
      ++pos_;
    }
  }

  decode_state chunk_ext() {
    for (;;) {
      const std::size_t mark = pos_;
      bws();
      if (at_end()) return decode_state::incomplete;
      if (in_[pos_] != ';') {
        pos_ = mark;  // BWS belongs to the next extension only
        return decode_state::complete;
      }
      ++pos_;
      bws();
      if (auto s = token(); s != decode_state::complete) return s;
      const std::size_t before_value = pos_;
      bws();
      if (at_end()) return decode_state::incomplete;
      if (in_[pos_] != '=') {
        pos_ = before_value;
        continue;
      }
      ++pos_;
      bws();
      if (at_end()) return decode_state::incomplete;
      if (auto s = in_[pos_] == '"' ? quoted_string() : token(); s != decode_state::complete)
        return s;
    }
  }

  decode_state crlf() {
    if (at_end()) return decode_state::incomplete;
    if (in_[pos_] != '\r') return decode_state::invalid;
    if (pos_ + 1 >= in_.size()) return decode_state::incomplete;
    if (in_[pos_ + 1] != '\n') return decode_state::invalid;
    pos_ += 2;
    return decode_state::complete;
  }

  static bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      const char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] + 32) : a[i];
      if (x != b[i]) return false;
    }
    return true;
  }

  decode_state field_line() {
    const std::size_t name_start = pos_;
    if (auto s = token(); s != decode_state::complete) return s;
    const auto name = in_.substr(name_start, pos_ - name_start);
    if (iequals(name, "transfer-encoding") || iequals(name, "content-length"))
      return decode_state::invalid;
    if (in_[pos_] != ':') return decode_state::invalid;
    ++pos_;
    return field_content();
  }

  // field-value = *field-content: VCHAR / obs-text with SP / HTAB inside; then OWS.
  decode_state field_content() {
    while (!at_end() && (is_ws(in_[pos_]) || is_vchar(in_[pos_]) || is_obs_text(in_[pos_])))
      ++pos_;
    return at_end() ? decode_state::incomplete : decode_state::complete;
  }

  std::string_view in_;
  std::size_t pos_ = 0;
};

inline decoded decode_chunked(std::string_view in) { return chunked_decoder(in).run(); }

}  // namespace portico::fuzz::rfc9112
