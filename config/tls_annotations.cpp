#include "config/tls_annotations.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "config/ingress_check.hpp"
#include "config/tls_certificate.hpp"

namespace portico::config {

namespace {
// Whether OpenSSL knows at least one cipher of the list (nginx refuses a list that has none).
bool known_cipher_list(const std::string& list) {
  SSL_CTX* c = SSL_CTX_new(TLS_client_method());
  if (c == nullptr) return false;
  const bool ok = SSL_CTX_set_cipher_list(c, list.c_str()) == 1;
  SSL_CTX_free(c);
  ERR_clear_error();
  return ok;
}
}  // namespace
namespace {


std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

}  // namespace

std::string annotation_field(std::string_view name) {
  return "metadata.annotations[" + std::string(name) + "]";
}

std::optional<bool> parse_bool_text(std::string_view v) {
  if (v == "1" || v == "t" || v == "T" || v == "TRUE" || v == "true" || v == "True") return true;
  if (v == "0" || v == "f" || v == "F" || v == "FALSE" || v == "false" || v == "False") {
    return false;
  }
  return std::nullopt;
}

const std::string* tls_annotation_reader::annotation(std::string_view name) const {
  auto it = anns_->find(name);
  return it == anns_->end() ? nullptr : &it->second.value;
}

void tls_annotation_reader::error(const ingress& ing, std::string_view name, std::string message) {
  auto it = anns_->find(name);
  const std::string written =
      it != anns_->end() ? it->second.written_key
                         : std::string(default_annotations_prefix) + "/" + std::string(name);
  errors_.push_back({"Ingress", ing.meta.namespace_name, ing.meta.name, annotation_field(written),
                     std::move(message)});
}

bool tls_annotation_reader::read_bool(const ingress& ing, std::string_view name, bool fallback) {
  const std::string* v = annotation(name);
  if (!v) return fallback;
  if (auto b = parse_bool_text(*v)) return *b;
  error(ing, name,
        "must be \"true\" or \"false\", got \"" + *v + "\"; the default \"" +
            (fallback ? "true" : "false") + "\" applies");
  return fallback;
}

const tls_annotation_reader::ca_result& tls_annotation_reader::ca_secret(const std::string& ns,
                                                                         const std::string& name) {
  std::string key = ns + "/" + name;
  if (auto it = cas_.find(key); it != cas_.end()) return it->second;
  ca_result r;
  auto s = state_.secrets.find(key);
  if (s == state_.secrets.end()) {
    r.missing = true;
  } else {
    auto ca = s->second.data.find(std::string(ca_crt_key));
    std::string why = check_ca_bundle(ca == s->second.data.end() ? std::string_view()
                                                                 : std::string_view(ca->second));
    if (why.empty()) {
      r.pem = ca->second;
    } else {
      errors_.push_back({"Secret", ns, name, "data[ca.crt]",
                         why + " (proxy-ssl-secret: the CA that verifies upstream certificates)"});
    }
  }
  return cas_.emplace(std::move(key), std::move(r)).first->second;
}

std::shared_ptr<const upstream_tls> tls_annotation_reader::read_upstream(const ingress& ing) {
  auto t = std::make_shared<upstream_tls>();
  bool verify_set = false;
  if (const std::string* v = annotation(proxy_ssl_verify_annotation)) {
    std::string u = upper(*v);
    verify_set = true;
    t->verify = u != "OFF";
    if (u != "ON" && u != "OFF") {
      error(ing, proxy_ssl_verify_annotation,
            "must be \"on\" or \"off\", got \"" + *v + "\"; verification is on (fail closed)");
    }
  }
  if (const std::string* v = annotation(proxy_ssl_secret_annotation)) {
    const std::string& ns = ing.meta.namespace_name;
    auto slash = v->find('/');
    std::string sns = slash == std::string::npos ? std::string() : v->substr(0, slash);
    std::string name = slash == std::string::npos ? std::string() : v->substr(slash + 1);
    // A Secret that cannot be read is never replaced by none: the paths answer 503 (ingress-nginx
    // denies the location), whatever proxy-ssl-verify says.
    if (sns.empty() || name.empty() || name.find('/') != std::string::npos) {
      t->client_cert_unusable = true;
      error(ing, proxy_ssl_secret_annotation,
            "must be \"namespace/name\", got \"" + *v + "\"; the Ingress's paths answer 503");
    } else if (sns != ns && !cross_namespace_) {
      t->client_cert_unusable = true;
      error(ing, proxy_ssl_secret_annotation,
            "Secret " + *v + " is in another namespace; only Secrets of namespace " + ns +
                " can be used (the ConfigMap's allow-cross-namespace-resources allows others); "
                "the Ingress's paths answer 503");
    } else {
      t->ca_secret = sns + "/" + name;
      const ca_result& ca = ca_secret(sns, name);
      if (ca.missing) {
        t->client_cert_unusable = true;
        error(ing, proxy_ssl_secret_annotation,
              "Secret " + *v + " not found; the Ingress's paths answer 503");
      }
      t->ca_pem = ca.pem;
      // tls.crt and tls.key: the client certificate presented to the upstream (mutual TLS,
      // nginx proxy_ssl_certificate). One that cannot be used is never replaced by none.
      if (auto s = state_.secrets.find(t->ca_secret); s != state_.secrets.end()) {
        const auto& d = s->second.data;
        if (d.count("tls.crt") != 0 || d.count("tls.key") != 0) {
          secret as_tls = s->second;
          as_tls.type = "kubernetes.io/tls";
          auto res = parse_tls_secret(as_tls, 0);
          if (res.cert) {
            t->client_cert_pem = res.cert->cert_pem;
            t->client_key_pem = res.cert->key_pem;
          } else {
            t->client_cert_unusable = true;
            error(ing, proxy_ssl_secret_annotation,
                  "Secret " + *v + " " + res.field + ": " + res.message +
                      "; the client certificate for the upstream cannot be used, the Ingress's "
                      "paths answer 503");
          }
        }
      }
    }
  }
  if (const std::string* v = annotation(proxy_ssl_verify_depth_annotation)) {
    unsigned n = 0;
    const auto r = std::from_chars(v->data(), v->data() + v->size(), n);
    if (r.ec == std::errc{} && r.ptr == v->data() + v->size() && n >= 1 && n <= 100)
      t->verify_depth = n;
    else
      error(ing, proxy_ssl_verify_depth_annotation,
            "must be a whole number from 1 to 100, got \"" + *v + "\"; OpenSSL's default applies");
  }
  if (const std::string* v = annotation(proxy_ssl_protocols_annotation)) {
    std::uint8_t set = 0;
    bool ok = true;
    std::string_view rest = *v;
    while (!rest.empty()) {
      const auto sp = rest.find(' ');
      const auto w = rest.substr(0, sp);
      rest = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
      if (w.empty()) continue;
      if (w == "TLSv1.2") set |= upstream_tls::tls12;
      else if (w == "TLSv1.3") set |= upstream_tls::tls13;
      else ok = false;
    }
    if (ok && set != 0) t->protocols = set;
    else
      error(ing, proxy_ssl_protocols_annotation,
            "must be TLSv1.2 and/or TLSv1.3 (space-separated), got \"" + *v +
                "\"; TLS 1.2 and 1.3 are allowed");
  }
  if (const std::string* v = annotation(proxy_ssl_ciphers_annotation)) {
    const bool ok = !v->empty() && std::all_of(v->begin(), v->end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == ':' || c == '_' ||
             c == '-' || c == '!';
    });
    if (ok && !known_cipher_list(*v)) {
      error(ing, proxy_ssl_ciphers_annotation,
            "no cipher of \"" + *v + "\" is known to OpenSSL; OpenSSL's default applies");
    } else if (ok) t->ciphers = *v;
    else
      error(ing, proxy_ssl_ciphers_annotation,
            "must be an OpenSSL cipher list (letters, digits, + : _ - !), got \"" + *v +
                "\"; OpenSSL's default applies");
  }
  if (const std::string* v = annotation(proxy_ssl_name_annotation)) {
    std::string name = ascii_lower(*v);
    std::string why;
    if (name.empty() || name.starts_with("*.") || !valid_rule_host(name, &why)) {
      error(ing, proxy_ssl_name_annotation,
            (why.empty() ? "must be a DNS name, got \"" + *v + "\"" : why) +
                "; the request's host is used");
    } else {
      t->server_name = std::move(name);
    }
  }
  if (t->verify && t->ca_pem.empty()) {
    error(ing, verify_set ? proxy_ssl_verify_annotation : proxy_ssl_secret_annotation,
          "upstream certificate verification is on but there is no usable CA (proxy-ssl-secret "
          "with a ca.crt); the Ingress's paths answer 503 until that is fixed");
  }
  return t;
}

