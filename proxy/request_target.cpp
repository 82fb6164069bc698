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
  unsigned v = 0;
  for (char c : p) {
    if (!is_digit(c)) return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  return v <= 65535;
}

// Splits "host[:port]" (host may be "[v6]"); false when the shape is wrong.
bool split_authority(std::string_view a, std::string_view& host, std::string_view& port,
                     bool& has_port) {
  std::size_t host_end = 0;
  if (!a.empty() && a.front() == '[') {
    auto close = a.find(']');
    if (close == std::string_view::npos) return false;
    host_end = close + 1;
  } else {
    host_end = a.find(':');
    if (host_end == std::string_view::npos) host_end = a.size();
  }
  host = a.substr(0, host_end);
  has_port = host_end < a.size();
  if (has_port && a[host_end] != ':') return false;
  port = has_port ? a.substr(host_end + 1) : std::string_view{};
  return true;
}

bool valid_ipv6_literal(std::string_view h) {  // "[...]"
  if (h.size() < 4 || h.size() > 47) return false;
  std::size_t colons = 0;
  for (char c : h.substr(1, h.size() - 2)) {
    if (c == ':') ++colons;
    else if (hex_value(c) < 0 && c != '.') return false;
  }
  return colons >= 2;
}

bool valid_reg_name(std::string_view h) {
  if (h.empty()) return false;
  if (h.back() == '.') h.remove_suffix(1);  // a fully qualified name
  std::size_t label = 0;
  for (char c : h) {
    if (c == '.') {
      if (label == 0) return false;  // empty label: ".a", "a..b"
      label = 0;
    } else if (is_alnum(c) || c == '-' || c == '_') {
      ++label;
    } else {
      return false;
    }
  }
  return label > 0;
}

}  // namespace

bool valid_host_value(std::string_view a) {
  if (a.empty() || a.size() > 255) return false;
  std::string_view host, port;
  bool has_port = false;
  if (!split_authority(a, host, port, has_port)) return false;
  if (has_port && !valid_port(port)) return false;
  return host.front() == '[' ? valid_ipv6_literal(host) : valid_reg_name(host);
}

bool same_authority(std::string_view a, std::string_view b, bool https) {
  std::string_view ha, pa, hb, pb;
  bool xa = false, xb = false;
  if (!split_authority(a, ha, pa, xa) || !split_authority(b, hb, pb, xb)) return false;
  if (!ha.empty() && ha.back() == '.') ha.remove_suffix(1);
  if (!hb.empty() && hb.back() == '.') hb.remove_suffix(1);
  const std::string_view def = https ? "443" : "80";
  if (pa.empty()) pa = def;
  if (pb.empty()) pb = def;
  return iequals(ha, hb) && pa == pb;
}

namespace {

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
  if (t.empty() || t.find('#') != std::string_view::npos) return out;
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
  if (!valid_host_value(authority)) return out;
  out.form = target_form::absolute;
  out.https = iequals(scheme, "https");
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
