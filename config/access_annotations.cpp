// The annotations that protect a route: source address lists, rate and connection limits,
// basic authentication, client certificates and external authentication. Each either applies
// exactly as ingress-nginx does or denies the route (503, with the reason), never serves it
// without the protection.
#include <algorithm>
#include <cctype>

#include <re2/re2.h>

#include "config/annotation_ctx.hpp"
#include "config/client_auth.hpp"
#include "config/cluster_state.hpp"
#include "config/external_auth.hpp"
#include "config/htpasswd.hpp"
#include "config/ip_set.hpp"
#include "config/tls_annotations.hpp"

namespace portico::config::annotation_detail {

bool valid_redirect_url(std::string_view u) {
  if (!(u.starts_with("http://") || u.starts_with("https://"))) return false;
  return std::none_of(u.begin(), u.end(), [](char ch) {
    return static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f || ch == '"' || ch == '<' || ch == '>';
  });
}

bool valid_path_value(std::string_view v) {
  if (v.empty() || v.front() != '/') return false;
  return std::none_of(v.begin(), v.end(), [](char ch) {
    return static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f || ch == '"';
  });
}

bool basic_chars(std::string_view v) {
  return std::all_of(v.begin(), v.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_' || ch == '~' || ch == '/' || ch == ':';
  });
}

void flag(ctx& c, std::string_view v, bool& out) {
  if (auto b = parse_bool_text(trim(v))) out = *b;
  else c.bad("\"true\" or \"false\"");
}

void source_ranges(ctx& c, const our_annotations& anns) {
  auto list = [&](std::string_view key, std::shared_ptr<const ip_set>& out, std::string& text) {
    auto it = anns.find(key);
    if (it == anns.end()) return false;
    c.current = &it->second;
    auto set = std::make_shared<ip_set>();
    const auto bad = add_ip_list(it->second.value, *set);
    if (!bad.empty() || set->empty()) {
      c.error((bad.empty() ? std::string("no address or network")
                           : "\"" + bad.front() + "\" is not an IP address or network") +
              "; the Ingress's routes answer 503");
      c.deny(it->second.written_key + " is invalid");
      out = nullptr;
      text.clear();
      return true;
    }
    out = std::move(set);
    text = std::string(trim(it->second.value));
    return true;
  };
  auto& src = c.p.source;
  if (list("allowlist-source-range", src.allow, src.allow_text)) {
    auto old = anns.find("whitelist-source-range");
    if (old != anns.end() && trim(old->second.value) != src.allow_text) {
      c.current = &old->second;
      c.error("allowlist-source-range is also set; that one is used");
    }
  } else {
    list("whitelist-source-range", src.allow, src.allow_text);
  }
  list("denylist-source-range", src.deny, src.deny_text);
}

namespace {

// An object reference ("name" or "namespace/name") of `kind` in an annotation: "ns/name" when
// it names one of the Ingress's own namespace (any namespace with
// allow-cross-namespace-resources), else "" with `why` set.
std::string own_reference(ctx& c, std::string_view value, std::string_view kind, std::string& why) {
  const std::string ref(trim(value));
  const auto slash = ref.find('/');
  const std::string& own = c.ing.meta.namespace_name;
  const std::string ns = slash == std::string::npos ? own : ref.substr(0, slash);
  const std::string name = slash == std::string::npos ? ref : ref.substr(slash + 1);
  const std::string k(kind);
  if (ns.empty() || name.empty() || name.find('/') != std::string::npos || !basic_chars(ref))
    why = "must be a " + k + " name or namespace/name, got \"" + ref + "\"";
  else if (ns != own && !c.settings.allow_cross_namespace_resources)
    why = k + " " + ns + "/" + name + " is in another namespace; only " + k + "s of namespace " + own +
          " can be used (the ConfigMap's allow-cross-namespace-resources allows others)";
  return why.empty() ? ns + "/" + name : std::string();
}

// An annotation naming a Secret (own_reference): the Secret, or null after the refusal (the
// routes answer 503). c.current is `a`.
const secret* own_secret(ctx& c, const our_annotation& a, std::string& key) {
  c.current = &a;
  auto refuse = [&](std::string why) -> const secret* {
    c.error(why + "; the Ingress's routes answer 503");
    c.deny(a.written_key + ": " + why);
    return nullptr;
  };
  std::string why;
  key = own_reference(c, a.value, "Secret", why);
  if (key.empty()) return refuse(why);
  auto it = c.state.secrets.find(key);
  if (it == c.state.secrets.end()) return refuse("Secret " + key + " not found");
  return &it->second;
}

}  // namespace

