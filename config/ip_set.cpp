#include "config/ip_set.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace portico::config {

namespace {

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t' || v.front() == '\n' || v.front() == '\r'))
    v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\n' || v.back() == '\r'))
    v.remove_suffix(1);
  return v;
}

bool parse_ip(std::string_view text, std::array<unsigned char, 16>& out) {
  char buf[64];
  if (text.size() >= sizeof buf) return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  unsigned char v4[4];
  if (inet_pton(AF_INET, buf, v4) == 1) {
    out = {};
    out[10] = 0xff;
    out[11] = 0xff;
    std::memcpy(out.data() + 12, v4, 4);
    return true;
  }
  return inet_pton(AF_INET6, buf, out.data()) == 1;
}

}  // namespace

bool ip_set::add(std::string_view cidr) {
  cidr = trim(cidr);
  net n;
  const auto slash = cidr.find('/');
  const bool v4 = cidr.find(':') == std::string_view::npos;
  if (!parse_ip(cidr.substr(0, slash), n.addr)) return false;
  n.prefix = 128;
  if (slash != std::string_view::npos) {
    unsigned p = 0;
    const auto s = cidr.substr(slash + 1);
    const auto r = std::from_chars(s.data(), s.data() + s.size(), p);
    if (s.empty() || r.ec != std::errc{} || r.ptr != s.data() + s.size() || p > (v4 ? 32u : 128u))
      return false;
    n.prefix = v4 ? p + 96 : p;
  }
  nets_.push_back(n);
  return true;
}

bool ip_set::contains(std::string_view ip) const {
  std::array<unsigned char, 16> a{};
  if (nets_.empty() || !parse_ip(trim(ip), a)) return false;
  for (const auto& n : nets_) {
    unsigned bits = n.prefix, i = 0;
    for (; bits >= 8; bits -= 8, ++i)
      if (a[i] != n.addr[i]) break;
    if (bits >= 8) continue;
    if (bits == 0) return true;
    const unsigned mask = (0xffu << (8 - bits)) & 0xffu;
    if ((a[i] & mask) == (n.addr[i] & mask)) return true;
  }
  return false;
}

std::vector<std::string> add_ip_list(std::string_view list, ip_set& out) {
  std::vector<std::string> bad;
  while (!list.empty()) {
    const auto comma = list.find(',');
    const auto item = trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    if (item.empty()) continue;
    if (!out.add(item)) bad.emplace_back(item);
  }
  return bad;
}

}  // namespace portico::config
