// Who may pass, before a request is forwarded: the client's address as the access rules see
// it, client certificates (auth-tls-*), and the access phase (allow/deny lists, basic and
// digest authentication, rate and connection limits).
#include <chrono>

#include "proxy/http_session.hpp"
#include "proxy/phases.hpp"
#include "proxy/rate_limit.hpp"
#include "proxy/worker.hpp"

namespace portico::proxy {

using clock_type = std::chrono::steady_clock;

std::string_view http_session::client_ip() {
  if (real_ip_.empty()) {
    forward_params fp;
    fp.peer_ip = peer_ip_;
    fp.peer_trusted = peer_trusted_;
    fp.trusted = &w_.trusted();
    fp.forwarded_for = forwarded_for_value(*req_head_, cfg().forwarded_for_header);
    real_ip_.assign(real_client_ip(*req_head_, fp));
  }
  return real_ip_;
}

// CORS preflight (answered first, as ingress-nginx answers it in its rewrite phase), then the
// access phase (denied policy, source lists), then basic authentication. Their answers carry
// the route's CORS fields, as ingress-nginx's more_set_headers adds them to every status.
bool http_session::client_certificate_checks(const config::route& r, bool has_body) {
  const config::client_auth* required = snap_->find_client_auth(host_);
  client_cert_headers_ = false;
  const bool close = has_body || !keep_alive_;
  if (!client_.is_tls()) {
    // Plain HTTP to a host that wants certificates: the HTTPS redirect, else refused.
    if (required == nullptr || required->verify == config::client_verify::off || r.ssl_redirect)
      return false;
    if (required->verify == config::client_verify::on) {
      prepare_local(400, close, {}, "No required SSL certificate was sent");
      return true;
    }
    if (required->match_cn_re) {
      prepare_local(403, close, {}, "client certificate unauthorized");
      return true;
    }
    return false;
  }
  SSL* ssl = client_.ssl();
  const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  const config::client_auth* negotiated =
      sni != nullptr ? snap_->find_client_auth(sni) : nullptr;
  const auto result = check_client_certificate(ssl, required, negotiated, client_cert_);
  auto fail = [&](unsigned status, std::string_view detail) {
    if ((result == client_cert_result::no_certificate ||
         result == client_cert_result::bad_certificate) &&
        !required->error_page.empty()) {
      if (has_body) keep_alive_ = false;
      prepare_redirect(302, required->error_page);
      return true;
    }
    prepare_local(status, close, {}, detail);
    return true;
  };
  switch (result) {
    case client_cert_result::ok:
      client_cert_headers_ = required != nullptr && required->verify != config::client_verify::off;
      return false;
    case client_cert_result::misdirected: return fail(421, {});
    case client_cert_result::no_certificate: return fail(400, "No required SSL certificate was sent");
    case client_cert_result::bad_certificate: return fail(400, "The SSL certificate error");
    case client_cert_result::cn_mismatch: return fail(403, "client certificate unauthorized");
  }
  return false;
}

bool http_session::access_checks(const config::route& r, std::string_view path, bool has_body) {
  const auto& pol = *r.policy;
  // Client certificates come first (nginx refuses them while reading the request).
  if (client_auth_possible() && client_certificate_checks(r, has_body)) return true;
  thread_local std::vector<std::pair<std::string_view, std::string_view>> cors;
  thread_local std::string extra;
  cors.clear();
  extra.clear();
  if (pol.cors.enabled && cors_phase(pol.cors, find_header(*req_head_, "origin"), cors)) {
    for (const auto& [name, value] : cors) extra.append(name).append(": ").append(value).append("\r\n");
    if (method_ == "OPTIONS") {
      if (has_body) keep_alive_ = false;  // the body is not read
      cout_.clear();
      append_status_line(cout_, 204);
      cout_.append("Server: portico\r\n").append(extra);
      cout_.append("Content-Type: text/plain charset=UTF-8\r\n");
      if (!request_id_.empty()) cout_.append("X-Request-ID: ").append(request_id_).append("\r\n");
      cout_.append(keep_alive_ ? "\r\n" : "Connection: close\r\n\r\n");
      status_ = 204;
      return true;
    }
  }
  // Rate and connection limits (nginx's preaccess phase: before the access checks).
  if (const auto& lim = pol.limits;
      lim.any() && !(lim.allowlist && lim.allowlist->contains(client_ip()))) {
    auto& table = process_rate_limits();
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            clock_type::now().time_since_epoch()).count();
    thread_local std::string key;
    auto key_of = [&](char kind) -> const std::string& {
      key.assign(lim.zone).append(1, '\0').append(1, kind).append(client_ip());
      return key;
    };
    const auto& settings = cfg();
    if ((lim.rps != 0 && !table.admit(key_of('s'), lim.rps, 1000.0, lim.rps * lim.burst_multiplier, now_ms)) ||
        (lim.rpm != 0 && !table.admit(key_of('m'), lim.rpm, 60000.0, lim.rpm * lim.burst_multiplier, now_ms))) {
      prepare_local(settings.limit_req_status_code, has_body || !keep_alive_, extra);
      return true;
    }
    if (lim.connections != 0) {
      if (!table.acquire(key_of('c'), lim.connections, now_ms)) {
        prepare_local(settings.limit_conn_status_code, has_body || !keep_alive_, extra);
        return true;
      }
      conn_slot_ = conn_slot(table, key);
    }
  }
  const request_view req{method_, host_, target_, path, client_.is_tls(), w_.options().https_port,
                         client_ip(), listener_port_};
  local_answer answer;
  if (access_phase(r, req, answer) == phase_result::answered) {
    prepare_local(answer.status, has_body || !keep_alive_, extra);
    return true;
  }
  if (const auto& ba = pol.basic_auth; ba.users && ba.digest) {
    const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch()).count();
    const auto res = w_.digests().verify(*ba.users, ba.realm, method_, target_,
                                         find_header(*req_head_, "authorization"), now);
    if (res != digest_result::ok) {
      extra.append("WWW-Authenticate: ")
          .append(digest_challenge(ba.realm, make_digest_nonce(now), res == digest_result::stale))
          .append("\r\n");
      prepare_local(401, has_body || !keep_alive_, extra);
      return true;
    }
  } else if (ba.users &&
             !w_.credentials().verify(*ba.users, find_header(*req_head_, "authorization"))) {
    extra.append("WWW-Authenticate: Basic realm=\"").append(ba.realm).append("\"\r\n");
    prepare_local(401, has_body || !keep_alive_, extra);
    return true;
  }
  return false;
}

}  // namespace portico::proxy
