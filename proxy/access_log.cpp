#include "proxy/access_log.hpp"

#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <array>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>

namespace portico::proxy {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

// 1 for the bytes that are copied as they are: printable ASCII except '"' and '\\'.
constexpr std::array<std::uint8_t, 256> plain_bytes = [] {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0x20; c < 0x7f; ++c) t[c] = c != '"' && c != '\\';
  return t;
}();

// Nonzero when any of the 8 bytes in x is not plain (control, '"', '\\', DEL or >= 0x80).
inline std::uint64_t special8(std::uint64_t x) {
  constexpr std::uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
  auto has_zero = [](std::uint64_t v) { return (v - ones) & ~v & high; };
  return (x & high) | ((x - ones * 0x20) & ~x & high) | has_zero(x ^ (ones * '"')) |
         has_zero(x ^ (ones * '\\')) | has_zero(x ^ (ones * 0x7f));
}

// Length of the valid UTF-8 sequence starting at s[i] (2..4), or 0 when it is not valid.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  auto at = [&](std::size_t k) -> unsigned {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u;
  };
  auto cont = [](unsigned c, unsigned lo = 0x80, unsigned hi = 0xbf) { return c >= lo && c <= hi; };
  unsigned c = at(0);
  if (c >= 0xc2 && c <= 0xdf) return cont(at(1)) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    unsigned lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    return cont(at(1), lo, hi) && cont(at(2)) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    unsigned lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    return cont(at(1), lo, hi) && cont(at(2)) && cont(at(3)) ? 4 : 0;
  }
  return 0;
}

char* put(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

// Escapes one byte that is not plain and not part of valid UTF-8.
char* put_escape(char* p, unsigned char c) {
  *p++ = '\\';
  switch (c) {
    case '"': *p++ = '"'; break;
    case '\\': *p++ = '\\'; break;
    case '\n': *p++ = 'n'; break;
    case '\r': *p++ = 'r'; break;
    case '\t': *p++ = 't'; break;
    default:
      p = put(p, "u00");
      *p++ = hex_digits[c >> 4];
      *p++ = hex_digits[c & 0xf];
  }
  return p;
}

// Worst case: every byte becomes \u00XX.
constexpr std::size_t json_bound(std::string_view s) { return 6 * s.size() + 2; }

// Length of the leading run of plain bytes in d[0, n).
inline std::size_t plain_prefix(const char* d, std::size_t n) {
  std::size_t i = 0;
#if defined(__SSE2__)
  const __m128i space = _mm_set1_epi8(0x20), quote = _mm_set1_epi8('"'),
                backslash = _mm_set1_epi8('\\'), del = _mm_set1_epi8(0x7f);
  for (; i + 16 <= n; i += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d + i));
    // Signed compare: bytes >= 0x80 are negative, so "< 0x20" also catches them.
    __m128i bad = _mm_or_si128(_mm_or_si128(_mm_cmplt_epi8(v, space), _mm_cmpeq_epi8(v, quote)),
                               _mm_or_si128(_mm_cmpeq_epi8(v, backslash), _mm_cmpeq_epi8(v, del)));
    if (int mask = _mm_movemask_epi8(bad); mask != 0) return i + std::countr_zero(unsigned(mask));
  }
#endif
  for (; i + 8 <= n; i += 8) {
    std::uint64_t x;
    std::memcpy(&x, d + i, 8);
    if (special8(x)) break;
  }
  while (i < n && plain_bytes[static_cast<unsigned char>(d[i])]) ++i;
  return i;
}

// `s` as a JSON string literal; needs json_bound(s) bytes.
char* put_json(char* p, std::string_view s) {
  *p++ = '"';
  const char* d = s.data();
  std::size_t n = s.size(), i = 0;
  while (i < n) {
    std::size_t run = plain_prefix(d + i, n - i);
    p = put(p, {d + i, run});
    i += run;
    if (i == n) break;
    auto c = static_cast<unsigned char>(d[i]);
    if (std::size_t len = c >= 0x80 ? utf8_sequence(s, i) : 0; len != 0) {
      p = put(p, s.substr(i, len));
      i += len;
    } else {
      p = put_escape(p, c);
      ++i;
    }
  }
  *p++ = '"';
  return p;
}

char* put_uint(char* p, std::uint64_t v) { return std::to_chars(p, p + 20, v).ptr; }

// Seconds with millisecond resolution, as nginx's $request_time ("0.012").
char* put_seconds(char* p, double v) {
  std::uint64_t ms = v > 0 ? static_cast<std::uint64_t>(v * 1000 + 0.5) : 0;
  p = put_uint(p, ms / 1000);
  unsigned frac = static_cast<unsigned>(ms % 1000);
  *p++ = '.';
  *p++ = static_cast<char>('0' + frac / 100);
  *p++ = static_cast<char>('0' + frac / 10 % 10);
  *p++ = static_cast<char>('0' + frac % 10);
  return p;
}