ingress_tls_policy tls_annotation_reader::read(const ingress& ing, const our_annotations& anns,
                                               const ingress_tls_policy& defaults) {
  anns_ = &anns;
  ingress_tls_policy p;
  p.ssl_redirect = read_bool(ing, ssl_redirect_annotation, defaults.ssl_redirect);
  p.force_ssl_redirect = read_bool(ing, force_ssl_redirect_annotation, defaults.force_ssl_redirect);
  const std::string* proto = annotation(backend_protocol_annotation);
  std::string u = proto ? upper(*proto) : std::string("HTTP");
  if (u == "HTTPS" || u == "GRPCS") {
    p.upstream = read_upstream(ing);
    p.upstream_h2 = u == "GRPCS";
  } else if (u == "GRPC") {
    p.upstream_h2 = true;
  } else if (u == "AJP" || u == "FCGI") {
    error(ing, backend_protocol_annotation,
          "\"" + *proto + "\" is not supported (HTTP, HTTPS, GRPC and GRPCS are); requests are "
          "sent as plain HTTP");
  } else if (u != "HTTP" && u != "AUTO_HTTP") {
    error(ing, backend_protocol_annotation,
          "must be one of HTTP, HTTPS, AUTO_HTTP, GRPC, GRPCS, AJP, FCGI, got \"" + *proto +
              "\"; requests are sent as plain HTTP");
  }
  return p;
}

}  // namespace portico::config
