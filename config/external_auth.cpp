#include "config/external_auth.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "config/controller_config.hpp"
#include "config/fnv.hpp"
#include "config/request_template.hpp"
#include "config/tls_annotations.hpp"

namespace portico::config {

namespace {

bool iequal_prefix(std::string_view s, std::string_view p) {
  if (s.size() < p.size()) return false;
  for (std::size_t i = 0; i < p.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != p[i]) return false;
  return true;
}

bool valid_dns_name(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  std::size_t start = 0;
  while (start <= h.size()) {
    const auto dot = h.find('.', start);
    const auto label = h.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63) return false;
    for (char c : label)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

bool valid_ipv6_text(std::string_view h) {
  if (h.empty()) return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
  });
}

// The text of `t` with every variable replaced by a sample value: enough to check the shape
// of a URL whose parts come from the request.
std::string sample(const request_template& t) {
  std::string out;
  for (const auto& p : t) out.append(p.k == hash_part::kind::literal ? p.text : std::string("x"));
  return out;
}

bool method_token(std::string_view m) {
  static constexpr std::string_view methods[] = {"GET",    "HEAD",    "POST",    "PUT",  "PATCH",
                                                 "DELETE", "CONNECT", "OPTIONS", "TRACE"};
  return std::find(std::begin(methods), std::end(methods), m) != std::end(methods);
}

std::optional<std::chrono::milliseconds> nginx_cache_time(std::string_view w) {
  std::uint64_t n = 0;
  auto r = std::from_chars(w.data(), w.data() + w.size(), n);
  if (r.ec != std::errc{} || r.ptr == w.data()) return std::nullopt;
  const std::string_view unit(r.ptr, static_cast<std::size_t>(w.data() + w.size() - r.ptr));
  std::uint64_t ms = 0;
  if (unit == "ms") ms = 1;
  else if (unit == "s" || unit.empty()) ms = 1000;
  else if (unit == "m") ms = 60'000;
  else if (unit == "h") ms = 3'600'000;
  else if (unit == "d") ms = 86'400'000;
  else if (unit == "w") ms = 7 * 86'400'000ULL;
  else if (unit == "M") ms = 30 * 86'400'000ULL;
  else if (unit == "y") ms = 365 * 86'400'000ULL;
  else return std::nullopt;
  return std::chrono::milliseconds(n * ms);
}

}  // namespace

bool valid_auth_header_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

std::optional<auth_url> split_auth_url(std::string_view url, std::string& why) {
  auth_url u;
  if (iequal_prefix(url, "https://")) {
    u.https = true;
    u.port = 443;
    url.remove_prefix(8);
  } else if (iequal_prefix(url, "http://")) {
    url.remove_prefix(7);
  } else {
    why = "must be an http:// or https:// URL";
    return std::nullopt;
  }
  const auto end = url.find_first_of("/?#");
  std::string_view authority = url.substr(0, end);
  std::string_view rest = end == std::string_view::npos ? std::string_view{} : url.substr(end);
  if (const auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  if (authority.find('@') != std::string_view::npos) {
    why = "user information in the URL is not supported";
    return std::nullopt;
  }
  std::string_view host = authority, port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      why = "invalid url host";
      return std::nullopt;
    }
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        why = "invalid url host";
        return std::nullopt;
      }
      port = after.substr(1);
    }
    if (!valid_ipv6_text(host)) {
      why = "invalid url host";
      return std::nullopt;
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) port = u.https ? "443" : "80";
  }
  if (host.empty() || (authority.front() != '[' && !valid_dns_name(host))) {
    why = "invalid url host";
    return std::nullopt;
  }
  if (!port.empty()) {
    unsigned n = 0;
    auto r = std::from_chars(port.data(), port.data() + port.size(), n);
    if (r.ec != std::errc{} || r.ptr != port.data() + port.size() || n == 0 || n > 65535) {
      why = "invalid port \"" + std::string(port) + "\"";
      return std::nullopt;
    }
    u.port = static_cast<std::uint16_t>(n);
  }
  u.host = std::string(host);
  for (auto& c : u.host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  u.host_header = authority.front() == '[' ? "[" + u.host + "]" : u.host;
  if (!rest.empty() && rest.front() == '?') u.target = "/" + std::string(rest);
  else u.target = std::string(rest);
  return u;
}

