// Decoders of the Gateway API kinds (config/gateway_model.hpp) and of Namespace, written once
// over a node type N (config/decode_fields.hpp). Unlike the Ingress decoders, a field these
// kinds do not define is an error naming it: a misspelt "backendRef" must not silently route
// nowhere. Values are checked against the enums and bounds of apis/v1/*_types.go.
// Internal to config/: included only by decode_objects.hpp.
#pragma once

#include <algorithm>
#include <array>
#include <initializer_list>
#include <string>
#include <string_view>

#include "config/decode_fields.hpp"
#include "config/gateway_model.hpp"

namespace portico::config::detail {

// Every key of map `m` must be one of `known`.
template <class N>
void check_fields(decode_ctx& c, const N& m, const field_path& path,
                  std::initializer_list<std::string_view> known) {
  if (!m.is_map()) return;
  m.for_each([&](std::string_view k, const N& v) {
    if (std::find(known.begin(), known.end(), k) == known.end())
      c.fail(line_of(v, m), join(path, k), "unknown field");
  });
}

// A string field that must be one of `allowed`; returns its index, or -1 (absent or bad).
template <class N>
int get_enum(decode_ctx& c, const N& parent, std::string_view key, const field_path& path,
             std::initializer_list<std::string_view> allowed, bool required = false) {
  auto v = get_string(c, parent, key, path, required);
  if (!v) return -1;
  int i = 0;
  for (auto a : allowed) {
    if (*v == a) return i;
    ++i;
  }
  std::string list;
  for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  c.fail(parent.get(key).line(), join(path, key), "must be one of " + list + ", got \"" + *v + "\"");
  return -1;
}

template <class N>
std::optional<std::string> get_opt_string(decode_ctx& c, const N& parent, std::string_view key,
                                          const field_path& path) {
  return get_string(c, parent, key, path);
}

// A Gateway API Hostname (apis/v1/shared_types.go): lower-case DNS labels, optionally after
// one leading "*." wildcard label; no IP addresses, no port.
inline bool valid_gateway_hostname(std::string_view h) {
  if (h.starts_with("*.")) h.remove_prefix(2);
  if (h.empty() || h.size() > 253) return false;
  bool all_digits_or_dots = true;
  std::size_t label = 0;
  for (std::size_t i = 0; i <= h.size(); ++i) {
    if (i == h.size() || h[i] == '.') {
      if (label == 0 || h[i - 1] == '-' || h[i - label] == '-' || label > 63) return false;
      label = 0;
      continue;
    }
    const char c = h[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    if (c < '0' || c > '9') all_digits_or_dots = false;
    ++label;
  }
  return !all_digits_or_dots;  // an IPv4 address is not a hostname
}

template <class N>
void check_hostname(decode_ctx& c, const N& node, const field_path& path, const std::string& h) {
  if (!valid_gateway_hostname(h))
    c.fail(node.line(), path, "\"" + h + "\" is not a valid hostname (lower-case DNS name, optionally \"*.\" first; no IP address)");
}

template <class N>
void decode_object_reference(decode_ctx& c, const N& r, const field_path& path,
                             object_reference& out, std::string_view default_kind) {
  read_string(c, r, "group", path, out.group);
  out.kind = std::string(default_kind);
  read_string(c, r, "kind", path, out.kind);
  if (auto n = get_string(c, r, "name", path, true)) out.name = *n;
  out.namespace_name = get_string(c, r, "namespace", path);
}

template <class N>
void decode_label_selector(decode_ctx& c, const N& s, const field_path& path, label_selector& out) {
  check_fields(c, s, path, {"matchLabels", "matchExpressions"});
  read_string_map(c, s, "matchLabels", path, out.match_labels);
  for_each_item(c, s, "matchExpressions", path, [&](const N& e, const field_path& ep) {
    if (!item_is_map(c, e, ep)) return;
    check_fields(c, e, ep, {"key", "operator", "values"});
    label_selector_requirement req;
    if (auto k = get_string(c, e, "key", ep, true)) req.key = *k;
    const int op = get_enum(c, e, "operator", ep, {"In", "NotIn", "Exists", "DoesNotExist"}, true);
    if (op >= 0) req.op = std::array<const char*, 4>{"In", "NotIn", "Exists", "DoesNotExist"}[op];
    for_each_item(c, e, "values", ep, [&](const N& v, const field_path& vp) {
      if (auto s = v.as_string()) req.values.push_back(*s);
      else c.fail(v.line(), vp, "must be a string, got " + v.type_name());
    });
    out.match_expressions.push_back(std::move(req));
  });
}

template <class N>
void decode_allowed_routes(decode_ctx& c, const N& a, const field_path& path, allowed_routes& out) {
  check_fields(c, a, path, {"namespaces", "kinds"});
  if (auto ns = child_map(c, a, "namespaces", path)) {
    const field_path np = path + ".namespaces";
    check_fields(c, *ns, np, {"from", "selector"});
    const int from = get_enum(c, *ns, "from", np, {"Same", "All", "Selector"});
    if (from >= 0) out.from = static_cast<routes_from>(from);
    if (auto sel = child_map(c, *ns, "selector", np)) decode_label_selector(c, *sel, np + ".selector", out.selector);
    else if (out.from == routes_from::selector)
      c.fail(ns->line(), np + ".selector", "is required when from is Selector");
  }
  for_each_item(c, a, "kinds", path, [&](const N& k, const field_path& kp) {
    if (!item_is_map(c, k, kp)) return;
    check_fields(c, k, kp, {"group", "kind"});
    route_group_kind rgk;
    read_string(c, k, "group", kp, rgk.group);
    if (auto kind = get_string(c, k, "kind", kp, true)) rgk.kind = *kind;
    out.kinds.push_back(std::move(rgk));
  });
}

template <class N>
void decode_listener(decode_ctx& c, const N& l, const field_path& path, gateway_listener& out) {
  check_fields(c, l, path, {"name", "hostname", "port", "protocol", "tls", "allowedRoutes"});
  if (auto n = get_string(c, l, "name", path, true)) out.name = *n;
  out.hostname = get_string(c, l, "hostname", path);
  if (out.hostname) check_hostname(c, l.get("hostname"), path + ".hostname", *out.hostname);
  if (auto p = get_int32(c, l, "port", path, true)) {
    if (*p < 1 || *p > 65535) c.fail(l.get("port").line(), path + ".port", "must be 1-65535");
    out.port = *p;
  }
  if (auto p = get_string(c, l, "protocol", path, true)) out.protocol = *p;
  if (auto tls = child_map(c, l, "tls", path)) {
    const field_path tp = path + ".tls";
    check_fields(c, *tls, tp, {"mode", "certificateRefs", "options", "frontendValidation"});
    const int mode = get_enum(c, *tls, "mode", tp, {"Terminate", "Passthrough"});
    if (mode == 1) out.tls_mode = "Passthrough";
    for_each_item(c, *tls, "certificateRefs", tp, [&](const N& r, const field_path& rp) {
      if (!item_is_map(c, r, rp)) return;
      check_fields(c, r, rp, {"group", "kind", "name", "namespace"});
      decode_object_reference(c, r, rp, out.certificate_refs.emplace_back(), "Secret");
    });
  }
  if (auto a = child_map(c, l, "allowedRoutes", path)) decode_allowed_routes(c, *a, path + ".allowedRoutes", out.routes);
}

template <class N>
void decode_gateway(decode_ctx& c, const N& doc, gateway& out) {
  auto spec = child_map(c, doc, "spec", "", true);
  if (!spec) return;
  check_fields(c, *spec, "spec", {"gatewayClassName", "listeners", "addresses", "infrastructure",
                                  "backendTLS", "allowedListeners"});
  if (auto n = get_string(c, *spec, "gatewayClassName", "spec", true)) out.gateway_class_name = *n;
  for_each_item(c, *spec, "listeners", "spec", [&](const N& l, const field_path& lp) {
    if (item_is_map(c, l, lp)) decode_listener(c, l, lp, out.listeners.emplace_back());
  }, true);
  // Listener names are unique within a Gateway (apis/v1/gateway_types.go, listeners).
  for (std::size_t i = 0; i < out.listeners.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (out.listeners[i].name == out.listeners[j].name)
        c.fail(spec->line(), at_index("spec.listeners", i) + ".name",
               "\"" + out.listeners[i].name + "\" is the name of listener " + std::to_string(j));
}

template <class N>
void decode_gateway_class(decode_ctx& c, const N& doc, gateway_class& out) {
  auto spec = child_map(c, doc, "spec", "", true);
  if (!spec) return;
  check_fields(c, *spec, "spec", {"controllerName", "parametersRef", "description"});
  if (auto n = get_string(c, *spec, "controllerName", "spec", true)) out.controller_name = *n;
}

template <class N>
void decode_value_matches(decode_ctx& c, const N& m, std::string_view key, const field_path& path,
                          std::vector<http_value_match>& out) {
  for_each_item(c, m, key, path, [&](const N& h, const field_path& hp) {
    if (!item_is_map(c, h, hp)) return;
    check_fields(c, h, hp, {"type", "name", "value"});
    http_value_match v;
    const int t = get_enum(c, h, "type", hp, {"Exact", "RegularExpression"});
    if (t == 1) v.type = gw_value_type::regular_expression;
    if (auto n = get_string(c, h, "name", hp, true)) {
      if (n->empty()) c.fail(h.get("name").line(), hp + ".name", "must not be empty");
      v.name = *n;
    }
    if (auto val = get_string(c, h, "value", hp, true)) v.value = *val;
    out.push_back(std::move(v));
  });
}

template <class N>
void decode_route_match(decode_ctx& c, const N& m, const field_path& path, http_route_match& out) {
  check_fields(c, m, path, {"path", "headers", "queryParams", "method"});
  if (auto p = child_map(c, m, "path", path)) {
    const field_path pp = path + ".path";
    check_fields(c, *p, pp, {"type", "value"});
    const int t = get_enum(c, *p, "type", pp, {"Exact", "PathPrefix", "RegularExpression"});
    if (t >= 0) out.path.type = static_cast<gw_path_type>(t);
    read_string(c, *p, "value", pp, out.path.value);
    // Exact and PathPrefix values are absolute paths (apis/v1/httproute_types.go, HTTPPathMatch).
    if (out.path.type != gw_path_type::regular_expression && !out.path.value.starts_with("/"))
      c.fail(line_of(p->get("value"), *p), pp + ".value", "must start with '/'");
  }
  decode_value_matches(c, m, "headers", path, out.headers);
  decode_value_matches(c, m, "queryParams", path, out.query_params);
  const int method = get_enum(c, m, "method", path,
                              {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"});
  if (method >= 0) out.method = *m.get("method").as_string();
}

template <class N>
void decode_header_modifier(decode_ctx& c, const N& h, const field_path& path, header_modifier& out) {
  check_fields(c, h, path, {"set", "add", "remove"});
  for (const auto& field : {std::pair{"set", &out.set}, std::pair{"add", &out.add}}) {
    auto* list = field.second;  // a named variable: clang 14 cannot capture a structured binding
    const char* key = field.first;
    for_each_item(c, h, key, path, [&](const N& kv, const field_path& kp) {
      if (!item_is_map(c, kv, kp)) return;
      check_fields(c, kv, kp, {"name", "value"});
      std::string name, value;
      if (auto n = get_string(c, kv, "name", kp, true)) name = *n;
      if (auto v = get_string(c, kv, "value", kp, true)) value = *v;
      if (name.empty() || name.find_first_of(" \t\r\n:") != std::string::npos)
        c.fail(kv.line(), kp + ".name", "must be a header field name");
      if (value.find_first_of("\r\n") != std::string::npos)
        c.fail(kv.line(), kp + ".value", "must not contain CR or LF");
      list->emplace_back(std::move(name), std::move(value));
    });
  }
  for_each_item(c, h, "remove", path, [&](const N& n, const field_path& np) {
    if (auto s = n.as_string()) out.remove.push_back(*s);
    else c.fail(n.line(), np, "must be a string, got " + n.type_name());
  });
}

template <class N>
std::optional<path_modifier> decode_path_modifier(decode_ctx& c, const N& parent, const field_path& path) {
  auto p = child_map(c, parent, "path", path);
  if (!p) return std::nullopt;
  const field_path pp = path + ".path";
  check_fields(c, *p, pp, {"type", "replaceFullPath", "replacePrefixMatch"});
  path_modifier out;
  const int t = get_enum(c, *p, "type", pp, {"ReplaceFullPath", "ReplacePrefixMatch"}, true);
  if (t < 0) return std::nullopt;
  out.type = static_cast<path_modifier_type>(t);
  const char* key = t == 0 ? "replaceFullPath" : "replacePrefixMatch";
  if (auto v = get_string(c, *p, key, pp, true)) out.value = *v;
  // replacePrefixMatch may be empty (the matched prefix is removed: HTTPPathModifier).
  if (!out.value.starts_with("/") && !(t == 1 && out.value.empty()))
    c.fail(p->line(), join(pp, key), "must start with '/'");
  return out;
}

// HTTPRequestMirrorFilter: backendRef, and at most one of percent (0-100) and fraction
// (numerator <= denominator, denominator > 0; the CRD's rules).
template <class N>
void decode_mirror(decode_ctx& c, const N& m, const field_path& path, request_mirror_filter& out) {
  check_fields(c, m, path, {"backendRef", "percent", "fraction"});
  if (auto b = child_map(c, m, "backendRef", path, true)) {
    const field_path bp = path + ".backendRef";
    check_fields(c, *b, bp, {"group", "kind", "name", "namespace", "port"});
    decode_object_reference(c, *b, bp, out.ref, "Service");
    out.port = get_int32(c, *b, "port", bp);
    if (out.port && (*out.port < 1 || *out.port > 65535)) c.fail(b->line(), bp + ".port", "must be 1-65535");
  }
  out.percent = get_int32(c, m, "percent", path);
  if (out.percent && (*out.percent < 0 || *out.percent > 100))
    c.fail(m.get("percent").line(), path + ".percent", "must be 0-100");
  if (auto f = child_map(c, m, "fraction", path)) {
    const field_path fp = path + ".fraction";
    check_fields(c, *f, fp, {"numerator", "denominator"});
    gw_fraction fr;
    if (auto n = get_int32(c, *f, "numerator", fp, true)) fr.numerator = *n;
    if (auto d = get_int32(c, *f, "denominator", fp)) fr.denominator = *d;
    if (fr.numerator < 0) c.fail(f->line(), fp + ".numerator", "must not be negative");
    if (fr.denominator < 1) c.fail(f->line(), fp + ".denominator", "must be at least 1");
    else if (fr.numerator > fr.denominator)
      c.fail(f->line(), fp, "numerator must be less than or equal to denominator");
    out.fraction = fr;
    if (out.percent) c.fail(f->line(), path, "only one of percent and fraction may be set");
  }
}

// A Gateway API Duration (GEP-2257): ^([0-9]{1,5}(h|m|s|ms)){1,4}$, e.g. "1h", "2m30s",
// "500ms", "0s". Into milliseconds; false when the text is not one.
inline bool parse_gateway_duration(std::string_view s, std::int64_t& ms) {
  ms = 0;
  int pairs = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t j = i;
    std::int64_t n = 0;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9' && j - i < 6) n = n * 10 + (s[j++] - '0');
    if (j == i || j - i > 5 || j == s.size()) return false;
    std::int64_t unit = 0;
    if (s.substr(j, 2) == "ms") unit = 1, j += 2;
    else if (s[j] == 'h') unit = 3600000, ++j;
    else if (s[j] == 'm') unit = 60000, ++j;
    else if (s[j] == 's') unit = 1000, ++j;
    else return false;
    ms += n * unit;
    if (++pairs > 4) return false;
    i = j;
  }
  return pairs > 0;
}

// HTTPRouteTimeouts: request and backendRequest; backendRequest may not be longer than a
// non-zero request (the CRD's rule).
template <class N>
void decode_timeouts(decode_ctx& c, const N& t, const field_path& path, http_route_rule& out) {
  check_fields(c, t, path, {"request", "backendRequest"});
  auto read = [&](std::string_view key, std::optional<std::int64_t>& into) {
    auto v = get_string(c, t, key, path);
    if (!v) return;
    std::int64_t ms = 0;
    if (parse_gateway_duration(*v, ms)) into = ms;
    else c.fail(t.get(key).line(), join(path, key),
                "\"" + *v + "\" is not a Gateway API duration (e.g. \"10s\", \"1m30s\", \"500ms\", \"0s\")");
  };
  read("request", out.request_timeout_ms);
  read("backendRequest", out.backend_request_timeout_ms);
  if (out.request_timeout_ms && out.backend_request_timeout_ms && *out.request_timeout_ms != 0 &&
      *out.backend_request_timeout_ms > *out.request_timeout_ms)
    c.fail(t.get("backendRequest").line(), path + ".backendRequest",
           "backendRequest timeout cannot be longer than request timeout");
}

template <class N>
void decode_filter(decode_ctx& c, const N& f, const field_path& path, http_route_filter& out) {
  check_fields(c, f, path, {"type", "requestHeaderModifier", "responseHeaderModifier",
                            "requestRedirect", "urlRewrite", "requestMirror", "extensionRef", "cors"});
  static constexpr std::array<std::string_view, 7> types{
      "RequestHeaderModifier", "ResponseHeaderModifier", "RequestRedirect", "URLRewrite",
      "RequestMirror", "ExtensionRef", "CORS"};
  static constexpr std::array<std::string_view, 7> fields{
      "requestHeaderModifier", "responseHeaderModifier", "requestRedirect", "urlRewrite",
      "requestMirror", "extensionRef", "cors"};
  const int t = get_enum(c, f, "type", path, {types[0], types[1], types[2], types[3], types[4], types[5], types[6]}, true);
  if (t < 0) return;
  out.type = static_cast<http_filter_type>(t);
  out.type_name = std::string(types[t]);
  // The field named after the type is required, the others forbidden (the CRD's CEL rules).
  for (int i = 0; i < 7; ++i) {
    const bool present = !f.get(fields[i]).absent();
    if (i == t && !present) c.fail(f.line(), join(path, fields[i]), "is required for type " + out.type_name);
    if (i != t && present) c.fail(f.get(fields[i]).line(), join(path, fields[i]), "is not allowed for type " + out.type_name);
  }
  const field_path fp = join(path, fields[t]);
  auto body = child_map(c, f, fields[t], path);
  if (!body) return;
  if (out.type == http_filter_type::request_header_modifier || out.type == http_filter_type::response_header_modifier) {
    decode_header_modifier(c, *body, fp, out.headers);
  } else if (out.type == http_filter_type::request_redirect) {
    check_fields(c, *body, fp, {"scheme", "hostname", "path", "port", "statusCode"});
    auto& r = out.redirect;
    const int s = get_enum(c, *body, "scheme", fp, {"http", "https"});
    if (s >= 0) r.scheme = s == 0 ? "http" : "https";
    r.hostname = get_string(c, *body, "hostname", fp);
    r.path = decode_path_modifier(c, *body, fp);
    r.port = get_int32(c, *body, "port", fp);
    if (r.port && (*r.port < 1 || *r.port > 65535)) c.fail(body->line(), fp + ".port", "must be 1-65535");
    if (auto code = get_int32(c, *body, "statusCode", fp)) {
      // 301 and 302 are Core, 303, 307 and 308 Extended (apis/v1/httproute_types.go).
      if (*code != 301 && *code != 302 && *code != 303 && *code != 307 && *code != 308)
        c.fail(body->get("statusCode").line(), fp + ".statusCode", "must be 301, 302, 303, 307 or 308");
      r.status_code = *code;
    }
  } else if (out.type == http_filter_type::url_rewrite) {
    check_fields(c, *body, fp, {"hostname", "path"});
    out.rewrite.hostname = get_string(c, *body, "hostname", fp);
    out.rewrite.path = decode_path_modifier(c, *body, fp);
  } else if (out.type == http_filter_type::request_mirror) {
    decode_mirror(c, *body, fp, out.mirror);
  }
}

template <class N>
void decode_backend_ref(decode_ctx& c, const N& b, const field_path& path, http_backend_ref& out) {
  check_fields(c, b, path, {"group", "kind", "name", "namespace", "port", "weight", "filters"});
  decode_object_reference(c, b, path, out.ref, "Service");
  out.port = get_int32(c, b, "port", path);
  if (out.port && (*out.port < 1 || *out.port > 65535)) c.fail(b.line(), path + ".port", "must be 1-65535");
  if (auto w = get_int32(c, b, "weight", path)) {
    if (*w < 0 || *w > 1000000) c.fail(b.get("weight").line(), path + ".weight", "must be 0-1000000");
    out.weight = *w;
  }
  for_each_item(c, b, "filters", path, [&](const N& f, const field_path& fp) {
    if (item_is_map(c, f, fp)) decode_filter(c, f, fp, out.filters.emplace_back());
  });
}

template <class N>
void decode_route_rule(decode_ctx& c, const N& r, const field_path& path, http_route_rule& out) {
  check_fields(c, r, path, {"name", "matches", "filters", "backendRefs", "timeouts", "retry", "sessionPersistence"});
  for_each_item(c, r, "matches", path, [&](const N& m, const field_path& mp) {
    if (item_is_map(c, m, mp)) decode_route_match(c, m, mp, out.matches.emplace_back());
  });
  for_each_item(c, r, "filters", path, [&](const N& f, const field_path& fp) {
    if (item_is_map(c, f, fp)) decode_filter(c, f, fp, out.filters.emplace_back());
  });
  for_each_item(c, r, "backendRefs", path, [&](const N& b, const field_path& bp) {
    if (item_is_map(c, b, bp)) decode_backend_ref(c, b, bp, out.backend_refs.emplace_back());
  });
  if (auto t = child_map(c, r, "timeouts", path)) decode_timeouts(c, *t, path + ".timeouts", out);
}

// CommonRouteSpec.parentRefs and the hostnames of an HTTPRoute or GRPCRoute spec.
template <class N>
void decode_route_common(decode_ctx& c, const N& spec, std::vector<parent_reference>& parents,
                         std::vector<std::string>& hostnames) {
  for_each_item(c, spec, "parentRefs", "spec", [&](const N& p, const field_path& pp) {
    if (!item_is_map(c, p, pp)) return;
    check_fields(c, p, pp, {"group", "kind", "namespace", "name", "sectionName", "port"});
    parent_reference ref;
    read_string(c, p, "group", pp, ref.group);
    read_string(c, p, "kind", pp, ref.kind);
    ref.namespace_name = get_string(c, p, "namespace", pp);
    if (auto n = get_string(c, p, "name", pp, true)) ref.name = *n;
    ref.section_name = get_string(c, p, "sectionName", pp);
    ref.port = get_int32(c, p, "port", pp);
    parents.push_back(std::move(ref));
  });
  for_each_item(c, spec, "hostnames", "spec", [&](const N& h, const field_path& hp) {
    if (auto s = h.as_string()) {
      check_hostname(c, h, hp, *s);
      hostnames.push_back(*s);
    } else {
      c.fail(h.line(), hp, "must be a string, got " + h.type_name());
    }
  });
}

template <class N>
void decode_http_route(decode_ctx& c, const N& doc, http_route& out) {
  auto spec = child_map(c, doc, "spec", "", true);
  if (!spec) return;
  check_fields(c, *spec, "spec", {"parentRefs", "hostnames", "rules"});
  decode_route_common(c, *spec, out.parent_refs, out.hostnames);
  for_each_item(c, *spec, "rules", "spec", [&](const N& r, const field_path& rp) {
    if (item_is_map(c, r, rp)) decode_route_rule(c, r, rp, out.rules.emplace_back());
  });
  if (out.rules.empty()) out.rules.emplace_back();  // spec default: one rule, PathPrefix "/"
}

// GRPCMethodMatch: Exact names must be valid proto names (the CRD's CEL rules: service
// ^(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$, method ^[A-Za-z_][A-Za-z_0-9]*$), and at
// least one of service and method is required (the CRD's rule applies when type is set, and
// type defaults to Exact).
inline bool grpc_ident_char(char ch, bool first) {
  const bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
  return first ? alpha : alpha || (ch >= '0' && ch <= '9');
}

inline bool valid_grpc_service(std::string_view s) {
  if (s.starts_with('.')) s.remove_prefix(1);
  bool first = true;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '.' && !first) {
      first = true;
      continue;
    }
    if (!grpc_ident_char(s[i], first)) return false;
    first = false;
  }
  return !s.empty() && !first;
}

inline bool valid_grpc_method(std::string_view m) {
  for (std::size_t i = 0; i < m.size(); ++i)
    if (!grpc_ident_char(m[i], i == 0)) return false;
  return !m.empty();
}

template <class N>
void decode_grpc_method_match(decode_ctx& c, const N& m, const field_path& path, grpc_method_match& out) {
  check_fields(c, m, path, {"type", "service", "method"});
  const int t = get_enum(c, m, "type", path, {"Exact", "RegularExpression"});
  if (t == 1) out.type = gw_value_type::regular_expression;
  out.service = get_string(c, m, "service", path);
  out.method = get_string(c, m, "method", path);
  for (auto [key, value] : {std::pair{"service", &out.service}, std::pair{"method", &out.method}}) {
    if (!*value) continue;
    if ((*value)->size() > 1024) c.fail(m.get(key).line(), join(path, key), "must be at most 1024 characters");
    if (out.type != gw_value_type::exact) continue;
    const bool ok = std::string_view(key) == "service" ? valid_grpc_service(**value) : valid_grpc_method(**value);
    if (!ok)
      c.fail(m.get(key).line(), join(path, key),
             "\"" + **value + "\" is not a valid gRPC " + key +
                 (std::string_view(key) == "service" ? " name (e.g. \"helloworld.Greeter\")" : " name (e.g. \"SayHello\")"));
  }
  if (!out.service && !out.method)
    c.fail(m.line(), path, "one or both of service and method must be specified");
}

template <class N>
void decode_grpc_route_rule(decode_ctx& c, const N& r, const field_path& path, grpc_route_rule& out) {
  check_fields(c, r, path, {"name", "matches", "filters", "backendRefs", "sessionPersistence"});
  for_each_item(c, r, "matches", path, [&](const N& m, const field_path& mp) {
    if (!item_is_map(c, m, mp)) return;
    check_fields(c, m, mp, {"method", "headers"});
    auto& match = out.matches.emplace_back();
    if (auto mm = child_map(c, m, "method", mp)) decode_grpc_method_match(c, *mm, mp + ".method", match.method.emplace());
    decode_value_matches(c, m, "headers", mp, match.headers);
  });
  for_each_item(c, r, "filters", path, [&](const N& f, const field_path& fp) {
    if (!item_is_map(c, f, fp)) return;
    // GRPCRouteFilter: the HTTPRoute filter types without RequestRedirect, URLRewrite, CORS.
    auto type = f.get("type").as_string();
    if (type && (*type == "RequestRedirect" || *type == "URLRewrite" || *type == "CORS")) {
      c.fail(f.get("type").line(), fp + ".type",
             "must be one of RequestHeaderModifier, ResponseHeaderModifier, RequestMirror, ExtensionRef, got \"" + *type + "\"");
      return;
    }
    decode_filter(c, f, fp, out.filters.emplace_back());
  });
  for_each_item(c, r, "backendRefs", path, [&](const N& b, const field_path& bp) {
    if (item_is_map(c, b, bp)) decode_backend_ref(c, b, bp, out.backend_refs.emplace_back());
  });
}

template <class N>
void decode_grpc_route(decode_ctx& c, const N& doc, grpc_route& out) {
  auto spec = child_map(c, doc, "spec", "", true);
  if (!spec) return;
  check_fields(c, *spec, "spec", {"parentRefs", "hostnames", "rules"});
  decode_route_common(c, *spec, out.parent_refs, out.hostnames);
  for_each_item(c, *spec, "rules", "spec", [&](const N& r, const field_path& rp) {
    if (item_is_map(c, r, rp)) decode_grpc_route_rule(c, r, rp, out.rules.emplace_back());
  });
}

template <class N>
void decode_reference_grant(decode_ctx& c, const N& doc, reference_grant& out) {
  auto spec = child_map(c, doc, "spec", "", true);
  if (!spec) return;
  check_fields(c, *spec, "spec", {"from", "to"});
  for_each_item(c, *spec, "from", "spec", [&](const N& f, const field_path& fp) {
    if (!item_is_map(c, f, fp)) return;
    check_fields(c, f, fp, {"group", "kind", "namespace"});
    reference_grant_from from;
    if (auto g = get_string(c, f, "group", fp, true)) from.group = *g;
    if (auto k = get_string(c, f, "kind", fp, true)) from.kind = *k;
    if (auto n = get_string(c, f, "namespace", fp, true)) from.namespace_name = *n;
    out.from.push_back(std::move(from));
  }, true);
  for_each_item(c, *spec, "to", "spec", [&](const N& t, const field_path& tp) {
    if (!item_is_map(c, t, tp)) return;
    check_fields(c, t, tp, {"group", "kind", "name"});
    reference_grant_to to;
    if (auto g = get_string(c, t, "group", tp, true)) to.group = *g;
    if (auto k = get_string(c, t, "kind", tp, true)) to.kind = *k;
    to.name = get_string(c, t, "name", tp);
    out.to.push_back(std::move(to));
  }, true);
}

// apiVersion: v1 for every kind; v1beta1 too (ReferenceGrant is v1beta1 in the standard
// channel, and older manifests of the other kinds still say v1beta1).
template <class N>
bool gateway_api_version(decode_ctx& c, const N& doc) {
  auto api = doc.get("apiVersion").as_string();
  if (!api || *api == "gateway.networking.k8s.io/v1" || *api == "gateway.networking.k8s.io/v1beta1")
    return true;
  c.fail(doc.get("apiVersion").line(), "apiVersion",
         *api + " is not supported, use gateway.networking.k8s.io/v1");
  return false;
}

}  // namespace portico::config::detail
