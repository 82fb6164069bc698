#include "config/snapshot_hash.hpp"

#include <algorithm>
#include <string_view>
#include <utility>

#include "config/fnv.hpp"

namespace portico::config {
namespace {

void hash_tls(fnv1a& h, const tls_table& tls) {
  std::vector<std::pair<std::string_view, const tls_certificates*>> hosts;
  hosts.reserve(tls.by_host.size());
  for (const auto& [host, set] : tls.by_host) hosts.emplace_back(host, &set);
  std::sort(hosts.begin(), hosts.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [host, set] : hosts) {
    h.add(host).add(static_cast<std::uint64_t>(set->size()));
    for (const auto& c : *set) h.add(c->version);
  }
  h.add(tls.default_cert ? tls.default_cert->version : 0);
}

}  // namespace

std::uint64_t snapshot_hash(const std::vector<std::shared_ptr<const route>>& routes,
                            const std::vector<std::shared_ptr<const cluster>>& clusters,
                            const tls_table& tls, const controller_config& settings) {
  fnv1a h;
  for (const auto& r : routes) {
    h.add(r->host).add(r->path).add(static_cast<std::uint64_t>(r->kind)).add(r->path_type);
    h.add(r->namespace_name).add(r->ingress_name).add(r->service_name).add(r->service_port);
    h.add(r->is_default_backend ? 1 : 0).add(r->backend->id).add(r->backend->version);
    h.add(r->ssl_redirect ? 1 : 0).add(r->upstream_h2 ? 1 : 0).add(r->grpc ? 1 : 0).add(r->policy ? r->policy->hash : 0);
    if (const cluster* e = r->error_backend.get()) h.add(e->id).add(e->version);
    for (const auto& w : r->weighted) {
      h.add(w.backend ? w.backend->id : std::string_view("-")).add(w.backend ? w.backend->version : 0).add(std::uint64_t{w.weight});
      if (const route* v = w.variant.get()) h.add("v").add(v->upstream_h2 ? 1 : 0).add(v->policy->hash);
    }
    for (const auto& m : r->mirrors)
      h.add("m").add(m.backend->id).add(m.backend->version).add(std::uint64_t{m.numerator}).add(std::uint64_t{m.denominator});
    if (const canary_route* c = r->canary.get()) {
      h.add(c->namespace_name).add(c->ingress_name).add(c->upstream_name);
      h.add(c->backend->id).add(c->backend->version).add(c->policy->hash);
    }
  }
  h.add(settings.hash);
  // Upstream TLS settings once per cluster (sorted by id), not once per route.
  for (const auto& c : clusters) {
    if (const upstream_tls* t = c->tls.get()) {
      h.add(c->id).add(t->verify ? 1 : 0).add(t->ca_secret).add(t->server_name).add(t->ca_pem);
    }
  }
  hash_tls(h, tls);
  return h.value();
}

}  // namespace portico::config