// auth-type basic or digest: the users of auth-secret. Without them the routes answer 503;
// users whose hash Portico cannot verify (or, for digest, of another realm) are skipped: they
// cannot sign in.
void basic_auth(ctx& c, const our_annotations& anns, fnv1a& content) {
  auto get = [&](std::string_view k) -> const our_annotation* {
    auto it = anns.find(k);
    return it == anns.end() ? nullptr : &it->second;
  };
  const our_annotation* type = get("auth-type");
  const our_annotation* sec = get("auth-secret");
  if (type == nullptr) {
    if (sec != nullptr) {
      c.current = sec;
      c.error("auth-secret without auth-type: no authentication (as in ingress-nginx)");
    }
    return;
  }
  c.current = type;
  auto refuse = [&](std::string why) {
    c.error(why + "; the Ingress's routes answer 503");
    c.deny(c.current->written_key + ": " + why);
  };
  const auto t = trim(type->value);
  if (t != "basic" && t != "digest")
    return refuse("must be \"basic\" or \"digest\", got \"" + type->value + "\"");
  const bool digest = t == "digest";
  if (sec == nullptr || trim(sec->value).empty())
    return refuse("auth-type " + std::string(t) + " needs auth-secret");
  std::string realm;
  if (const our_annotation* rl = get("auth-realm")) {
    const auto r = trim(rl->value);
    if (std::all_of(r.begin(), r.end(), [](char ch) {
          return static_cast<unsigned char>(ch) >= 0x20 && ch != 0x7f && ch != '"' && ch != '\\';
        })) {
      realm = std::string(r);
    } else {
      c.current = rl;
      c.bad("text without quotes, backslashes or control characters", "the realm is empty");
      c.current = type;
    }
  }
  std::string key;
  const secret* found = own_secret(c, *sec, key);
  if (found == nullptr) return;
  std::string kind = "auth-file";
  if (const our_annotation* st = get("auth-secret-type")) {
    kind = std::string(trim(st->value));
    if (kind != "auth-file" && kind != "auth-map") {
      c.current = st;
      return refuse("must be \"auth-file\" or \"auth-map\", got \"" + st->value + "\"");
    }
  }
  auto users = std::make_shared<htpasswd>();
  std::vector<std::string> problems;
  const auto& data = found->data;
  if (digest) {
    // htdigest lines "user:realm:HA1" (auth-map: each key a user, its value "realm:HA1").
    std::string text;
    if (kind == "auth-file") {
      auto f = data.find("auth");
      if (f == data.end()) return refuse("Secret " + key + " has no key \"auth\" (an htdigest file)");
      text = f->second;
    } else {
      for (const auto& [user, value] : data) text.append(user).append(":").append(trim(value)).append("\n");
    }
    *users = parse_htdigest(text, realm, problems);
  } else if (kind == "auth-file") {
    auto f = data.find("auth");
    if (f == data.end()) return refuse("Secret " + key + " has no key \"auth\" (an htpasswd file)");
    *users = parse_htpasswd(f->second, problems);
  } else {
    for (const auto& [user, hash] : data) {
      std::string h(trim(hash));
      if (known_hash_format(h)) users->users.emplace_back(user, std::move(h));
      else problems.push_back("user " + user + ": the hash is not one Portico verifies; that user cannot sign in");
    }
  }
  for (const auto& pr : problems) c.error("Secret " + key + ": " + pr);
  if (users->users.empty()) c.error("Secret " + key + " has no users; every request gets 401");
  for (const auto& [u, h] : users->users) content.add(u).add(h);
  auto& ba = c.p.basic_auth;
  ba.users = std::move(users);
  ba.secret = key;
  ba.realm = std::move(realm);
  ba.digest = digest;
}

