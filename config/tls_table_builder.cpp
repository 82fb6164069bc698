#include "config/tls_table_builder.hpp"

#include <algorithm>
#include <array>
#include <tuple>

#include "config/ingress_check.hpp"
#include "config/tls_certificate.hpp"

namespace portico::config {
namespace {

// Ends the report of a certificate outside its validity period.
constexpr std::string_view served_anyway = "; it is served anyway, as ingress-nginx does";

}  // namespace

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
    if (!problem.empty()) {
      errors_.push_back({"Secret", s.meta.namespace_name, s.meta.name, "data[tls.crt]",
                         problem + std::string(served_anyway)});
    }
    return prev->second;
  }
  certificate_result r = parse_tls_secret(s, opts_.now);
  if (!r.message.empty()) {
    errors_.push_back({"Secret", s.meta.namespace_name, s.meta.name, std::move(r.field),
                       r.message + (r.cert ? std::string(served_anyway)
                                           : "; " + std::string(consequence))});
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

namespace {

// "Secret ns/a", "Secrets ns/a and ns/b" or "the default certificate".
template <class Entries>
std::string what_host_gets(const Entries& entries) {
  if (!entries.front().cert) return "the default certificate";
  std::string out = entries.size() == 1 ? "Secret " : "Secrets ";
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (i) out += i + 1 == entries.size() ? " and " : ", ";
    out += entries[i].secret;
  }
  return out;
}

}  // namespace

void tls_table_builder::assign(const ingress& ing, const std::string& host,
                               std::shared_ptr<const tls_certificate> cert,
                               const std::string& secret, const std::string& field) {
  std::string owner = ing.meta.namespace_name + "/" + ing.meta.name;
  auto [it, inserted] = hosts_.try_emplace(host);
  std::vector<host_entry>& entries = it->second;
  if (inserted) {
    entries.push_back({std::move(cert), std::move(owner), secret});
    return;
  }
  for (const auto& e : entries) {
    if (e.secret == secret) return;  // the same Secret again
  }
  const host_entry* same_type = nullptr;
  if (cert && entries.front().cert) {
    for (const auto& e : entries) {
      if (e.cert->key_type == cert->key_type) same_type = &e;
    }
    if (!same_type) {  // another key type: the client's signature algorithms choose
      entries.push_back({std::move(cert), std::move(owner), secret});
      return;
    }
  }
  auto configured_by = [&](const host_entry& e) {
    return e.ingress == owner ? std::string("an earlier spec.tls entry of this Ingress")
                              : "Ingress " + e.ingress + " (older)";
  };
  if (same_type) {
    error(ing, field,
          "host \"" + host + "\" already gets an " +
              std::string(key_type_name(cert->key_type)) + " certificate from Secret " +
              same_type->secret + ", configured by " + configured_by(*same_type) +
              "; a host takes one certificate per key type; ignored");
    return;
  }
  error(ing, field,
        "host \"" + host + "\" already gets " + what_host_gets(entries) + " from " +
            configured_by(entries.front()) + "; ignored");
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
    std::array<bool, tls_key_type_count> has{};  // the first certificate of each key type
    for (const auto& cert : certs) {
      if (!cert || !certificate_covers(*cert, host)) continue;
      bool& seen_type = has[static_cast<std::size_t>(cert->key_type)];
      if (seen_type) continue;
      seen_type = true;
      assign(ing, host, cert, cert->secret, field);
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
  for (auto& [host, entries] : hosts_) {
    tls_certificates set;
    if (entries.front().cert) {  // then every entry has one, each of another key type
      for (auto& e : entries) set.push_back(std::move(e.cert));
      std::sort(set.begin(), set.end(),
                [](const auto& a, const auto& b) { return a->key_type < b->key_type; });
    }
    t->by_host.emplace(host, std::move(set));
  }
  for (const auto& h : implicit_) {
    if (tls_configured_for(*t, h.host)) continue;
    t->by_host.emplace(h.host, tls_certificates{});
    errors_.push_back({"Ingress", h.ingress_ns, h.ingress_name, h.field,
                       "host \"" + h.host + "\" is not in spec.tls[].hosts and no certificate "
                       "of spec.tls names it; HTTPS serves it with the default certificate"});
  }
  add_default_certificate(*t);
  for (const auto& [host, set] : t->by_host) {
    t->certificates.insert(t->certificates.end(), set.begin(), set.end());
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
