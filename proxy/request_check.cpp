#include "proxy/request_check.hpp"
#include "proxy/ascii.hpp"

#include <cstring>

namespace portico::proxy {

namespace {

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view v) {
  while (!v.empty() && is_ows(v.front())) v.remove_prefix(1);
  while (!v.empty() && is_ows(v.back())) v.remove_suffix(1);
  return v;
}

using ascii::iequals;

}  // namespace

std::optional<std::uint64_t> parse_content_length(std::string_view v) {
  v = trim(v);
  if (v.empty() || v.size() > 18) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<unsigned>(c - '0');
  }
  return n;
}

bool is_plain_chunked(std::string_view v) { return iequals(trim(v), "chunked"); }

transfer_coding classify_transfer_coding(std::string_view v) {
  if (is_plain_chunked(v)) return transfer_coding::chunked;
  // 1#transfer-coding: tokens separated by commas (parameters are not accepted).
  std::string_view last;
  std::size_t count = 0;
  while (!v.empty()) {
    const auto comma = v.find(',');
    const auto item = trim(v.substr(0, comma));
    v = comma == std::string_view::npos ? std::string_view{} : v.substr(comma + 1);
    if (item.empty()) continue;  // empty list elements are allowed (RFC 9110 5.6.1)
    if (!is_token(item)) return transfer_coding::invalid;
    // chunked applied more than once, or before another coding (RFC 9112 6.1, 6.3)
    if (iequals(last, "chunked")) return transfer_coding::invalid;
    last = item;
    ++count;
  }
  if (count < 2 || !iequals(last, "chunked")) return transfer_coding::invalid;
  return transfer_coding::unsupported;
}

head_scan_result head_scanner::scan(std::string_view raw) noexcept {
  const std::size_t n = raw.size() < limit_ ? raw.size() : limit_;
  const char* p = raw.data();
  for (;;) {
    if (pos_ >= n) return {head_scan::incomplete, 0};
    // A line that starts with whitespace is obs-fold (or whitespace before the first field).
    if (pos_ == line_ && line_ > 0 && is_ows(p[pos_])) return {head_scan::malformed, 0};
    const void* lf = std::memchr(p + pos_, '\n', n - pos_);
    if (lf == nullptr) {
      // The partial line seen so far must be clean; a CR may only be its last byte (the LF
      // has not arrived yet), and is examined again next time.
      if (std::memchr(p + pos_, '\0', n - pos_) != nullptr) return {head_scan::malformed, 0};
      const void* cr = std::memchr(p + pos_, '\r', n - pos_);
      if (cr != nullptr && static_cast<const char*>(cr) != p + n - 1) return {head_scan::malformed, 0};
      pos_ = static_cast<std::uint32_t>(cr != nullptr ? n - 1 : n);
      return {head_scan::incomplete, 0};
    }
    const std::size_t end = static_cast<std::size_t>(static_cast<const char*>(lf) - p);
    if (end == line_ || p[end - 1] != '\r') return {head_scan::malformed, 0};  // bare LF
    if (end - 1 > pos_ && (std::memchr(p + pos_, '\r', end - 1 - pos_) != nullptr ||
                           std::memchr(p + pos_, '\0', end - 1 - pos_) != nullptr))
      return {head_scan::malformed, 0};  // bare CR or NUL inside a line
    if (end - 1 == line_) {
      if (line_ == 0) return {head_scan::malformed, 0};  // empty request line
      return {head_scan::complete, end + 1};
    }
    ++lines_;
    if (max_fields_ != 0 && lines_ > max_fields_ + 1) return {head_scan::too_many_fields, 0};
    line_ = pos_ = static_cast<std::uint32_t>(end + 1);
  }
}

head_scan_result scan_head(std::string_view raw, std::size_t limit) {
  head_scanner s(limit, 0);
  return s.scan(raw);
}

bool is_idempotent(std::string_view m) {
  switch (m.size()) {
    case 3: return m == "GET" || m == "PUT";
    case 4: return m == "HEAD";
    case 5: return m == "TRACE";
    case 6: return m == "DELETE";
    case 7: return m == "OPTIONS";
    default: return false;
  }
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!ascii::tchar(c)) return false;
  return true;
}

}  // namespace portico::proxy