// limit-rps, limit-rpm, limit-connections: a bad value is a limit not applied, so the routes
// answer 503.
void limits(ctx& c, const our_annotations& anns) {
  auto& l = c.p.limits;
  auto number = [&](std::string_view key, unsigned& out) {
    auto it = anns.find(key);
    if (it == anns.end()) return;
    c.current = &it->second;
    auto n = parse_uint(trim(it->second.value));
    if (n && *n <= 1000000) {
      out = static_cast<unsigned>(*n);
      return;
    }
    c.error("must be a whole number, got \"" + it->second.value + "\"; the Ingress's routes answer 503");
    c.deny(it->second.written_key + " is invalid");
  };
  number("limit-rps", l.rps);
  number("limit-rpm", l.rpm);
  number("limit-connections", l.connections);
  if (auto it = anns.find("limit-burst-multiplier"); it != anns.end()) {
    c.current = &it->second;
    auto n = parse_uint(trim(it->second.value));
    if (n && *n >= 1 && *n <= 1000) l.burst_multiplier = static_cast<unsigned>(*n);
    else c.bad("a whole number from 1", "5 applies");
  }
  const our_annotation* allow = nullptr;
  if (auto it = anns.find("limit-allowlist"); it != anns.end()) allow = &it->second;
  else if (auto old = anns.find("limit-whitelist"); old != anns.end()) allow = &old->second;
  if (allow != nullptr && l.any()) {
    c.current = allow;
    auto set = std::make_shared<ip_set>();
    const auto bad = add_ip_list(allow->value, *set);
    if (!bad.empty()) {
      c.error("\"" + bad.front() + "\" is not an IP address or network; the limits apply to everyone");
    }
    if (!set->empty()) l.allowlist = std::move(set);
  }
  if (l.any()) l.zone = c.ing.meta.namespace_name + "/" + c.ing.meta.name;
}

// auth-tls-*: client certificates. A CA that cannot be used, or a CN restriction that cannot
// be applied, makes the routes answer 503.
void client_certificates(ctx& c, const our_annotations& anns, fnv1a& content) {
  auto get = [&](std::string_view k) -> const our_annotation* {
    auto it = anns.find(k);
    return it == anns.end() ? nullptr : &it->second;
  };
  const our_annotation* sec = get("auth-tls-secret");
  if (sec == nullptr) {
    for (const auto& [key, a] : anns) {
      if (!key.starts_with("auth-tls-")) continue;
      c.current = &a;
      c.error("without auth-tls-secret: no client certificates are asked for (as in ingress-nginx)");
      break;
    }
    return;
  }
  c.current = sec;
  auto refuse = [&](std::string why) {
    c.error(why + "; the Ingress's routes answer 503");
    c.deny(c.current->written_key + ": " + why);
  };
  std::string key;
  const secret* found = own_secret(c, *sec, key);
  if (found == nullptr) return;
  const auto& data = found->data;
  auto field = [&](const char* k) {
    auto f = data.find(k);
    return f == data.end() ? std::string_view() : std::string_view(f->second);
  };
  std::string why;
  auto ca = make_client_auth(field("ca.crt"), field("ca.crl"), why);
  if (!ca) return refuse("Secret " + key + " " + why);
  ca->secret = key;
  if (const our_annotation* v = get("auth-tls-verify-client")) {
    c.current = v;
    const auto t = trim(v->value);
    if (t == "on") ca->verify = client_verify::on;
    else if (t == "off") ca->verify = client_verify::off;
    else if (t == "optional") ca->verify = client_verify::optional;
    else if (t == "optional_no_ca") ca->verify = client_verify::optional_no_ca;
    else c.bad("on, off, optional or optional_no_ca", "on applies");
  }
  if (const our_annotation* v = get("auth-tls-verify-depth")) {
    c.current = v;
    auto n = parse_uint(trim(v->value));
    if (n && *n >= 1 && *n <= 100) ca->depth = static_cast<unsigned>(*n);
    else c.bad("a whole number from 1", "1 applies");
  }
  if (const our_annotation* v = get("auth-tls-error-page")) {
    c.current = v;
    const auto t = trim(v->value);
    if (valid_redirect_url(t) || valid_path_value(t)) ca->error_page = std::string(t);
    else c.bad("an http(s) URL or a path", "ignored");
  }
  if (const our_annotation* v = get("auth-tls-pass-certificate-to-upstream")) {
    c.current = v;
    flag(c, v->value, ca->pass_certificate);
  }
  if (const our_annotation* v = get("auth-tls-match-cn")) {
    c.current = v;
    const auto t = trim(v->value);
    auto re = std::make_shared<re2::RE2>(re2::StringPiece(t.data(), t.size()), re2::RE2::Quiet);
    if (!t.starts_with("CN=") || !re->ok())
      return refuse("must be \"CN=\" and a regular expression (RE2), got \"" + v->value + "\"");
    ca->match_cn = std::string(t);
    ca->match_cn_re = std::move(re);
  }
  fnv1a h;
  h.add(ca->id).add(static_cast<std::uint64_t>(ca->verify)).add(ca->depth).add(ca->error_page)
      .add(ca->pass_certificate ? 1 : 0).add(ca->match_cn);
  ca->id = h.value();
  content.add(ca->id);
  c.p.client_certs = std::move(ca);
}


