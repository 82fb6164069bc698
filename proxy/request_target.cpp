#include "proxy/request_target.hpp"
#include "proxy/ascii.hpp"

#include <cstring>

namespace portico::proxy {

namespace {

using ascii::iequals;
using ascii::lower;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'z'); }

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool valid_port(std::string_view p) {
  if (p.size() > 5) return false;
  for (char c : p)
    if (!is_digit(c)) return false;
  return true;
}

// host [":" port], host being a reg-name of letters, digits, '-', '.', '_' or "[v6 literal]".
bool valid_authority(std::string_view a) {
  if (a.empty()) return false;
  std::size_t host_end = 0;
  if (a.front() == '[') {
    auto close = a.find(']');
    if (close == std::string_view::npos || close < 2) return false;
    for (char c : a.substr(1, close - 1))
      if (hex_value(c) < 0 && c != ':' && c != '.') return false;
    host_end = close + 1;
  } else {
    while (host_end < a.size() && a[host_end] != ':') {
      const char c = a[host_end];
      if (!is_alnum(c) && c != '-' && c != '.' && c != '_') return false;
      ++host_end;
    }
    if (host_end == 0) return false;
  }
  if (host_end == a.size()) return true;
  if (a[host_end] != ':') return false;
  return valid_port(a.substr(host_end + 1));
}

// True when `path` may need decoding or segment resolution.
bool needs_normalizing(std::string_view path) {
  const char* p = path.data();
  const std::size_t n = path.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (p[i] == '%') return true;
    if (p[i] == '/' && i + 1 < n && (p[i + 1] == '/' || p[i + 1] == '.')) return true;
  }
  return false;
}

// Resolves "//", "." and ".." in place; false when ".." climbs above the root.
bool resolve_segments(std::string& s) {
  const std::size_t n = s.size();
  std::size_t w = 0;  // the result so far is s[0, w): "/seg/seg" ("" is the root)
  std::size_t r = 0;
  bool trailing = false;
  while (r < n) {
    while (r < n && s[r] == '/') ++r;
    if (r == n) {
      trailing = true;  // the path ended with '/'
      break;
    }
    std::size_t e = s.find('/', r);
    if (e == std::string::npos) e = n;
    const std::string_view seg(s.data() + r, e - r);
    trailing = false;
    if (seg == ".") {
      trailing = true;
    } else if (seg == "..") {
      if (w == 0) return false;
      w = s.rfind('/', w - 1);
      trailing = true;
    } else {
      s[w++] = '/';
      std::memmove(s.data() + w, s.data() + r, e - r);  // w <= r: never overtakes the reader
      w += e - r;
    }
    r = e;
  }
  if (trailing || w == 0) s[w++] = '/';
  s.resize(w);
  return true;
}

}  // namespace

parsed_target parse_target(std::string_view t) {
  parsed_target out;
  if (t.empty()) return out;
  if (t.front() == '/') {
    out.form = target_form::origin;
    return out;
  }
  if (t == "*") {
    out.form = target_form::asterisk;
    return out;
  }
  const auto sep = t.find("://");
  if (sep == std::string_view::npos) return out;
  const auto scheme = t.substr(0, sep);
  if (!iequals(scheme, "http") && !iequals(scheme, "https")) return out;
  const auto rest = t.substr(sep + 3);
  const auto end = rest.find_first_of("/?");
  const auto authority = rest.substr(0, end);
  if (!valid_authority(authority)) return out;
  out.form = target_form::absolute;
  out.authority = authority;
  out.origin = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  return out;
}

path_status normalize_path(std::string_view path, std::string& out) {
  if (path.empty() || path.front() != '/' || !needs_normalizing(path))
    return path_status::unchanged;
  out.clear();
  out.reserve(path.size());
  for (std::size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    if (i + 2 >= path.size()) return path_status::invalid;
    const int hi = hex_value(path[i + 1]);
    const int lo = hex_value(path[i + 2]);
    if (hi < 0 || lo < 0) return path_status::invalid;
    const char v = static_cast<char>(hi * 16 + lo);
    if (v == '\0') return path_status::invalid;
    out.push_back(v);
    i += 2;
  }
  if (!resolve_segments(out)) return path_status::invalid;
  return path_status::normalized;
}

}  // namespace portico::proxy
