// The host -> path -> route lookup structure behind snapshot::find(). Built once by
// config::build(), then read-only and shared by every worker.
//
// Hosts: exact hosts in a hash map keyed by the lowercased host; single-label wildcards
// ("*.foo.com") in a hash map keyed by the suffix after "*." (lookup strips the request
// host's first label); rules without a host in a catch-all table that is used only when no
// host-specific entry matches (as ingress-nginx's "_" server).
// Paths (per host): Exact paths in a hash map; Prefix paths in a hash map keyed by the
// normalized prefix (trailing '/' removed, "/" becomes ""). A lookup walks the request
// path's segment boundaries from longest to shortest: O(segments) hash probes, never a scan
// of the rules.
// route_lookup_bench (10,000 hosts, 100,000 paths): see bench/micro/route_lookup_bench.cpp.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "config/snapshot.hpp"

namespace portico::config {

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

template <class V>
using string_map = std::unordered_map<std::string, V, string_hash, std::equal_to<>>;

// Removes trailing '/' characters ("/foo/" -> "/foo", "/" -> "").
std::string_view normalize_prefix(std::string_view path) noexcept;

// Element-wise Prefix match as the Ingress API defines it (reference semantics, used by
// tests): `prefix` matches `path` when every '/'-separated element of `prefix` equals the
// corresponding element of `path`; trailing slashes on either are ignored.
bool prefix_matches(std::string_view prefix, std::string_view path) noexcept;

class path_table {
 public:
  // Adds a route under its path and match kind. Returns false (and leaves the table as it
  // was) when an entry with the same normalized path and kind already exists.
  bool add(const route* r);
  const route* find(std::string_view path) const noexcept;
  bool empty() const noexcept { return exact_.empty() && prefix_.empty(); }
  std::size_t size() const noexcept { return exact_.size() + prefix_.size(); }

 private:
  string_map<const route*> exact_;
  string_map<const route*> prefix_;
  std::size_t max_prefix_len_ = 0;  // longer request prefixes cannot match: skip their probes
};

// Where a request host landed; returned by host_table::match_host for diagnostics and tests.
enum class host_match : std::uint8_t { exact, wildcard, any, none };

struct host_table {
  // Adds a route under route::host (lowercased; "" for any host; "*.x" wildcard).
  // Returns false when the same host/path/kind entry already exists.
  bool add(const route* r);
  // The request goes to: the exact host's table, else the wildcard's, else the catch-all
  // table; when the chosen table has no matching path, the default route (may be null).
  const route* find(std::string_view host, std::string_view path) const noexcept;
  host_match match_host(std::string_view host) const noexcept;

  // Lowercases `host` without ":port" (IPv6 literal "[::1]:80" -> "[::1]") and without a
  // trailing '.', into `buf`. Returns an empty view when it does not fit.
  static std::string_view canonical_host(std::string_view host, char* buf,
                                         std::size_t cap) noexcept;

  string_map<path_table> exact_hosts_;
  string_map<path_table> wildcard_hosts_;  // key: suffix after "*."
  path_table any_host_;
  const route* default_route_ = nullptr;  // an Ingress spec.defaultBackend, or null (404)

 private:
  const path_table* table_for(std::string_view lower_host, host_match* how) const noexcept;
};

}  // namespace portico::config
