#include "proxy/access_log.hpp"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <ctime>

namespace portico::proxy {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

void append_u00(std::string& out, unsigned char c) {
  char esc[6] = {'\\', 'u', '0', '0', hex_digits[c >> 4], hex_digits[c & 0xf]};
  out.append(esc, 6);
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

void append_escaped(std::string& out, std::string_view s) {
  std::size_t i = 0, run = 0;  // [run, i) is copied verbatim
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    std::size_t len = c >= 0x80 ? utf8_sequence(s, i) : 0;
    if (len != 0) {
      i += len;
      continue;
    }
    out.append(s.data() + run, i - run);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: append_u00(out, c); break;
    }
    run = ++i;
  }
  out.append(s.data() + run, s.size() - run);
}

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// Seconds with millisecond resolution, as nginx's $request_time.
void append_seconds(std::string& out, double v) {
  if (v < 0) v = 0;
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 3);
  out.append(buf, r.ptr);
}

void field(std::string& out, std::string_view name) {
  out += ",\"";
  out += name;
  out += "\":";
}

void string_field(std::string& out, std::string_view name, std::string_view v) {
  field(out, name);
  append_json_string(out, v);
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  append_escaped(out, s);
  out += '"';
}

access_log::access_log(int fd, std::size_t flush_threshold)
    : fd_(fd), threshold_(flush_threshold) {
  buf_.reserve(flush_threshold + 1024);
}

access_log::~access_log() { flush(); }

void access_log::append_time(std::chrono::system_clock::time_point t) {
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
  buf_ += '"';
  buf_.append(cached_prefix_, 19);
  char frac[6] = {'.', static_cast<char>('0' + milli / 100), static_cast<char>('0' + milli / 10 % 10),
                  static_cast<char>('0' + milli % 10), 'Z', '"'};
  buf_.append(frac, 6);
}

void access_log::append(const request_record& rec) {
  std::string& out = buf_;
  out += "{\"time\":";
  append_time(rec.start);
  string_field(out, "remote_addr", rec.remote_addr);
  string_field(out, "request_id", rec.request_id);
  string_field(out, "host", rec.host);
  string_field(out, "method", rec.method);
  string_field(out, "path", rec.target);
  field(out, "status");
  append_uint(out, rec.status);
  field(out, "bytes_in");
  append_uint(out, rec.request_bytes);
  field(out, "bytes_out");
  append_uint(out, rec.response_bytes);
  field(out, "request_time");
  append_seconds(out, rec.request_seconds);
  field(out, "upstream_addr");
  if (rec.upstream_addr.empty()) out += "null";
  else append_json_string(out, rec.upstream_addr);
  field(out, "upstream_status");
  if (rec.upstream_status == 0) out += "null";
  else append_uint(out, rec.upstream_status);
  field(out, "upstream_response_time");
  if (rec.upstream_response_seconds < 0) out += "null";
  else append_seconds(out, rec.upstream_response_seconds);
  const config::route* r = rec.route;
  string_field(out, "namespace", r ? std::string_view(r->namespace_name) : std::string_view());
  string_field(out, "ingress", r ? std::string_view(r->ingress_name) : std::string_view());
  string_field(out, "service", r ? std::string_view(r->service_name) : std::string_view());
  out += "}\n";
  if (out.size() >= threshold_) flush();
}

void access_log::flush() {
  const char* p = buf_.data();
  std::size_t left = buf_.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;  // EAGAIN, EPIPE, ...: drop the rest
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  buf_.clear();
}

}  // namespace portico::proxy
