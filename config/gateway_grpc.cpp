#include "config/gateway_grpc.hpp"

#include <algorithm>

#include <re2/re2.h>

namespace portico::config {
namespace {

constexpr std::string_view any_segment = "[^/]+";

std::string without_leading_dot(const std::string& s) {
  return s.starts_with('.') ? s.substr(1) : s;
}

// An RE2 pattern for one path segment: the value quoted (Exact) or as written, or any segment
// (gateway_match_accepts() takes only paths of two segments, so a regex cannot span both).
std::string segment_pattern(const std::optional<std::string>& v, bool regex) {
  if (!v || v->empty()) return std::string(any_segment);
  return regex ? "(?:" + *v + ")" : re2::RE2::QuoteMeta(without_leading_dot(*v));
}

}  // namespace

http_route grpc_route_as_http(const grpc_route& g) {
  http_route h;
  h.meta = g.meta;
  h.parent_refs = g.parent_refs;
  h.hostnames = g.hostnames;
  for (const auto& r : g.rules) {
    auto& hr = h.rules.emplace_back();
    hr.filters = r.filters;
    hr.backend_refs = r.backend_refs;
  }
  return h;
}

bool make_grpc_match(const grpc_route_match& m, gateway_match& gm, std::string& field,
                     std::string& message) {
  gm.grpc = true;
  gm.method = "POST";
  gm.path_type = gw_path_type::path_prefix;
  gm.path = "/";
  if (m.method) {
    const auto& mm = *m.method;
    const bool regex = mm.type == gw_value_type::regular_expression;
    gm.grpc_service_chars = static_cast<std::uint32_t>(mm.service.value_or("").size());
    gm.grpc_method_chars = static_cast<std::uint32_t>(mm.method.value_or("").size());
    // Each regex alone first, so that an error names its field.
    for (const auto& [value, name] : {std::pair{&mm.service, ".method.service"}, std::pair{&mm.method, ".method.method"}}) {
      if (!regex || !*value) continue;
      re2::RE2 re(**value, re2::RE2::Quiet);
      if (!re.ok()) {
        field = name;
        message = "invalid regular expression: " + re.error();
        return false;
      }
    }
    const bool both_given = mm.service && !mm.service->empty() && mm.method && !mm.method->empty();
    if (!regex && both_given) {
      gm.path_type = gw_path_type::exact;
      gm.path = "/" + without_leading_dot(*mm.service) + "/" + *mm.method;
    } else {
      gm.path_type = gw_path_type::regular_expression;
      gm.path = "/" + segment_pattern(mm.service, regex) + "/" + segment_pattern(mm.method, regex);
      gm.path_regex = std::make_shared<const re2::RE2>(gm.path, re2::RE2::Quiet);
      if (!gm.path_regex->ok()) {
        field = ".method";
        message = "invalid regular expression: " + gm.path_regex->error();
        return false;
      }
    }
  }
  // Only the first entry of one name counts (GRPCHeaderMatch.Name).
  for (std::size_t h = 0; h < m.headers.size(); ++h) {
    const auto& v = m.headers[h];
    std::string name = v.name;
    for (char& c : name)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    gateway_value_matcher vm{std::move(name), v.value, nullptr};
    if (v.type == gw_value_type::regular_expression) {
      vm.regex = std::make_shared<const re2::RE2>(v.value, re2::RE2::Quiet);
      if (!vm.regex->ok()) {
        field = ".headers[" + std::to_string(h) + "].value";
        message = "invalid regular expression: " + vm.regex->error();
        return false;
      }
    }
    if (std::none_of(gm.headers.begin(), gm.headers.end(), [&](const auto& x) { return x.name == vm.name; }))
      gm.headers.push_back(std::move(vm));
  }
  return true;
}

std::string grpc_match_path_text(const grpc_route_match& m) {
  if (!m.method) return "/*/*";
  auto part = [](const std::optional<std::string>& v) {
    return v && !v->empty() ? without_leading_dot(*v) : std::string("*");
  };
  return "/" + part(m.method->service) + "/" + part(m.method->method);
}

const char* grpc_match_type_text(const grpc_route_match& m) {
  if (!m.method) return "Any";
  return m.method->type == gw_value_type::exact ? "Exact" : "RegularExpression";
}

bool route_hostnames_overlap(bool any_a, const std::vector<std::string>& a, bool any_b,
                             const std::vector<std::string>& b) {
  if (any_a || any_b) return (any_a || !a.empty()) && (any_b || !b.empty());
  for (const auto& x : a)
    for (const auto& y : b)
      if (x == y || hostname_covers(x, y) || hostname_covers(y, x)) return true;
  return false;
}

}  // namespace portico::config
