#include "proxy/external_auth.hpp"

#include <algorithm>
#include <charconv>

#include "proxy/ascii.hpp"

namespace portico::proxy {

namespace {

using F = http_field;

void field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

// The client's fields the subrequest never carries as received.
bool dropped(const header_field& f, const config::external_auth& a, const auth_request_inputs& in) {
  if (is_hop_by_hop(f) || f.name == F::expect || f.name == F::host) return true;
  const std::string_view n = f.name_text;
  if (!in.allow_underscores && n.find('_') != std::string_view::npos) return true;
  if (in.head->conn.names(n)) return true;
  static constexpr std::string_view set_here[] = {
      "x-forwarded-proto", "x-request-id", "x-original-url",          "x-original-method",
      "x-sent-from",       "x-real-ip",    "x-forwarded-for",         "x-auth-request-redirect"};
  for (auto s : set_here)
    if (ascii::iequals(n, s)) return true;
  if (!a.method.empty() && (ascii::iequals(n, "x-original-uri") || ascii::iequals(n, "x-scheme")))
    return true;
  if (in.cert_headers != nullptr)
    for (const auto& [name, value] : *in.cert_headers)
      if (ascii::iequals(n, name)) return true;
  for (const auto& [name, value] : a.proxy_set_headers)
    if (ascii::iequals(n, name)) return true;
  return false;
}

}  // namespace

auth_verdict verdict_of(unsigned status) {
  if (status >= 200 && status < 300) return auth_verdict::allow;
  if (status == 401) return auth_verdict::deny_401;
  if (status == 403) return auth_verdict::deny_403;
  return auth_verdict::error;
}

bool cookie_status(unsigned s) {
  switch (s) {
    case 200: case 201: case 204: case 206: case 301: case 302: case 303: case 304: case 307:
    case 308:
      return true;
    default: return false;
  }
}

void write_auth_request(std::string& out, const config::external_auth& a, std::string_view target,
                        std::string_view host_header, std::string_view redirect,
                        const auth_request_inputs& in, bool keep_alive) {
  out.append(a.method.empty() ? std::string_view("GET") : std::string_view(a.method));
  out.append(" ").append(target).append(" HTTP/1.1\r\n");
  for (const auto& f : in.head->fields)
    if (!dropped(f, a, in)) field(out, f.name_text, f.value);
  field(out, "Host", host_header);
  out.append("X-Original-URL: ").append(in.scheme).append("://").append(in.http_host)
      .append(in.request_uri).append("\r\n");
  field(out, "X-Original-Method", in.method);
  field(out, "X-Sent-From", "nginx-ingress-controller");
  if (!in.remote_addr.empty()) field(out, "X-Real-IP", in.remote_addr);
  if (!in.forwarded_for.empty()) field(out, "X-Forwarded-For", in.forwarded_for);
  if (!redirect.empty()) field(out, "X-Auth-Request-Redirect", redirect);
  if (!in.request_id.empty()) field(out, "X-Request-ID", in.request_id);
  if (!a.method.empty()) {
    field(out, "X-Original-URI", in.request_uri);
    field(out, "X-Scheme", in.pass_scheme);
  }
  if (in.cert_headers != nullptr)
    for (const auto& [name, value] : *in.cert_headers)
      if (!value.empty()) field(out, name, value);
  for (const auto& [name, value] : a.proxy_set_headers)
    if (!value.empty()) field(out, name, value);
  if (!keep_alive) out.append("Connection: close\r\n");
  out.append("\r\n");
}

std::string auth_location_uri(std::string_view route_path, std::string_view path_type) {
  static constexpr char b64[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out = "/_external-auth-";
  const auto* p = reinterpret_cast<const unsigned char*>(route_path.data());
  const std::size_t n = route_path.size();
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const unsigned v = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
    out += b64[(v >> 18) & 63];
    out += b64[(v >> 12) & 63];
    out += b64[(v >> 6) & 63];
    out += b64[v & 63];
  }
  if (n - i == 1) {
    const unsigned v = p[i] << 16;
    out += b64[(v >> 18) & 63];
    out += b64[(v >> 12) & 63];
  } else if (n - i == 2) {
    const unsigned v = (p[i] << 16) | (p[i + 1] << 8);
    out += b64[(v >> 18) & 63];
    out += b64[(v >> 12) & 63];
    out += b64[(v >> 6) & 63];
  }
  out.append("-").append(path_type.empty() ? std::string_view("default") : path_type);
  return out;
}

void take_auth_answer(const config::external_auth& a, const message_head& answer, unsigned status,
                      auth_answer& out) {
  out.status = status;
  out.upstream_headers.clear();
  out.cookies.clear();
  out.www_authenticate.clear();
  for (const auto& f : answer.fields) {
    if (f.name == F::set_cookie) out.cookies.emplace_back(f.value);
    else if (f.name == F::www_authenticate)
      out.www_authenticate.append("WWW-Authenticate: ").append(f.value).append("\r\n");
  }
  if (verdict_of(status) != auth_verdict::allow) return;
  for (const auto& name : a.response_headers) {
    std::string value;
    for (const auto& f : answer.fields) {
      if (!ascii::iequals(f.name_text, name)) continue;
      if (!value.empty()) value.append(", ");
      value.append(f.value);
    }
    out.upstream_headers.emplace_back(name, std::move(value));
  }
}

std::chrono::milliseconds cache_time(const config::external_auth& a, const message_head& answer,
                                     unsigned status) {
  using std::chrono::milliseconds;
  milliseconds ttl{0};
  for (const auto& r : a.cache_rules) {
    if (r.any || std::find(r.codes.begin(), r.codes.end(), status) != r.codes.end()) {
      ttl = r.ttl;
      break;
    }
  }
  if (ttl.count() == 0) return ttl;
  for (const auto& f : answer.fields) {
    if (f.name == F::set_cookie) return milliseconds(0);
    if (f.name != F::cache_control) continue;
    std::string_view v = f.value;
    while (!v.empty()) {
      const auto comma = v.find(',');
      std::string_view d = v.substr(0, comma);
      v = comma == std::string_view::npos ? std::string_view{} : v.substr(comma + 1);
      while (!d.empty() && (d.front() == ' ' || d.front() == '\t')) d.remove_prefix(1);
      while (!d.empty() && (d.back() == ' ' || d.back() == '\t')) d.remove_suffix(1);
      if (ascii::iequals(d, "no-cache") || ascii::iequals(d, "no-store") ||
          ascii::iequals(d, "private"))
        return milliseconds(0);
      if (d.size() > 8 && ascii::iequals(d.substr(0, 8), "max-age=")) {
        std::uint64_t n = 0;
        const auto num = d.substr(8);
        auto r = std::from_chars(num.data(), num.data() + num.size(), n);
        if (r.ec == std::errc{}) ttl = milliseconds(std::min<std::uint64_t>(n, 365ULL * 86400) * 1000);
      }
    }
  }
  return ttl;
}

const auth_answer* auth_cache::find(const std::string& key, steady_time now) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  if (it->second.expires <= now) {
    entries_.erase(it);  // its key stays in order_ until evicted: harmless
    return nullptr;
  }
  return &it->second.answer;
}

