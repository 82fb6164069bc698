#include "config/route_table.hpp"

#include <algorithm>

#include <re2/re2.h>

namespace portico::config {

std::string_view normalize_prefix(std::string_view path) noexcept {
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  return path;
}

bool prefix_matches(std::string_view prefix, std::string_view path) noexcept {
  prefix = normalize_prefix(prefix);
  path = normalize_prefix(path);
  if (path.size() < prefix.size() || path.substr(0, prefix.size()) != prefix) return false;
  // The prefix must end on an element boundary of the request path.
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

bool path_table::add(const route* r) {
  if (r->kind == match_kind::exact) return exact_.insert(r->path, r->index).second;
  std::string_view key = normalize_prefix(r->path);
  const auto written = static_cast<std::uint32_t>(r->path.size());
  const std::size_t slashes = written - key.size();
  const std::uint32_t bit = slashes < 31 ? 1u << slashes : 0u;
  auto [entry, inserted] = prefix_.insert(key, prefix_entry{r->index, written, bit});
  if (!inserted) {
    // Same normalized path: the same number of trailing '/'s is the same path as written.
    if ((entry->seen & bit) != 0) return false;
    entry->seen |= bit;
    if (written > entry->written_length) {
      entry->index = r->index;
      entry->written_length = written;
    }
  }
  max_prefix_len_ = std::max(max_prefix_len_, key.size());
  return true;
}

std::uint32_t path_table::find(std::string_view path) const noexcept {
  if (!regex_.empty()) {
    const re2::StringPiece text(path.data(), path.size());
    for (const auto& l : regex_)
      if (l.regex->Match(text, 0, text.size(), re2::RE2::ANCHOR_START, nullptr, 0)) return l.index;
    return no_route;
  }
  // Exact first: an Exact path beats a Prefix path of the same text, and an exact hit is
  // always the longest possible match.
  if (auto hit = exact_.find(path)) return *hit;
  if (prefix_.empty()) return no_route;
  // Longest to shortest element boundary: "/a/b/c" probes "/a/b/c", "/a/b", "/a", "".
  std::string_view p = normalize_prefix(path);
  for (;;) {
    if (p.size() <= max_prefix_len_) {
      if (auto hit = prefix_.find(p)) return hit->index;
    }
    if (p.empty()) return no_route;
    auto slash = p.rfind('/');
    p = slash == std::string_view::npos ? std::string_view{} : normalize_prefix(p.substr(0, slash));
  }
}

std::string_view host_table::canonical_host(std::string_view host, char* buf,
                                            std::size_t cap) noexcept {
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    if (close != std::string_view::npos) host = host.substr(0, close + 1);
  } else if (auto colon = host.find(':'); colon != std::string_view::npos &&
                                          host.find(':', colon + 1) == std::string_view::npos) {
    host = host.substr(0, colon);  // one ':' is a port; more is an unbracketed IPv6 literal
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.size() > cap) return {};
  for (std::size_t i = 0; i < host.size(); ++i) {
    char c = host[i];
    buf[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return {buf, host.size()};
}

bool host_table::add(const route* r) {
  std::string host = r->host;
  std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  if (host.empty()) return any_host_.add(r);
  if (host.starts_with("*.")) return table_at(wildcard_hosts_, std::string_view(host).substr(2)).add(r);
  return table_at(exact_hosts_, host).add(r);
}

path_table* host_table::table_of(std::string_view h) {
  if (h.empty()) return &any_host_;
  if (h.starts_with("*.")) {
    auto i = wildcard_hosts_.find(h.substr(2));
    return i ? &tables_[*i] : nullptr;
  }
  auto i = exact_hosts_.find(h);
  return i ? &tables_[*i] : nullptr;
}

bool host_table::has_host(std::string_view h) const {
  if (h.starts_with("*.")) return wildcard_hosts_.find(h.substr(2)) != nullptr;
  return !h.empty() && exact_hosts_.find(h) != nullptr;
}

bool host_table::add_alias(std::string_view alias, std::string_view host) {
  if (alias.empty() || has_host(alias)) return false;
  const std::uint32_t* t = host.starts_with("*.") ? wildcard_hosts_.find(host.substr(2))
                                                  : exact_hosts_.find(host);
  if (t == nullptr) return false;
  const std::uint32_t index = *t;  // insert() may move the map's storage
  if (alias.starts_with("*.")) return wildcard_hosts_.insert(alias.substr(2), index).second;
  return exact_hosts_.insert(alias, index).second;
}

path_table& host_table::table_at(flat_string_map<std::uint32_t>& map, std::string_view key) {
  auto [index, inserted] = map.insert(key, static_cast<std::uint32_t>(tables_.size()));
  if (inserted) tables_.emplace_back();
  return tables_[*index];
}

const path_table* host_table::table_for(std::string_view h, host_match* how) const noexcept {
  if (!h.empty()) {
    if (auto i = exact_hosts_.find(h)) {
      if (how) *how = host_match::exact;
      return &tables_[*i];
    }
    // "*.foo.com" covers exactly one label: strip the first label and look up the rest.
    if (auto dot = h.find('.'); dot != std::string_view::npos && dot > 0 && !wildcard_hosts_.empty()) {
      if (auto i = wildcard_hosts_.find(h.substr(dot + 1))) {
        if (how) *how = host_match::wildcard;
        return &tables_[*i];
      }
    }
  }
  if (!any_host_.empty()) {
    if (how) *how = host_match::any;
    return &any_host_;
  }
  if (how) *how = host_match::none;
  return nullptr;
}

host_match host_table::match_host(std::string_view host) const noexcept {
  char buf[256];
  host_match how = host_match::none;
  table_for(canonical_host(host, buf, sizeof buf), &how);
  return how;
}

std::uint32_t host_table::find_index(std::string_view host, std::string_view path) const noexcept {
  char buf[256];  // DNS names are at most 253 characters: longer hosts only reach catch-all
  const path_table* t = table_for(canonical_host(host, buf, sizeof buf), nullptr);
  // Callers pass the path without the query; a stray query is cut rather than matched.
  if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  if (t) {
    if (std::uint32_t i = t->find(path); i != no_route) return i;
  }
  return default_route_.index;
}

}  // namespace portico::config
