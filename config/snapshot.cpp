#include "config/snapshot.hpp"

#include "config/gateway_status.hpp"
#include "config/gateway_table.hpp"

#include "config/route_table.hpp"
#include "config/snapshot_index.hpp"

#include <memory>

namespace portico::config {

std::string upstream_name(std::string_view namespace_name, std::string_view service,
                          std::string_view port) {
  std::string out;
  out.reserve(namespace_name.size() + service.size() + port.size() + 2);
  out.append(namespace_name).append("-").append(service).append("-").append(port);
  return out;
}

std::string endpoint::to_string() const {
  std::string out;
  bool v6 = ip.find(':') != std::string::npos;
  if (v6) out += '[';
  out += ip;
  if (v6) out += ']';
  out += ':';
  out += std::to_string(port);
  return out;
}

std::string build_error::to_string() const {
  std::string out = kind;
  out += ' ';
  if (!namespace_name.empty()) {
    out += namespace_name;
    out += '/';
  }
  out += name;
  if (!field.empty()) {
    out += ": ";
    out += field;
  }
  out += ": ";
  out += message;
  return out;
}

snapshot::snapshot(route_list routes, cluster_list clusters,
                   std::shared_ptr<const host_table> hosts, std::uint64_t hash,
                   std::shared_ptr<const tls_table> tls, controller_config_ptr settings,
                   std::shared_ptr<const gateway_table> gateway,
                   std::shared_ptr<const gateway_status> gateway_status)
    : routes_(std::move(routes)),
      clusters_(std::move(clusters)),
      hosts_(std::move(hosts)),
      tls_(tls ? std::move(tls) : std::make_shared<const tls_table>()),
      settings_(settings ? std::move(settings) : std::make_shared<const controller_config>()),
      gateway_(std::move(gateway)),
      gateway_status_(gateway_status ? std::move(gateway_status)
                                     : std::make_shared<const config::gateway_status>()),
      hash_(hash) {
  // A Snapshot from build() finds clusters through the index its host table carries (shared
  // with its endpoint-only successors); a hand-made one gets its own map.
  if (hosts_ && hosts_->index) return;
  cluster_by_id_.reserve(clusters_.size());
  for (const auto& c : clusters_) cluster_by_id_.emplace(c->id, c.get());
}

snapshot::~snapshot() = default;

const route* snapshot::find(std::string_view host, std::string_view path) const {
  if (!hosts_) return nullptr;
  std::uint32_t i = hosts_->find_index(host, path);
  return i < routes_.size() ? routes_[i].get() : nullptr;
}

const route* snapshot::find(std::string_view host, std::string_view path,
                            const request_attrs& req) const {
  if (!gateway_) return find(host, path);
  if (!hosts_) return nullptr;
  char buf[256];
  const std::string_view h = host_table::canonical_host(host, buf, sizeof buf);
  if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  bool claimed = false;
  const std::uint32_t g = gateway_->find(h, path, req, claimed);
  // Ingress rules are served on the main listeners only: a request on an extra Gateway port
  // (--gateway-http-ports, --gateway-https-ports) has its listeners' routes or none.
  if (claimed || req.listener_port != 0) return g < routes_.size() ? routes_[g].get() : nullptr;
  const host_match how = hosts_->match_host(host);
  if (how == host_match::exact || how == host_match::wildcard || g >= routes_.size())
    return find(host, path);
  return routes_[g].get();
}

const std::string* snapshot::www_redirect(std::string_view host) const {
  if (!hosts_ || hosts_->www_redirects.empty()) return nullptr;
  char buf[256];
  auto h = host_table::canonical_host(host, buf, sizeof buf);
  auto it = hosts_->www_redirects.find(h);
  return it == hosts_->www_redirects.end() ? nullptr : &it->second;
}

std::string_view key_type_name(tls_key_type t) {
  switch (t) {
    case tls_key_type::rsa: return "RSA";
    case tls_key_type::rsa_pss: return "RSA-PSS";
    case tls_key_type::ec: return "EC";
    case tls_key_type::ed25519: return "Ed25519";
    case tls_key_type::ed448: return "Ed448";
  }
  return "?";
}

namespace {

// The entry of a TLS host map for a server name: lower-cased, one trailing dot ignored, the
// exact host, then its single-label wildcard. No allocation.
template <class Map>
const typename Map::mapped_type* find_tls_host(const Map& hosts, std::string_view name) {
  if (hosts.empty() || name.empty() || name.size() > 253) return nullptr;
  char buf[254];
  std::size_t n = 0;
  for (char c : name) buf[n++] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  if (buf[n - 1] == '.') --n;  // "foo.com." names the same host
  if (n == 0) return nullptr;
  std::string_view key(buf, n);
  auto it = hosts.find(key);
  if (it == hosts.end()) {
    auto dot = key.find('.');
    if (dot == std::string_view::npos || dot == 0) return nullptr;
    // "a.foo.com" -> "*.foo.com" (one label only), written over the label's last character.
    buf[dot - 1] = '*';
    it = hosts.find(std::string_view(buf + dot - 1, n - dot + 1));
    if (it == hosts.end()) return nullptr;
  }
  return &it->second;
}

}  // namespace

// A Gateway listener wildcard covering more than one label of `name`: "a.b.example.com" tries
// "*.example.com", then "*.com" (the one-label "*.b.example.com" was tried before). No
// allocation.
static const tls_certificates* find_multi_label(const tls_table& t, std::string_view name) {
  if (t.multi_label_wildcards.empty() || name.empty() || name.size() > 253) return nullptr;
  char buf[254];
  std::size_t n = 0;
  for (char c : name) buf[n++] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  if (buf[n - 1] == '.') --n;
  const std::string_view key(buf, n);
  const auto first = key.find('.');
  if (first == std::string_view::npos || first == 0) return nullptr;
  for (auto dot = key.find('.', first + 1); dot != std::string_view::npos; dot = key.find('.', dot + 1)) {
    buf[dot - 1] = '*';  // over the last character of the label before: "*.<rest>"
    const std::string_view w(buf + dot - 1, n - dot + 1);
    if (!t.multi_label_wildcards.count(w)) continue;
    if (auto it = t.by_host.find(w); it != t.by_host.end()) return &it->second;
  }
  return nullptr;
}

const tls_certificates* snapshot::find_certificates(std::string_view server_name) const {
  const tls_certificates* c = find_tls_host(tls_->by_host, server_name);
  if (c == nullptr) c = find_multi_label(*tls_, server_name);
  return c == nullptr || c->empty() ? nullptr : c;
}

const client_auth* snapshot::find_client_auth(std::string_view host) const {
  const auto& hosts = tls_->client_auth_by_host;
  if (hosts.empty()) return nullptr;
  // A request's Host may carry ":port" (an IPv6 literal keeps its brackets).
  if (const auto colon = host.rfind(':');
      colon != std::string_view::npos && host.find(']') == std::string_view::npos)
    host = host.substr(0, colon);
  const auto* a = find_tls_host(hosts, host);
  return a != nullptr ? a->get() : nullptr;
}

const cluster* snapshot::find_cluster(std::string_view id) const {
  if (hosts_ && hosts_->index) {
    const auto& by_id = hosts_->index->cluster_by_id;
    auto it = by_id.find(id);
    return it == by_id.end() ? nullptr : clusters_[it->second].get();
  }
  auto it = cluster_by_id_.find(id);
  return it == cluster_by_id_.end() ? nullptr : it->second;
}

}  // namespace portico::config
