// A set of IPv4 and IPv6 networks ("10.0.0.0/8", "2001:db8::/32", "192.0.2.7"): the trusted
// proxies of X-Forwarded-For and PROXY protocol, and the source address lists of
// whitelist-source-range, denylist-source-range and block-cidrs. IPv4 is held as v4-mapped
// IPv6, so "::ffff:10.1.2.3" and "10.1.2.3" are one address.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace portico::config {

class ip_set {
 public:
  // Accepts "10.0.0.0/8", "::1/128", "192.168.1.7" (a single host), with surrounding spaces.
  // False on a bad entry (the set is unchanged).
  bool add(std::string_view cidr);
  bool contains(std::string_view ip) const;
  bool empty() const { return nets_.empty(); }

 private:
  struct net {
    std::array<unsigned char, 16> addr{};  // IPv4 as v4-mapped IPv6
    unsigned prefix = 0;
  };
  std::vector<net> nets_;
};

// A comma-separated list of addresses and networks into `out`; the entries that are neither
// are returned (empty: all were good).
std::vector<std::string> add_ip_list(std::string_view list, ip_set& out);

}  // namespace portico::config
