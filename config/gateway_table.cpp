#include "config/gateway_table.hpp"

#include <algorithm>
#include <tuple>

#include <re2/re2.h>

#include "config/route_table.hpp"

namespace portico::config {

namespace {

int path_rank(gw_path_type t) {
  switch (t) {
    case gw_path_type::exact: return 0;
    case gw_path_type::regular_expression: return 1;
    case gw_path_type::path_prefix: return 2;
  }
  return 3;
}

bool full_match(const re2::RE2& re, std::string_view text) {
  return re2::RE2::FullMatch(re2::StringPiece(text.data(), text.size()), re);
}

bool value_accepts(const gateway_value_matcher& m, std::string_view v) {
  return m.regex ? full_match(*m.regex, v) : v == m.value;
}

}  // namespace

bool gateway_match_before(const gateway_match& a, const gateway_match& b) {
  if (a.grpc != b.grpc) return a.grpc;
  if (a.grpc) {
    if (a.grpc_service_chars != b.grpc_service_chars) return a.grpc_service_chars > b.grpc_service_chars;
    if (a.grpc_method_chars != b.grpc_method_chars) return a.grpc_method_chars > b.grpc_method_chars;
    if (a.headers.size() != b.headers.size()) return a.headers.size() > b.headers.size();
    return std::tie(a.creation_timestamp, a.route_key, a.rule, a.match) <
           std::tie(b.creation_timestamp, b.route_key, b.rule, b.match);
  }
  const int ra = path_rank(a.path_type), rb = path_rank(b.path_type);
  if (ra != rb) return ra < rb;
  if (a.path_type != gw_path_type::exact && a.path.size() != b.path.size())
    return a.path.size() > b.path.size();
  const bool ma = !a.method.empty(), mb = !b.method.empty();
  if (ma != mb) return ma;
  if (a.headers.size() != b.headers.size()) return a.headers.size() > b.headers.size();
  if (a.query.size() != b.query.size()) return a.query.size() > b.query.size();
  return std::tie(a.creation_timestamp, a.route_key, a.rule, a.match) <
         std::tie(b.creation_timestamp, b.route_key, b.rule, b.match);
}

std::optional<std::string_view> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
  }
  return std::nullopt;
}

bool is_grpc_call(const request_attrs& req) {
  if (req.method != "POST" || req.has_header == nullptr || !req.has_header(req.ctx, "content-type")) return false;
  const std::string_view ct = req.header(req.ctx, "content-type");
  constexpr std::string_view grpc = "application/grpc";
  if (ct.size() < grpc.size()) return false;
  for (std::size_t i = 0; i < grpc.size(); ++i) {
    char c = ct[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != grpc[i]) return false;
  }
  return true;
}

// "/<service>/<method>": two non-empty segments (a regex of either is matched within its own).
static bool is_grpc_path(std::string_view path) {
  if (!path.starts_with('/')) return false;
  const auto slash = path.find('/', 1);
  return slash != std::string_view::npos && slash > 1 && slash + 1 < path.size() &&
         path.find('/', slash + 1) == std::string_view::npos;
}

bool gateway_match_accepts(const gateway_match& m, std::string_view path, const request_attrs& req) {
  if (m.grpc && (!is_grpc_call(req) || !is_grpc_path(path))) return false;
  switch (m.path_type) {
    case gw_path_type::exact:
      if (path != m.path) return false;
      break;
    case gw_path_type::path_prefix:
      if (!prefix_matches(m.path, path)) return false;
      break;
    case gw_path_type::regular_expression:
      if (!m.path_regex || !full_match(*m.path_regex, path)) return false;
      break;
  }
  if (!m.method.empty() && req.method != m.method) return false;
  for (const auto& h : m.headers) {
    if (req.has_header == nullptr || !req.has_header(req.ctx, h.name)) return false;
    if (!value_accepts(h, req.header(req.ctx, h.name))) return false;
  }
  for (const auto& q : m.query) {
    auto v = query_param(req.query, q.name);
    if (!v || !value_accepts(q, *v)) return false;
  }
  return true;
}

bool hostname_covers(std::string_view pattern, std::string_view host) {
  if (!pattern.starts_with("*.")) return pattern == host;
  const std::string_view suffix = pattern.substr(1);  // ".example.com"
  // A wildcard host is covered when its own suffix is longer: "*.a.example.com".
  const std::string_view h = host.starts_with("*.") ? host.substr(1) : host;
  return h.size() > suffix.size() && h.ends_with(suffix);
}

