#include "config/ingress_check.hpp"

#include <algorithm>

namespace portico::config {

bool ingress_is_served(const ingress& ing, const cluster_state& state, const build_options& opts) {
  // The legacy annotation wins over spec.ingressClassName when both are present, as in
  // ingress-nginx.
  if (auto it = ing.meta.annotations.find(std::string(legacy_class_annotation));
      it != ing.meta.annotations.end()) {
    return it->second == opts.ingress_class;
  }
  if (ing.ingress_class_name) {
    auto it = state.ingress_classes.find(*ing.ingress_class_name);
    return it != state.ingress_classes.end() && it->second.controller == opts.controller_class;
  }
  // No class at all: ours when one of our IngressClasses is marked the cluster default.
  for (const auto& [key, cls] : state.ingress_classes) {
    if (cls.controller != opts.controller_class) continue;
    auto a = cls.meta.annotations.find(std::string(default_class_annotation));
    if (a != cls.meta.annotations.end() && a->second == "true") return true;
  }
  return false;
}

namespace {

bool valid_label(std::string_view l) {
  if (l.empty() || l.size() > 63) return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(l.front()) || !alnum(l.back())) return false;
  return std::all_of(l.begin(), l.end(), [&](char c) { return alnum(c) || c == '-'; });
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

void add_error(std::vector<build_error>& errors, const ingress& ing, std::string field,
               std::string message) {
  errors.push_back({"Ingress", ing.meta.namespace_name, ing.meta.name, std::move(field),
                    std::move(message)});
}

bool check_backend(const ingress& ing, const ingress_backend& b, const std::string& field,
                   std::vector<build_error>& errors) {
  if (!b.has_service) {
    add_error(errors, ing, field, b.has_resource ? "resource backends are not supported"
                                                 : "backend.service is required");
    return false;
  }
  if (b.service_name.empty()) {
    add_error(errors, ing, field + ".service.name", "is required");
    return false;
  }
  const auto& p = b.port;
  if (p.number && !p.name.empty()) {
    add_error(errors, ing, field + ".service.port", "number and name are mutually exclusive");
    return false;
  }
  if (!p.number && p.name.empty()) {
    add_error(errors, ing, field + ".service.port", "a port number or name is required");
    return false;
  }
  if (p.number && (*p.number < 1 || *p.number > 65535)) {
    add_error(errors, ing, field + ".service.port.number",
              "must be between 1 and 65535, got " + std::to_string(*p.number));
    return false;
  }
  return true;
}

bool check_path(const ingress& ing, const http_ingress_path& p, const std::string& field,
                std::vector<build_error>& errors) {
  bool ok = true;
  bool implicit_root = p.type == path_type::implementation_specific && p.path.empty();
  if (!implicit_root && (p.path.empty() || p.path.front() != '/')) {
    add_error(errors, ing, field + ".path", "must begin with '/', got \"" + p.path + "\"");
    ok = false;
  }
  return check_backend(ing, p.backend, field + ".backend", errors) && ok;
}

}  // namespace

bool valid_rule_host(std::string_view host, std::string* why) {
  std::string_view h = host;
  if (h.starts_with("*.")) h.remove_prefix(2);
  if (h.size() > 253) {
    if (why) *why = "must be at most 253 characters";
    return false;
  }
  bool numeric = true;
  std::size_t labels = 0;
  for (std::size_t start = 0;;) {
    auto dot = h.find('.', start);
    auto label = h.substr(start, dot == std::string_view::npos ? h.npos : dot - start);
    if (!valid_label(label)) {
      if (why) {
        *why = "must be a DNS name (lowercase letters, digits, '-', '.'; a wildcard only as "
               "the whole first label \"*.\"), got \"" + std::string(host) + "\"";
      }
      return false;
    }
    numeric = numeric && all_digits(label);
    ++labels;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (numeric && labels == 4) {
    if (why) *why = "must be a DNS name, not an IP address";
    return false;
  }
  return true;
}

bool validate_ingress(const ingress& ing, std::vector<build_error>& errors) {
  bool ok = true;
  if (ing.default_backend) ok = check_backend(ing, *ing.default_backend, "spec.defaultBackend", errors) && ok;
  for (std::size_t i = 0; i < ing.rules.size(); ++i) {
    const auto& rule = ing.rules[i];
    std::string rf = "spec.rules[" + std::to_string(i) + "]";
    std::string why;
    if (!rule.host.empty() && !valid_rule_host(rule.host, &why)) {
      add_error(errors, ing, rf + ".host", why);
      ok = false;
    }
    for (std::size_t j = 0; j < rule.paths.size(); ++j) {
      std::string pf = rf + ".http.paths[" + std::to_string(j) + "]";
      ok = check_path(ing, rule.paths[j], pf, errors) && ok;
    }
  }
  return ok;
}

std::string path_type_text(path_type t) {
  switch (t) {
    case path_type::exact: return "Exact";
    case path_type::prefix: return "Prefix";
    // Matched as Prefix, or as a regex on a use-regex host (config/regex_paths.hpp).
    case path_type::implementation_specific: return "ImplementationSpecific (as Prefix)";
  }
  return "Prefix";
}

}  // namespace portico::config