// auth-url and its family: the route's external authentication, replacing the ConfigMap's
// global one; enable-global-auth "false" drops the global one. A URL, method, header list or
// cache duration that cannot be applied denies the routes; the other keys fall back to their
// defaults with an error.
void external_authentication(ctx& c, const our_annotations& anns, fnv1a& content) {
  auto get = [&](std::string_view k) -> const our_annotation* {
    auto it = anns.find(k);
    return it == anns.end() ? nullptr : &it->second;
  };
  if (const our_annotation* g = get("enable-global-auth")) {
    c.current = g;
    bool on = true;
    flag(c, g->value, on);
    if (!on && c.p.ext_auth && c.p.ext_auth->global) c.p.ext_auth = nullptr;
  }
  const our_annotation* url = get("auth-url");
  if (url == nullptr) {
    for (const auto& [key, a] : anns) {
      if (key == "auth-method" || key == "auth-signin" || key == "auth-response-headers" ||
          key == "auth-cache-key" || key == "auth-request-redirect" || key == "auth-proxy-set-headers") {
        c.current = &a;
        c.error("without auth-url: no external authentication (as in ingress-nginx)");
        break;
      }
    }
    return;
  }
  external_auth_fields f;
  auto take = [&](const char* key, std::optional<std::string>& out) {
    if (const our_annotation* a = get(key)) out = a->value;
  };
  take("auth-url", f.url);
  take("auth-method", f.method);
  take("auth-signin", f.signin);
  take("auth-signin-redirect-param", f.signin_redirect_param);
  take("auth-response-headers", f.response_headers);
  take("auth-request-redirect", f.request_redirect);
  take("auth-cache-key", f.cache_key);
  take("auth-cache-duration", f.cache_duration);
  take("auth-always-set-cookie", f.always_set_cookie);
  take("auth-keepalive", f.keepalive);
  take("auth-keepalive-requests", f.keepalive_requests);
  take("auth-keepalive-timeout", f.keepalive_timeout);
  std::vector<auth_problem> problems;
  auto made = make_external_auth(f, problems);
  bool denied = false;
  for (const auto& pr : problems) {
    c.current = get(pr.key) != nullptr ? get(pr.key) : url;
    if (pr.deny) {
      c.error(pr.message + "; the Ingress's routes answer 503");
      c.deny(c.current->written_key + ": " + pr.message);
      denied = true;
    } else {
      c.error(pr.message);
    }
  }
  if (!made || denied) {
    c.p.ext_auth = nullptr;
    return;
  }
  if (const our_annotation* m = get("auth-proxy-set-headers"); m != nullptr && !trim(m->value).empty()) {
    c.current = m;
    auto refuse = [&](std::string why) {
      c.error(why + "; the Ingress's routes answer 503");
      c.deny(m->written_key + ": " + why);
      c.p.ext_auth = nullptr;
    };
    std::string why;
    const std::string key = own_reference(c, m->value, "ConfigMap", why);
    if (key.empty()) return refuse(why);
    auto it = c.state.config_maps.find(key);
    if (it == c.state.config_maps.end()) return refuse("unable to find ConfigMap " + key);
    for (const auto& [h, v] : it->second.data) {
      if (!valid_auth_header_name(h))
        return refuse("invalid proxy-set-headers in ConfigMap " + key + ": \"" + h + "\" is not a header name");
      if (std::any_of(v.begin(), v.end(), [](char ch) {
            return (static_cast<unsigned char>(ch) < 0x20 && ch != '\t') || ch == 0x7f;
          }))
        return refuse("ConfigMap " + key + ": the value of " + h + " has control characters");
      made->proxy_set_headers.emplace_back(h, std::string(trim(v)));
    }
    std::sort(made->proxy_set_headers.begin(), made->proxy_set_headers.end());
    made->proxy_set_headers_ref = key;
  }
  fnv1a h;
  h.add(made->id);
  for (const auto& [k, v] : made->proxy_set_headers) h.add(k).add(v);
  made->id = h.value();
  content.add(made->id);
  c.p.ext_auth = std::move(made);
}

}  // namespace portico::config::annotation_detail