std::vector<std::string> intersect_hostnames(const std::optional<std::string>& listener,
                                             const std::vector<std::string>& route, bool& any) {
  any = false;
  std::vector<std::string> out;
  if (!listener || listener->empty()) {
    if (route.empty()) any = true;
    out = route;
    return out;
  }
  if (route.empty()) return {*listener};
  for (const auto& h : route) {
    if (h == *listener || hostname_covers(*listener, h)) out.push_back(h);
    else if (hostname_covers(h, *listener)) out.push_back(*listener);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

const gateway_table::index_map* gateway_table::keys_of(std::uint16_t port) const {
  for (const auto& [p, keys] : keys_)
    if (p == port) return &keys;
  return nullptr;
}

std::vector<gateway_match>& gateway_table::list(std::uint16_t port, const std::string& host_key) {
  auto slot = std::find_if(keys_.begin(), keys_.end(), [&](const auto& k) { return k.first == port; });
  if (slot == keys_.end()) {
    keys_.emplace_back(port, index_map{});
    slot = std::prev(keys_.end());
  }
  auto [it, inserted] = slot->second.try_emplace(host_key, static_cast<std::uint32_t>(lists_.size()));
  if (inserted) lists_.emplace_back();
  return lists_[it->second];
}

void gateway_table::add_listener(std::uint16_t port, const std::string& gateway, const std::string& host) {
  listeners_.insert({port, "", host, gateway});
  if (!host.empty()) list(port, host);
}

namespace {

// How specific a listener hostname is for a key it covers: none < wildcards by length < exact.
std::size_t listener_rank(const std::string& l) {
  if (l.empty()) return 0;
  return l.front() == '*' ? l.size() : static_cast<std::size_t>(-1);
}

}  // namespace

// Drops from `out` (the list of host key `key`) the entries of a listener that is not the
// most specific of its Gateway covering `key`.
void gateway_table::isolate(std::uint16_t port, const std::string& key, std::vector<gateway_match>& out) const {
  std::vector<std::pair<const std::string*, const std::string*>> best;  // gateway -> listener
  auto best_of = [&](const std::string& gw) -> const std::string* {
    for (const auto& [g, l] : best)
      if (*g == gw) return l;
    const std::string* b = nullptr;
    for (const auto& l : listeners_) {
      if (l.port != port || l.gateway != gw) continue;
      if (!l.listener.empty() && l.listener != key && !hostname_covers(l.listener, key)) continue;
      if (b == nullptr || listener_rank(l.listener) > listener_rank(*b)) b = &l.listener;
    }
    best.emplace_back(&gw, b);
    return b;
  };
  std::erase_if(out, [&](const gateway_match& m) {
    const std::string* b = best_of(m.gateway);
    return b != nullptr && *b != m.listener;
  });
}

void gateway_table::finish() {
  std::sort(keys_.begin(), keys_.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [port, keys] : keys_) finish_slot(port, keys);
}

// One slot's lists: own entries first, sorted; then those of covering wildcards (longer
// first), then the routes without hostnames: "precedence must be given to rules from the
// HTTPRoute with the largest number of characters in a matching non-wildcard hostname;
// characters in a matching hostname" (apis/v1/httproute_types.go, HTTPRouteSpec.Hostnames).
void gateway_table::finish_slot(std::uint16_t port, index_map& keys) {
  std::vector<std::pair<std::string, std::vector<gateway_match>>> own;
  for (const auto& [key, i] : keys) {
    auto l = lists_[i];
    std::stable_sort(l.begin(), l.end(), gateway_match_before);
    own.emplace_back(key, std::move(l));
  }
  for (const auto& [key, i] : keys) {
    auto& out = lists_[i];
    std::vector<const std::pair<std::string, std::vector<gateway_match>>*> covering;
    for (const auto& o : own)
      if (o.first != key && (o.first.empty() || hostname_covers(o.first, key))) covering.push_back(&o);
    std::sort(covering.begin(), covering.end(), [](auto* a, auto* b) {
      if (a->first.empty() != b->first.empty()) return b->first.empty();
      return a->first.size() > b->first.size();
    });
    for (const auto& o : own)
      if (o.first == key) out = o.second;
    for (auto* c : covering) out.insert(out.end(), c->second.begin(), c->second.end());
    isolate(port, key, out);
  }
}

std::vector<std::uint16_t> gateway_table::ports() const {
  std::vector<std::uint16_t> out;
  for (const auto& [p, keys] : keys_) out.push_back(p);
  std::sort(out.begin(), out.end());
  return out;
}

const std::vector<gateway_match>* gateway_table::list_of(std::uint16_t port, std::string_view host_key) const {
  const index_map* keys = keys_of(port);
  if (keys == nullptr) return nullptr;
  auto it = keys->find(host_key);
  return it == keys->end() ? nullptr : &lists_[it->second];
}

std::uint32_t gateway_table::find(std::string_view host, std::string_view path,
                                  const request_attrs& req, bool& claimed) const {
  claimed = false;
  const std::uint16_t port = req.slot();
  const std::vector<gateway_match>* l = nullptr;
  if (!host.empty()) {
    l = list_of(port, host);
    // "*.b.example.com", then "*.example.com", ... written over a scratch buffer.
    char buf[256];
    for (auto dot = host.find('.'); l == nullptr && dot != std::string_view::npos;
         dot = host.find('.', dot + 1)) {
      const std::string_view suffix = host.substr(dot);  // ".b.example.com"
      if (suffix.size() + 1 > sizeof buf) continue;
      buf[0] = '*';
      suffix.copy(buf + 1, suffix.size());
      l = list_of(port, std::string_view(buf, suffix.size() + 1));
    }
    claimed = l != nullptr;
  }
  if (l == nullptr) l = list_of(port, "");
  if (l == nullptr) return no_route;
  for (const auto& m : *l)
    if (gateway_match_accepts(m, path, req)) return m.route;
  return no_route;
}

bool gateway_table::claims(std::string_view host) const {
  for (const auto& [port, keys] : keys_) {
    for (const auto& [key, i] : keys) {
      if (key.empty()) continue;
      if (key == host || hostname_covers(key, host)) return true;
    }
  }
  return false;
}

void gateway_table::assign_indices() {
  for (auto& l : lists_)
    for (auto& m : l) m.route = m.owner != nullptr ? m.owner->index : no_route;
  for (auto& [owner, variant] : variants_) variant->index = owner->index;
  variants_.clear();
}

bool gateway_table::has_any_host() const {
  for (const auto& [port, keys] : keys_)
    if (keys.contains(std::string_view{})) return true;
  return false;
}

}  // namespace portico::config
