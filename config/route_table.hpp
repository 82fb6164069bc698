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
// Entries are route indices (route::index, the position in snapshot::routes()), not
// pointers: a Snapshot that only replaces clusters (config/incremental.hpp) gets new route
// objects at the same indices and shares the whole table with its predecessor. Cost of the
// extra routes()[i] load, route_lookup_bench interleaved on a quiet 2-core VM, pointers ->
// indices: exact-host Prefix hit 0.20-0.23 -> 0.19-0.20 us, Exact 0.15 -> 0.16 us, unknown
// host 0.051 -> 0.055 us, fallback to "/" 0.17 -> 0.19-0.22 us (within noise, no allocation).
// route_lookup_bench (10,000 hosts, 100,000 paths, 2-core VM under load): exact-host Prefix
// hit ~0.7 us, wildcard hit ~0.2 us, unknown host ~0.06 us CPU per lookup, no allocation;
// with std::unordered_map tables it was ~1.5 us / 1.4 us / 0.33 us (node hops are cache misses).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/flat_string_map.hpp"
#include "config/snapshot.hpp"

namespace portico::config {

struct snapshot_index;

// "No route": what the find functions return on a miss.
inline constexpr std::uint32_t no_route = 0xffffffffu;

// Removes trailing '/' characters ("/foo/" -> "/foo", "/" -> "").
std::string_view normalize_prefix(std::string_view path) noexcept;

// Element-wise Prefix match as the Ingress API defines it (reference semantics, used by
// tests): `prefix` matches `path` when every '/'-separated element of `prefix` equals the
// corresponding element of `path`; trailing slashes on either are ignored.
bool prefix_matches(std::string_view prefix, std::string_view path) noexcept;


// A path of a host whose paths are regexes (use-regex or rewrite-target on any of its
// Ingresses, as ingress-nginx decides per server): nginx's `location ~* "^<path>"`.
struct regex_location {
  std::string pattern;  // the path as the location has it (ingress-nginx's Prefix split applied)
  std::shared_ptr<const re2::RE2> regex;  // "^" + pattern, case-insensitive
  std::uint32_t index = no_route;
};

class path_table {
 public:
  // Adds route r->index under its path and match kind. Returns false (and leaves the table
  // as it was) when an entry with the same path (as written) and kind already exists.
  // Prefix paths that differ only in trailing '/'s ("/foo", "/foo/") match the same requests;
  // the longer one as written wins (the Ingress API's "longest matching path"), the other
  // stays in the route list but is never chosen.
  bool add(const route* r);
  std::uint32_t find(std::string_view path) const noexcept;  // index or no_route
  bool empty() const noexcept { return exact_.empty() && prefix_.empty(); }
  std::size_t size() const noexcept { return exact_.size() + prefix_.size(); }
  // Regex mode: find() tries these in order, first match wins (nginx's regex locations), and
  // the Exact/Prefix tables are not consulted.
  void set_regex(std::vector<regex_location> locations) { regex_ = std::move(locations); }
  const std::vector<regex_location>& regex() const noexcept { return regex_; }

 private:
  std::vector<regex_location> regex_;
  flat_string_map<std::uint32_t> exact_;
  struct prefix_entry {
    std::uint32_t index = no_route;
    std::uint32_t written_length = 0;  // length of the path as written (trailing '/'s included)
    std::uint32_t seen = 0;  // bit k: a path with k trailing '/'s was added (k < 31)
  };
  flat_string_map<prefix_entry> prefix_;  // key: normalize_prefix(path)
  std::size_t max_prefix_len_ = 0;  // longer request prefixes cannot match: skip their probes
};

// Where a request host landed; returned by host_table::match_host for diagnostics and tests.
enum class host_match : std::uint8_t { exact, wildcard, any, none };

// The default route's index; assigning a route stores its index (null: none).
struct route_ref {
  std::uint32_t index = no_route;
  route_ref& operator=(const route* r) noexcept {
    index = r ? r->index : no_route;
    return *this;
  }
};

struct host_table {
  // Adds route r->index under route::host (lowercased; "" for any host; "*.x" wildcard).
  // Returns false when the same host/path/kind entry already exists.
  bool add(const route* r);
  // The request goes to: the exact host's table, else the wildcard's, else the catch-all
  // table; when the chosen table has no matching path, the default route (may be none).
  // Returns the route's index, or no_route.
  std::uint32_t find_index(std::string_view host, std::string_view path) const noexcept;
  host_match match_host(std::string_view host) const noexcept;

  // Lowercases `host` without ":port" (IPv6 literal "[::1]:80" -> "[::1]") and without a
  // trailing '.', into `buf`. Returns an empty view when it does not fit.
  static std::string_view canonical_host(std::string_view host, char* buf,
                                         std::size_t cap) noexcept;
  // The path table of a host as written on rules (lowercased; "" any host; "*.x"), or null.
  path_table* table_of(std::string_view lower_host);
  // server-alias: `alias` (lowercased; exact or "*.x") is served by the path table of `host`
  // (lowercased, exact or "*.x"). False when `alias` is a host of its own (or already an
  // alias) or `host` has no table.
  bool add_alias(std::string_view alias, std::string_view host);
  bool has_host(std::string_view lower_host) const;

  // from-to-www-redirect: request host (lowercased) -> the host it is redirected to.
  std::unordered_map<std::string, std::string, tls_host_hash, std::equal_to<>> www_redirects;

  route_ref default_route_;  // an Ingress spec.defaultBackend, or none (404)

  // The clusters by id and by Service and the routes using each (config/snapshot_index.hpp),
  // by position: like the host entries, valid for every Snapshot sharing this table. Null in
  // hand-made Snapshots.
  std::shared_ptr<const snapshot_index> index;

 private:
  path_table& table_at(flat_string_map<std::uint32_t>& map, std::string_view key);

  flat_string_map<std::uint32_t> exact_hosts_;     // lowercased host -> index in tables_
  flat_string_map<std::uint32_t> wildcard_hosts_;  // suffix after "*." -> index in tables_
  std::vector<path_table> tables_;
  path_table any_host_;
  const path_table* table_for(std::string_view lower_host, host_match* how) const noexcept;
};

}  // namespace portico::config