std::optional<std::vector<auth_cache_rule>> parse_auth_cache_durations(std::string_view v) {
  std::vector<auth_cache_rule> rules;
  std::size_t start = 0;
  while (start <= v.size()) {
    const auto comma = v.find(',', start);
    std::string_view item =
        trim_value(v.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    start = comma == std::string_view::npos ? v.size() + 1 : comma + 1;
    if (item.empty()) continue;
    auth_cache_rule rule;
    bool have_time = false;
    while (!item.empty()) {
      const auto sp = item.find_first_of(" \t");
      const std::string_view w = item.substr(0, sp);
      item = sp == std::string_view::npos ? std::string_view{} : trim_value(item.substr(sp));
      if (have_time) return std::nullopt;  // a status after the time, or two times
      if (w == "any") {
        rule.any = true;
      } else if (w.size() == 3 && std::all_of(w.begin(), w.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        const auto code = static_cast<std::uint16_t>((w[0] - '0') * 100 + (w[1] - '0') * 10 + (w[2] - '0'));
        if (code < 100 || code > 599) return std::nullopt;
        rule.codes.push_back(code);
      } else if (auto t = nginx_cache_time(w)) {
        rule.ttl = *t;
        have_time = true;
      } else {
        return std::nullopt;
      }
    }
    if (!have_time) return std::nullopt;
    if (rule.codes.empty() && !rule.any) rule.codes = {200, 301, 302};
    rules.push_back(std::move(rule));
  }
  return rules;
}

std::shared_ptr<external_auth> make_external_auth(const external_auth_fields& f,
                                                  std::vector<auth_problem>& problems) {
  auto problem = [&](std::string key, std::string message, bool deny) {
    problems.push_back({std::move(key), std::move(message), deny});
  };
  if (!f.url) return nullptr;
  auto a = std::make_shared<external_auth>();
  const std::string_view url = trim_value(*f.url);
  a->url = std::string(url);
  {
    std::string why;
    auto t = parse_request_template(url, why);
    if (!why.empty()) {
      problem("auth-url", "could not parse auth-url annotation: " + why, true);
      return nullptr;
    }
    auto parts = split_auth_url(sample(t), why);
    if (!parts) {
      problem("auth-url", "could not parse auth-url annotation: " + why, true);
      return nullptr;
    }
    if (has_variables(t)) a->url_template = std::move(t);
    else a->fixed = std::move(*parts);
  }
  if (f.method) {
    const auto m = trim_value(*f.method);
    if (!m.empty() && !method_token(m)) {
      problem("auth-method", "invalid HTTP method \"" + std::string(m) + "\"", true);
      return nullptr;
    }
    a->method = std::string(m);
  }
  if (f.response_headers) {
    std::string_view v = *f.response_headers;
    std::size_t start = 0;
    while (start <= v.size()) {
      const auto comma = v.find(',', start);
      const auto h = trim_value(v.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
      start = comma == std::string_view::npos ? v.size() + 1 : comma + 1;
      if (h.empty()) continue;
      if (!valid_auth_header_name(h)) {
        problem("auth-response-headers", "invalid headers list: \"" + std::string(h) + "\" is not a header name", true);
        return nullptr;
      }
      a->response_headers.emplace_back(h);
    }
  }
  if (f.request_redirect && !trim_value(*f.request_redirect).empty()) {
    std::string why;
    auto t = parse_request_template(trim_value(*f.request_redirect), why);
    if (!why.empty()) {
      problem("auth-request-redirect", why, true);
      return nullptr;
    }
    a->request_redirect = std::move(t);
  }
  if (f.cache_duration) {
    auto rules = parse_auth_cache_durations(*f.cache_duration);
    if (!rules) {
      problem("auth-cache-duration", "invalid cache duration \"" + *f.cache_duration +
                                         "\" (statuses then one time, such as \"200 202 401 5m\")", true);
      return nullptr;
    }
    a->cache_rules = std::move(*rules);
  }
  if (a->cache_rules.empty()) a->cache_rules = *parse_auth_cache_durations("200 202 401 5m");
  std::string param = "rd";
  if (f.signin_redirect_param) {
    const auto p = trim_value(*f.signin_redirect_param);
    if (!p.empty() && std::all_of(p.begin(), p.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '~';
        }))
      param = std::string(p);
    else if (!p.empty())
      problem("auth-signin-redirect-param", "must be a query parameter name, got \"" + std::string(p) + "\"; \"rd\" applies", false);
  }
  if (f.signin && !trim_value(*f.signin).empty()) {
    const std::string s(trim_value(*f.signin));
    // ingress-nginx's buildAuthSignURL: the original URL is added as `param` unless the
    // sign-in URL names it already.
    std::string full = s;
    const auto q = s.find('?');
    const std::string_view query = q == std::string::npos ? std::string_view{} : std::string_view(s).substr(q + 1);
    bool named = false;
    std::size_t at = 0;
    while (at <= query.size() && !query.empty()) {
      const auto amp = query.find('&', at);
      const auto kv = query.substr(at, amp == std::string_view::npos ? std::string_view::npos : amp - at);
      const auto eq = kv.find('=');
      if (kv.substr(0, eq) == param && eq != std::string_view::npos && eq + 1 < kv.size()) named = true;
      if (amp == std::string_view::npos) break;
      at = amp + 1;
    }
    if (!named) {
      full.append(query.empty() ? "?" : "&").append(param).append(
          "=$pass_access_scheme://$http_host$escaped_request_uri");
    }
    std::string why;
    auto t = parse_request_template(full, why);
    if (why.empty() && !split_auth_url(sample(t), why)) why = why.empty() ? "not an URL" : why;
    if (why.empty()) {
      a->signin = std::move(t);
      a->signin_text = s;
    } else {
      problem("auth-signin", "must be an http(s) URL (nginx variables allowed): " + why + "; ignored", false);
    }
  }
  if (f.cache_key && !trim_value(*f.cache_key).empty()) {
    std::string why;
    auto t = parse_request_template(trim_value(*f.cache_key), why);
    if (why.empty()) a->cache_key = std::move(t);
    else problem("auth-cache-key", why + "; responses are not cached", false);
  }
  if (f.always_set_cookie) {
    if (auto b = parse_bool_text(trim_value(*f.always_set_cookie))) a->always_set_cookie = *b;
    else problem("auth-always-set-cookie", "must be \"true\" or \"false\", got \"" + *f.always_set_cookie + "\"; false applies", false);
  }
  auto integer = [&](const std::optional<std::string>& v, const char* key, long long& out) {
    if (!v) return;
    const auto t = trim_value(*v);
    long long n = 0;
    const bool neg = !t.empty() && t.front() == '-';
    const auto digits = neg ? t.substr(1) : t;
    auto r = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (digits.empty() || r.ec != std::errc{} || r.ptr != digits.data() + digits.size() || n > 1000000) {
      problem(key, "must be a whole number, got \"" + *v + "\"; the default applies", false);
      return;
    }
    out = neg ? -n : n;
  };
  long long keepalive = 0, requests = 1000, timeout = 60;
  integer(f.keepalive, "auth-keepalive", keepalive);
  integer(f.keepalive_requests, "auth-keepalive-requests", requests);
  integer(f.keepalive_timeout, "auth-keepalive-timeout", timeout);
  if (keepalive > 0 && !a->url_template.empty()) {
    problem("auth-keepalive", "auth-url has variables in it: no connections are kept (as in ingress-nginx)", false);
    keepalive = 0;
  }
  if (keepalive > 0 && (requests <= 0 || timeout <= 0)) {
    problem(requests <= 0 ? "auth-keepalive-requests" : "auth-keepalive-timeout",
            "must be greater than zero: no connections are kept", false);
    keepalive = 0;
  }
  a->keepalive = keepalive > 0 ? static_cast<unsigned>(keepalive) : 0;
  a->keepalive_requests = requests > 0 ? static_cast<unsigned>(requests) : 1000;
  a->keepalive_timeout = std::chrono::milliseconds((timeout > 0 ? timeout : 60) * 1000);
  fnv1a h;
  h.add(a->url).add(a->method).add(a->signin_text).add(param).add(a->always_set_cookie ? 1 : 0);
  for (const auto& r : a->response_headers) h.add(r);
  if (f.request_redirect) h.add(*f.request_redirect);
  if (f.cache_key) h.add(*f.cache_key);
  if (f.cache_duration) h.add(*f.cache_duration);
  h.add(a->keepalive).add(a->keepalive_requests).add(static_cast<std::uint64_t>(timeout));
  a->id = h.value();
  return a;
}

}  // namespace portico::config
