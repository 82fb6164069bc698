// use-regex and rewrite-target, as ingress-nginx applies them (docs: ingress-path-matching.md;
// its controller's location ordering and template):
// - A host whose Ingresses (any of them) say use-regex "true" or carry a rewrite-target that
//   differs from a path matches every path of that host as nginx's `location ~* "^<path>"`:
//   a case-insensitive regex anchored at the start only.
// - Its locations: a Prefix path of an Ingress without use-regex/rewrite-target becomes two,
//   "<path>/" and "<path>" (only the first when an Exact location has the same path; "/"
//   stays one), as ingress-nginx splits Prefix paths; every other path is one location as
//   written. Sorted by length, longest first (ties: reverse byte order), and the first that
//   matches the normalized request path wins, as nginx tries regex locations.
// - rewrite-target: `rewrite "(?i)<path>" <target> break;` on routes whose target differs from
//   their path: the path as an unanchored regex over the normalized request path, $1-$9 its
//   captures (config::route::rewrite_regex; applied by proxy/phases.hpp).
// Regexes are RE2 (linear time in the path, no backtracking): a path RE2 does not accept
// (lookaround, backreferences) is a build_error naming the Ingress, and is not served.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/route_table.hpp"
#include "config/snapshot.hpp"

namespace portico::config {

// Compiles "pattern" case-insensitively; null with `why` set when RE2 refuses it.
std::shared_ptr<const re2::RE2> compile_path_regex(const std::string& pattern, std::string* why);

// Puts the regex hosts of `routes` (their indices already set, their paths in `table`) into
// regex mode and sets each rewriting route's rewrite_regex. Errors name the Ingress.
void apply_regex_paths(std::vector<std::shared_ptr<route>>& routes, host_table& table,
                       std::vector<build_error>& errors);

}  // namespace portico::config
