// The parse of plain HTTP/1.1 heads shared by response_reader and request_reader: the field
// lines that Beast's parser accepts and that need nothing more than the view of their name and
// value. Anything else makes the caller hand the head to Beast's parser, so the rules here only
// ever decide "plain or not", never "valid or not" (tests/proxy/response_head_test.cpp and
// request_head_test.cpp compare both readers with Beast's parser).
#pragma once

#include <boost/beast/http/field.hpp>

#include <cstdint>
#include <string_view>

#include "proxy/ascii.hpp"
#include "proxy/header_rewrite.hpp"

namespace portico::proxy::plain_head {

// RFC 9110 5.6.2 tchar, as Beast's parser tests a method or a field name.
constexpr bool tchar_of(unsigned char c) {
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
    for (int c = 0; c < 256; ++c) v[c] = tchar_of(static_cast<unsigned char>(c));
  }
};
inline constexpr tchar_table tchars;

inline bool tchar(char c) { return tchars.v[static_cast<unsigned char>(c)]; }

// A byte of a field value or reason phrase: VCHAR, SP, HTAB or obs-text (what Beast's
// parse_token_to_eol lets through before the CR).
inline bool text_byte(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  return (c >= 0x20 && c != 0x7f) || c == '\t';
}

inline bool ows(char c) { return c == ' ' || c == '\t'; }

// "token *( OWS "," OWS token )": the Connection lists taken as plain (an empty element, or
// anything else, goes to Beast). Notes close, keep-alive and upgrade as Beast's parser does.
inline bool token_list(std::string_view v, bool& close, bool& keep_alive, bool& upgrade) {
  std::size_t i = 0;
  const std::size_t n = v.size();
  for (;;) {
    const std::size_t start = i;
    while (i < n && tchar(v[i])) ++i;
    if (i == start) return false;
    const std::string_view tok = v.substr(start, i - start);
    if (ascii::iequals(tok, "close")) close = true;
    else if (ascii::iequals(tok, "keep-alive")) keep_alive = true;
    else if (ascii::iequals(tok, "upgrade")) upgrade = true;
    while (i < n && ows(v[i])) ++i;
    if (i == n) return true;
    if (v[i] != ',') return false;
    ++i;
    while (i < n && ows(v[i])) ++i;
  }
}

// Beast's string_to_field (a hash of the name, then a compare) for any name, with the names
// most heads carry compared first (their length, then the name): the same answer, for a
// fraction of the instructions (tests/proxy/request_head_test.cpp compares the two on every
// name Beast knows, in three cases).
inline http_field field_of(std::string_view name) {
  using F = http_field;
  const auto is = [&](std::string_view known) { return ascii::iequals(name, known); };
  switch (name.size()) {
    case 3:
      if (is("Via")) return F::via;
      break;
    case 4:
      if (is("Host")) return F::host;
      if (is("Date")) return F::date;
      if (is("ETag")) return F::etag;
      if (is("Vary")) return F::vary;
      break;
    case 6:
      if (is("Accept")) return F::accept;
      if (is("Server")) return F::server;
      if (is("Cookie")) return F::cookie;
      if (is("Origin")) return F::origin;
      break;
    case 7:
      if (is("Referer")) return F::referer;
      if (is("Upgrade")) return F::upgrade;
      break;
    case 10:
      if (is("Connection")) return F::connection;
      if (is("User-Agent")) return F::user_agent;
      if (is("Set-Cookie")) return F::set_cookie;
      break;
    case 12:
      if (is("Content-Type")) return F::content_type;
      break;
    case 13:
      if (is("Cache-Control")) return F::cache_control;
      if (is("Last-Modified")) return F::last_modified;
      if (is("Authorization")) return F::authorization;
      break;
    case 14:
      if (is("Content-Length")) return F::content_length;
      break;
    case 15:
      if (is("Accept-Encoding")) return F::accept_encoding;
      if (is("Accept-Language")) return F::accept_language;
      break;
    case 16:
      if (is("Content-Encoding")) return F::content_encoding;
      break;
    case 17:
      if (is("Transfer-Encoding")) return F::transfer_encoding;
      break;
    default:
      break;
  }
  return boost::beast::http::string_to_field(name);
}

// The field lines from `p` (the start of the line after the start line) to the blank line
// that ends the head at `end` (the head ends in CRLF CRLF: every scan below stops at a CR at
// the latest). Calls on_field(const header_field&) for each, in order; it returns false to
// decline the head. Returns false for a line that is not "token ':' OWS text OWS CRLF" (a
// fold, a bare CR or LF, a control character, a space before the colon) or a blank line
// before `end`.
template <class OnField>
bool fields(const char* p, const char* end, OnField&& on_field) {
  for (;;) {
    if (*p == '\r') return p + 2 == end && p[1] == '\n';
    const char* const name = p;
    while (tchar(*p)) ++p;
    if (p == name || *p != ':') return false;
    const std::string_view name_text(name, static_cast<std::size_t>(p - name));
    ++p;
    while (ows(*p)) ++p;
    const char* const value = p;
    while (text_byte(*p)) ++p;
    if (p[0] != '\r' || p[1] != '\n') return false;
    const char* last = p;
    while (last > value && ows(last[-1])) --last;
    p += 2;
    const header_field f{field_of(name_text), name_text,
                         std::string_view(value, static_cast<std::size_t>(last - value))};
    if (!on_field(f)) return false;
  }
}

// "HTTP/1.0" or "HTTP/1.1" at p: 10 or 11, else 0.
inline unsigned version(const char* p) {
  if (p[0] != 'H' || p[1] != 'T' || p[2] != 'T' || p[3] != 'P' || p[4] != '/' || p[5] != '1' ||
      p[6] != '.')
    return 0;
  return p[7] == '1' ? 11 : p[7] == '0' ? 10 : 0;
}

// Plain digits (at most 19: no overflow) as Content-Length, else false.
inline bool length_digits(std::string_view v, std::uint64_t& out) {
  if (v.empty() || v.size() > 19) return false;
  std::uint64_t n = 0;
  for (char d : v) {
    if (d < '0' || d > '9') return false;
    n = n * 10 + static_cast<std::uint64_t>(d - '0');
  }
  out = n;
  return true;
}

}  // namespace portico::proxy::plain_head
