#include "config/tls_table_builder.hpp"

#include <algorithm>
#include <tuple>

#include "config/ingress_check.hpp"
#include "config/tls_certificate.hpp"

namespace portico::config {

bool tls_configured_for(const tls_table& t, std::string_view lower_host) {
  if (t.by_host.empty() || lower_host.empty()) return false;
  std::string key(lower_host);
  if (t.by_host.count(key)) return true;
  auto dot = key.find('.');
  if (dot == std::string::npos || dot == 0 || key.starts_with("*.")) return false;
  key.replace(0, dot, "*");
  return t.by_host.count(key) != 0;
}

tls_table_builder::tls_table_builder(const cluster_state& state, const build_options& opts,
                                     std::vector<build_error>& errors)
    : state_(state), opts_(opts), errors_(errors) {
  if (opts.previous) {
    for (const auto& c : opts.previous->tls().certificates) previous_.emplace(c->secret, c);
  }
}

void tls_table_builder::error(const ingress& ing, std::string field, std::string message) {
  errors_.push_back({"Ingress", ing.meta.namespace_name, ing.meta.name, std::move(field),
                     std::move(message)});
}

std::shared_ptr<const tls_certificate> tls_table_builder::load(const secret& s,
                                                               std::string_view consequence) {
  std::string key = s.meta.namespace_name + "/" + s.meta.name;
  // Unchanged Secret data: the previous build's certificate, re-checked only for expiry.
  // (Comparing the data costs a memcmp; hashing it would read every byte of 10,000 Secrets.)
  auto crt = s.data.find(std::string(tls_crt_key));
  auto k = s.data.find(std::string(tls_key_key));
  if (auto prev = previous_.find(key); prev != previous_.end() && s.type == tls_secret_type &&
                                       crt != s.data.end() && k != s.data.end() &&
                                       prev->second->cert_pem == crt->second &&
                                       prev->second->key_pem == k->second) {
    std::string problem = certificate_expiry_problem(*prev->second, opts_.now);
    if (problem.empty()) return prev->second;
    errors_.push_back({"Secret", s.meta.namespace_name, s.meta.name, "data[tls.crt]",
                       problem + "; " + std::string(consequence)});
    return nullptr;
  }
  certificate_result r = parse_tls_secret(s, opts_.now);
  if (!r.cert) {
    errors_.push_back({"Secret", s.meta.namespace_name, s.meta.name, std::move(r.field),
                       r.message + "; " + std::string(consequence)});
  }
  return std::move(r.cert);
}

std::shared_ptr<const tls_certificate> tls_table_builder::certificate(const std::string& ns,
                                                                      const std::string& name,
                                                                      bool* missing,
                                                                      std::string_view consequence) {
  std::string key = ns + "/" + name;
  auto s = state_.secrets.find(key);
  if (missing) *missing = s == state_.secrets.end();
  if (s == state_.secrets.end()) return nullptr;
  if (auto it = loaded_.find(key); it != loaded_.end()) return it->second;
  auto cert = load(s->second, consequence);
  loaded_.emplace(std::move(key), cert);
  return cert;
}

void tls_table_builder::assign(const ingress& ing, const std::string& host,
                               std::shared_ptr<const tls_certificate> cert,
                               const std::string& secret, const std::string& field) {
  std::string owner = ing.meta.namespace_name + "/" + ing.meta.name;
  auto [it, inserted] = hosts_.try_emplace(host, host_entry{std::move(cert), owner, secret});
  if (inserted || it->second.secret == secret) return;
  const host_entry& e = it->second;
  std::string from = e.secret.empty() ? "the default certificate" : "Secret " + e.secret;
  error(ing, field,
        "host \"" + host + "\" already gets " + from + " from " +
            (e.ingress == owner ? std::string("an earlier spec.tls entry of this Ingress")
                                : "Ingress " + e.ingress + " (older)") +
            "; ignored");
}

void tls_table_builder::add_ingress(const ingress& ing) {
  if (ing.tls.empty()) return;
  const std::string& ns = ing.meta.namespace_name;
  std::vector<std::shared_ptr<const tls_certificate>> certs(ing.tls.size());
  std::vector<std::string> listed;
  for (std::size_t i = 0; i < ing.tls.size(); ++i) {
    const ingress_tls& t = ing.tls[i];
    std::string field = "spec.tls[" + std::to_string(i) + "]";
    std::string secret = t.secret_name.empty() ? std::string() : ns + "/" + t.secret_name;
    if (!secret.empty()) {
      bool missing = false;
      certs[i] = certificate(ns, t.secret_name, &missing);
      if (missing) {
        error(ing, field + ".secretName",
              "Secret " + secret + " not found; its hosts get the default certificate");
      }
    }
    for (std::size_t j = 0; j < t.hosts.size(); ++j) {
      std::string hf = field + ".hosts[" + std::to_string(j) + "]";
      std::string host = ascii_lower(t.hosts[j]);
      std::string why;
      if (host.empty() || !valid_rule_host(host, &why)) {
        error(ing, hf, host.empty() ? std::string("must not be empty") : why);
        continue;
      }
      listed.push_back(host);
      std::shared_ptr<const tls_certificate> cert = certs[i];
      if (cert && !certificate_covers(*cert, host)) {
        error(ing, hf,
              "the certificate of Secret " + secret + " (" + certificate_names_text(*cert) +
                  ") does not name host \"" + host + "\"; it gets the default certificate");
        cert = nullptr;
      }
      assign(ing, host, std::move(cert), secret, hf);
    }
  }
  add_rule_hosts(ing, certs, listed);
}

void tls_table_builder::add_rule_hosts(
    const ingress& ing, const std::vector<std::shared_ptr<const tls_certificate>>& certs,
    const std::vector<std::string>& listed) {
  std::vector<std::string> seen = listed;
  for (std::size_t r = 0; r < ing.rules.size(); ++r) {
    std::string host = ascii_lower(ing.rules[r].host);
    if (host.empty() || std::find(seen.begin(), seen.end(), host) != seen.end()) continue;
    seen.push_back(host);
    std::string field = "spec.rules[" + std::to_string(r) + "].host";
    bool found = false;
    for (std::size_t i = 0; i < certs.size() && !found; ++i) {
      if (!certs[i] || !certificate_covers(*certs[i], host)) continue;
      assign(ing, host, certs[i], certs[i]->secret, field);
      found = true;
    }
    if (!found) implicit_.push_back({host, ing.meta.namespace_name, ing.meta.name, field});
  }
}

void tls_table_builder::add_default_certificate(tls_table& t) {
  const std::string& flag = opts_.default_ssl_certificate;
  if (flag.empty()) return;
  auto slash = flag.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == flag.size() ||
      flag.find('/', slash + 1) != std::string::npos) {
    errors_.push_back({"Secret", "", flag, "",
                       "--default-ssl-certificate must be \"namespace/name\"; the "
                       "self-signed certificate is the default"});
    return;
  }
  std::string ns = flag.substr(0, slash), name = flag.substr(slash + 1);
  bool missing = false;
  t.default_cert = certificate(ns, name, &missing,
                               "the self-signed certificate is the default (it is "
                               "--default-ssl-certificate)");
  if (missing) {
    errors_.push_back({"Secret", ns, name, "",
                       "not found (--default-ssl-certificate); the self-signed certificate is "
                       "the default"});
  }
}

std::shared_ptr<const tls_table> tls_table_builder::finish() {
  auto t = std::make_shared<tls_table>();
  t->by_host.reserve(hosts_.size() + implicit_.size());
  for (auto& [host, e] : hosts_) t->by_host.emplace(host, std::move(e.cert));
  for (const auto& h : implicit_) {
    if (tls_configured_for(*t, h.host)) continue;
    t->by_host.emplace(h.host, nullptr);
    errors_.push_back({"Ingress", h.ingress_ns, h.ingress_name, h.field,
                       "host \"" + h.host + "\" is not in spec.tls[].hosts and no certificate "
                       "of spec.tls names it; HTTPS serves it with the default certificate"});
  }
  add_default_certificate(*t);
  for (const auto& [host, c] : t->by_host) {
    if (c) t->certificates.push_back(c);
  }
  if (t->default_cert) t->certificates.push_back(t->default_cert);
  auto& cs = t->certificates;
  std::sort(cs.begin(), cs.end(), [](const auto& a, const auto& b) {
    return std::tie(a->secret, a->version) < std::tie(b->secret, b->version);
  });
  cs.erase(std::unique(cs.begin(), cs.end()), cs.end());
  return t;
}

}  // namespace portico::config