void auth_cache::put(std::string key, auth_answer answer, steady_time expires) {
  while (entries_.size() >= max_ && !order_.empty()) {
    entries_.erase(order_.front());
    order_.pop_front();
  }
  // Keys of entries that expired (or were replaced) can pile up in order_: drop the stale
  // front ones so it stays bounded by about twice the entries.
  while (order_.size() > 2 * max_ && !order_.empty()) {
    entries_.erase(order_.front());
    order_.pop_front();
  }
  auto [it, added] = entries_.insert_or_assign(key, entry{std::move(answer), expires});
  if (added) order_.push_back(std::move(key));
}

const std::vector<boost::asio::ip::tcp::endpoint>* auth_endpoints::cached(const std::string& host,
                                                                          std::uint16_t port,
                                                                          steady_time now) const {
  auto it = names_.find(host + ":" + std::to_string(port));
  if (it == names_.end() || now - it->second.at >= ttl) return nullptr;
  return &it->second.eps;
}

void auth_endpoints::store(const std::string& host, std::uint16_t port,
                           std::vector<boost::asio::ip::tcp::endpoint> eps, steady_time now) {
  if (names_.size() > 1000) names_.clear();  // names come from Snapshots and $host: bounded
  names_[host + ":" + std::to_string(port)] = resolved{std::move(eps), now};
}

std::shared_ptr<endpoint_state> auth_endpoints::endpoint(const boost::asio::ip::tcp::endpoint& ep) {
  const bool v6 = ep.address().is_v6();
  std::string key;
  if (v6) key += '[';
  key += ep.address().to_string();
  key += v6 ? "]:" : ":";
  key += std::to_string(ep.port());
  auto& slot = endpoints_[key];
  if (!slot) {
    slot = std::make_shared<endpoint_state>();
    slot->key = std::move(key);
    slot->address = ep;
  }
  return slot;
}

}  // namespace portico::proxy
