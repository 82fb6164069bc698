// The parse of plain HTTP/1.1 heads shared by response_reader and request_reader: the field
// lines that Beast's parser accepts and that need nothing more than the view of their name and
// value. Anything else makes the caller hand the head to Beast's parser, so the rules here only
// ever decide "plain or not", never "valid or not" (tests/proxy/response_head_test.cpp and
// request_head_test.cpp compare both readers with Beast's parser).
#pragma once

#include <boost/beast/http/field.hpp>

#include <cstdint>
#include <cstring>
#include <string_view>

#include "proxy/ascii.hpp"
#include "proxy/header_rewrite.hpp"

namespace portico::proxy::plain_head {

using ascii::tchar;

// A byte of a field value or reason phrase: VCHAR, SP, HTAB or obs-text (what Beast's
// parse_token_to_eol lets through before the CR).
inline bool text_byte(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  return (c >= 0x20 && c != 0x7f) || c == '\t';
}

inline bool ows(char c) { return c == ' ' || c == '\t'; }

// The first byte at or after p that is not text_byte (the CR that ends the line, if the line
// is plain): 8 bytes at a time while they hold no control character (a byte below SP, or DEL),
// then one by one. Reads nothing at or after `end`.
inline const char* skip_text(const char* p, const char* end) {
  constexpr std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  while (end - p >= 8) {
    std::uint64_t x;
    std::memcpy(&x, p, 8);
    const std::uint64_t below_sp = (x - 0x20 * ones) & ~x & highs;  // some byte < 0x20
    const std::uint64_t d = x ^ (0x7f * ones);
    const std::uint64_t del = (d - ones) & ~d & highs;  // some byte == 0x7f
    if ((below_sp | del) != 0) break;
    p += 8;
  }
  while (text_byte(*p)) ++p;
  return p;
}

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

// `name` (tchars) is `lower` (lowercase letters and '-', as long as `name`) in any case: with
// bit 5 set, an uppercase letter is its lowercase one, and no other tchar becomes a lowercase
// letter or '-' (only CR would, which is no tchar). Compared 8 or 4 bytes at a time.
inline bool is_lower_name(std::string_view name, const char* lower) {
  const char* a = name.data();
  const std::size_t n = name.size();
  if (n >= 8) {
    std::uint64_t x, y;
    for (std::size_t i = 0; i + 8 <= n; i += 8) {
      std::memcpy(&x, a + i, 8);
      std::memcpy(&y, lower + i, 8);
      if ((x | 0x2020202020202020ull) != y) return false;
    }
    std::memcpy(&x, a + n - 8, 8);  // the last 8 (overlapping)
    std::memcpy(&y, lower + n - 8, 8);
    return (x | 0x2020202020202020ull) == y;
  }
  if (n >= 4) {
    std::uint32_t x, y, u, v;
    std::memcpy(&x, a, 4);
    std::memcpy(&y, lower, 4);
    std::memcpy(&u, a + n - 4, 4);
    std::memcpy(&v, lower + n - 4, 4);
    return (x | 0x20202020u) == y && (u | 0x20202020u) == v;
  }
  for (std::size_t i = 0; i < n; ++i)
    if ((a[i] | 0x20) != lower[i]) return false;
  return true;
}

// Beast's string_to_field (a hash of the name, then a compare) for any name, with the names
// most heads carry compared first (their length, then the name): the same answer, for a
// fraction of the instructions (tests/proxy/request_head_test.cpp compares the two on every
// name Beast knows, in three cases). `name` is a token.
inline http_field field_of(std::string_view name) {
  using F = http_field;
  const auto is = [&](const char* lower) { return is_lower_name(name, lower); };
  switch (name.size()) {
    case 3:
      if (is("via")) return F::via;
      break;
    case 4:
      if (is("host")) return F::host;
      if (is("date")) return F::date;
      if (is("etag")) return F::etag;
      if (is("vary")) return F::vary;
      break;
    case 6:
      if (is("accept")) return F::accept;
      if (is("server")) return F::server;
      if (is("cookie")) return F::cookie;
      if (is("origin")) return F::origin;
      break;
    case 7:
      if (is("referer")) return F::referer;
      if (is("upgrade")) return F::upgrade;
      break;
    case 10:
      if (is("user-agent")) return F::user_agent;
      if (is("connection")) return F::connection;
      if (is("set-cookie")) return F::set_cookie;
      break;
    case 12:
      if (is("content-type")) return F::content_type;
      break;
    case 13:
      if (is("cache-control")) return F::cache_control;
      if (is("last-modified")) return F::last_modified;
      if (is("authorization")) return F::authorization;
      break;
    case 14:
      if (is("content-length")) return F::content_length;
      break;
    case 15:
      if (is("accept-encoding")) return F::accept_encoding;
      if (is("accept-language")) return F::accept_language;
      break;
    case 16:
      if (is("content-encoding")) return F::content_encoding;
      break;
    case 17:
      if (is("transfer-encoding")) return F::transfer_encoding;
      break;
    default:
      break;
  }
  return boost::beast::http::string_to_field(name);
}

// What the Connection (and Proxy-Connection) fields of a head said, as Beast's parser notes it.
struct connection_flags {
  bool close = false;
  bool keep_alive = false;
  bool upgrade = false;
};

// The field lines from `p` (the start of the line after the start line) to the blank line
// that ends the head at `end` (the head ends in CRLF CRLF: every scan below stops at a CR at
// the latest). Calls on_field(const header_field&) for each, in order; it returns false to
// decline the head. Returns false for a line that is not "token ':' OWS text OWS CRLF" (a
// fold, a bare CR or LF, a control character, a space before the colon), a Connection field
// that is not a plain token list (noted in `conn`), or a blank line before `end`.
template <class OnField>
bool fields(const char* p, const char* end, connection_flags& conn, OnField&& on_field) {
  for (;;) {
    if (*p == '\r') return p + 2 == end && p[1] == '\n';
    const char* const name = p;
    while (tchar(*p)) ++p;
    if (p == name || *p != ':') return false;
    const std::string_view name_text(name, static_cast<std::size_t>(p - name));
    ++p;
    while (ows(*p)) ++p;
    const char* const value = p;
    p = skip_text(p, end);
    if (p[0] != '\r' || p[1] != '\n') return false;
    const char* last = p;
    while (last > value && ows(last[-1])) --last;
    p += 2;
    const header_field f{field_of(name_text), name_text,
                         std::string_view(value, static_cast<std::size_t>(last - value))};
    if ((f.name == http_field::connection || f.name == http_field::proxy_connection) &&
        !token_list(f.value, conn.close, conn.keep_alive, conn.upgrade))
      return false;
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

}  // namespace portico::proxy::plain_head