// Every fixed part of a line: keys, punctuation, numbers, the time and "null"s.
constexpr std::size_t fixed_bound = 576;

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  std::size_t old = out.size();
  out.resize(old + json_bound(s));
  char* end = put_json(out.data() + old, s);
  out.resize(static_cast<std::size_t>(end - out.data()));
}

access_log::access_log(int fd, std::size_t flush_threshold)
    : fd_(fd),
      threshold_(flush_threshold),
      buf_(std::make_unique<char[]>(flush_threshold + 4096)),
      cap_(flush_threshold + 4096) {}

access_log::~access_log() { flush(); }

char* access_log::reserve(std::size_t n) {
  if (len_ + n > cap_) {
    flush();
    if (n > cap_) {  // one line longer than the buffer (a huge target, escaped)
      buf_ = std::make_unique<char[]>(n);
      cap_ = n;
    }
  }
  return buf_.get() + len_;
}

char* access_log::put_time(char* p, std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  std::int64_t sec = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  unsigned milli = static_cast<unsigned>(ms - sec * 1000);
  if (sec != cached_second_) {
    std::time_t tt = static_cast<std::time_t>(sec);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    std::strftime(cached_prefix_, sizeof cached_prefix_, "%Y-%m-%dT%H:%M:%S", &tm);
    cached_second_ = sec;
  }
  *p++ = '"';
  p = put(p, {cached_prefix_, 19});
  *p++ = '.';
  *p++ = static_cast<char>('0' + milli / 100);
  *p++ = static_cast<char>('0' + milli / 10 % 10);
  *p++ = static_cast<char>('0' + milli % 10);
  *p++ = 'Z';
  *p++ = '"';
  return p;
}

void access_log::append(const request_record& rec) {
  const config::route* r = rec.route;
  std::string_view ns = r ? std::string_view(r->namespace_name) : std::string_view();
  std::string_view ing = r ? std::string_view(r->ingress_name) : std::string_view();
  std::string_view svc = r ? std::string_view(r->service_name) : std::string_view();
  std::size_t bound = fixed_bound;
  for (std::string_view s : {rec.remote_addr, rec.request_id, rec.host, rec.method, rec.target,
                             rec.upstream_addr, rec.upstream_protocol, ns, ing, svc, rec.canary})
    bound += json_bound(s);

  char* const start = reserve(bound);
  char* p = put(start, "{\"time\":");
  p = put_time(p, rec.start);
  p = put_json(put(p, ",\"remote_addr\":"), rec.remote_addr);
  p = put_json(put(p, ",\"request_id\":"), rec.request_id);
  p = put_json(put(p, ",\"host\":"), rec.host);
  p = put_json(put(p, ",\"method\":"), rec.method);
  p = put_json(put(p, ",\"path\":"), rec.target);
  p = put_uint(put(p, ",\"status\":"), rec.status);
  p = put_uint(put(p, ",\"bytes_in\":"), rec.request_bytes);
  p = put_uint(put(p, ",\"bytes_out\":"), rec.response_bytes);
  p = put_seconds(put(p, ",\"request_time\":"), rec.request_seconds);
  p = put(p, ",\"upstream_addr\":");
  p = rec.upstream_addr.empty() ? put(p, "null") : put_json(p, rec.upstream_addr);
  // The protocol spoken to that upstream: HTTP/1.1 (or 1.0), h2c (GRPC) or h2 (GRPCS).
  // Every line has every field (deploy/logging/README.md): null without an upstream.
  p = put(p, ",\"upstream_protocol\":");
  p = rec.upstream_addr.empty() || rec.upstream_protocol.empty() ? put(p, "null")
                                                                 : put_json(p, rec.upstream_protocol);
  p = put(p, ",\"upstream_status\":");
  p = rec.upstream_status == 0 ? put(p, "null") : put_uint(p, rec.upstream_status);
  p = put(p, ",\"upstream_response_time\":");
  p = rec.upstream_response_seconds < 0 ? put(p, "null")
                                        : put_seconds(p, rec.upstream_response_seconds);
  p = put_json(put(p, ",\"namespace\":"), ns);
  p = put_json(put(p, ",\"ingress\":"), ing);
  p = put_json(put(p, ",\"service\":"), svc);
  // ingress-nginx's $proxy_alternative_upstream_name: only on requests a canary served.
  if (!rec.canary.empty()) p = put_json(put(p, ",\"canary\":"), rec.canary);
  // $server_protocol, written for HTTP/2 only (HTTP/1.1 lines stay as they were).
  if (rec.http2) p = put(p, ",\"protocol\":\"HTTP/2.0\"");
  p = put(p, "}\n");
  len_ += static_cast<std::size_t>(p - start);
  if (len_ >= threshold_) flush();
}

void access_log::flush() {
  const char* p = buf_.get();
  std::size_t left = len_;
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;  // EAGAIN, EPIPE, ...: drop the rest
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  len_ = 0;
}

}  // namespace portico::proxy
