#include "config/snapshot_hash.hpp"

#include <algorithm>
#include <string_view>
#include <utility>

#include "config/fnv.hpp"

namespace portico::config {
namespace {

// splitmix64's finalizer: a sum of FNV values would let equal low bits cancel.
std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

std::uint64_t route_digest(const route& r, std::uint32_t position) {
  fnv1a h;
  h.add(std::uint64_t{position});
  h.add(r.host).add(r.path).add(static_cast<std::uint64_t>(r.kind)).add(r.path_type);
  h.add(r.namespace_name).add(r.ingress_name).add(r.service_name).add(r.service_port);
  h.add(r.is_default_backend ? 1 : 0).add(r.backend->id).add(r.backend->version);
  h.add(r.ssl_redirect ? 1 : 0).add(r.upstream_h2 ? 1 : 0).add(r.grpc ? 1 : 0).add(r.policy ? r.policy->hash : 0);
  if (const cluster* e = r.error_backend.get()) h.add(e->id).add(e->version);
  for (const auto& w : r.weighted) {
    h.add(w.backend ? w.backend->id : std::string_view("-")).add(w.backend ? w.backend->version : 0).add(std::uint64_t{w.weight});
    if (const route* v = w.variant.get()) h.add("v").add(v->upstream_h2 ? 1 : 0).add(v->policy->hash);
  }
  for (const auto& m : r.mirrors)
    h.add("m").add(m.backend->id).add(m.backend->version).add(std::uint64_t{m.numerator}).add(std::uint64_t{m.denominator});
  if (const canary_route* c = r.canary.get()) {
    h.add(c->namespace_name).add(c->ingress_name).add(c->upstream_name);
    h.add(c->backend->id).add(c->backend->version).add(c->policy->hash);
  }
  return mix(h.value());
}

std::uint64_t cluster_digest(const cluster& c) {
  const upstream_tls* t = c.tls.get();
  if (!t) return 0;
  fnv1a h;
  h.add(c.id).add(t->verify ? 1 : 0).add(t->ca_secret).add(t->server_name).add(t->ca_pem);
  return mix(h.value());
}

// The TLS table: hosts in order with their certificates' versions, the default certificate.
static std::uint64_t tls_digest(const tls_table& tls) {
  std::vector<std::pair<std::string_view, const tls_certificates*>> hosts;
  hosts.reserve(tls.by_host.size());
  for (const auto& [host, set] : tls.by_host) hosts.emplace_back(host, &set);
  std::sort(hosts.begin(), hosts.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  fnv1a h;
  for (const auto& [host, set] : hosts) {
    h.add(host).add(static_cast<std::uint64_t>(set->size()));
    for (const auto& c : *set) h.add(c->version);
  }
  h.add(tls.default_cert ? tls.default_cert->version : 0);
  return h.value();
}

std::uint64_t snapshot_hash(const std::vector<std::shared_ptr<const route>>& routes,
                            const std::vector<std::shared_ptr<const cluster>>& clusters,
                            const tls_table& tls, const controller_config& settings) {
  fnv1a h;
  h.add(settings.hash).add(tls_digest(tls));
  std::uint64_t sum = mix(h.value());
  for (std::size_t i = 0; i < routes.size(); ++i)
    sum += route_digest(*routes[i], static_cast<std::uint32_t>(i));
  for (const auto& c : clusters) sum += cluster_digest(*c);
  return sum;
}

}  // namespace portico::config
