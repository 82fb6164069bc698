// External authentication in the session: before the request is forwarded, its head (without
// body) goes to the authentication service over the session's upstream connection, under the
// ConfigMap's proxy timeouts; the answer lets the request through, or is the client's answer
// (nginx auth_request as ingress-nginx configures it).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/basic_resolver.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <cstdio>

#include "proxy/default_backend.hpp"
#include "proxy/http_session.hpp"
#include "proxy/phases.hpp"
#include "proxy/request_target.hpp"
#include "proxy/response_head.hpp"
#include "proxy/tls_client.hpp"
#include "proxy/worker.hpp"

namespace portico::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {
constexpr auto tok = session_tok;

std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find('?'));
}
constexpr std::size_t read_chunk = 16 * 1024;
// A kept connection's answer body is read and dropped up to this size; a larger one (or one
// without Content-Length) closes the connection instead.
constexpr std::uint64_t max_drained_body = 64 * 1024;

// TLS towards authentication services: no verification, the URL's name as SNI (ingress-nginx's
// auth location: proxy_ssl_server_name on, proxy_ssl_verify off).
const config::upstream_tls& auth_tls() {
  static const config::upstream_tls t{};
  return t;
}

// "<auth id> <route host> <path> <type> <key>": nginx's cache key is the server, the auth
// location (per path and type) and auth-cache-key.
void cache_key_of(const config::external_auth& a, const config::route& r, std::string_view key,
                  std::string& out) {
  char id[17];
  std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(a.id));
  out.assign(id, 16).append(" ").append(r.host).append(" ").append(r.path).append(" ")
      .append(r.path_type).append(" ").append(key);
}
}  // namespace

http_session::task<http_session::auth_step> http_session::authenticate(
    const config::route& r, const config::external_auth& a) {
  const bool has_body = req_framing_ == body_framing::chunked || req_length_ > 0;
  auth_cookies_always_ = a.always_set_cookie;
  thread_local std::string upath;
  std::string_view path = path_of(target_);
  if (normalize_path(path, upath) == path_status::normalized) path = upath;
  const hash_inputs vars = template_vars(path);
  // A cached answer (auth-cache-key).
  std::string cache_key;
  const auto now = clock_type::now();
  if (!a.cache_key.empty()) {
    std::string key;
    expand_template(a.cache_key, *req_head_, vars, key);
    cache_key_of(a, r, key, cache_key);
    if (const auth_answer* hit = w_.auth_answers().find(cache_key, now)) {
      // Read before this coroutine suspends again: the entry is used in place, not copied.
      if (verdict_of(hit->status) != auth_verdict::allow) co_return auth_refusal(a, *hit, has_body, vars);
      auth_upstream_ = hit->upstream_headers;
      for (const auto& c : hit->cookies) auth_cookies_.append("Set-Cookie: ").append(c).append("\r\n");
      co_return auth_step::pass;
    }
  }
  // Where the subrequest goes.
  config::auth_url url;
  if (!a.url_template.empty()) {
    std::string text, why;
    expand_template(a.url_template, *req_head_, vars, text);
    auto parts = config::split_auth_url(text, why);
    if (!parts) {
      auth_answer failed;
      co_return auth_refusal(a, failed, has_body, vars);  // 500: no URL to ask
    }
    url = std::move(*parts);
  } else {
    url = a.fixed;
  }
  const std::string target = url.target.empty() ? auth_location_uri(r.path, r.path_type) : url.target;
  auth_answer ans;
  std::chrono::milliseconds cache_for{0};
  co_await auth_exchange(a, url, target, ans, cache_for);
  if (closed_) co_return auth_step::gone;
  if (!cache_key.empty() && ans.status != 0 && cache_for.count() > 0)
    w_.auth_answers().put(std::move(cache_key), ans, clock_type::now() + cache_for);
  if (verdict_of(ans.status) != auth_verdict::allow) co_return auth_refusal(a, ans, has_body, vars);
  auth_upstream_ = std::move(ans.upstream_headers);
  for (const auto& c : ans.cookies) auth_cookies_.append("Set-Cookie: ").append(c).append("\r\n");
  co_return auth_step::pass;
}

hash_inputs http_session::template_vars(std::string_view path) {
  const std::string_view scheme = client_.is_tls() ? "https" : "http";
  std::string_view pass_scheme = scheme;
  if (peer_trusted_ && !req_head_->x_forwarded_proto.empty()) pass_scheme = req_head_->x_forwarded_proto;
  return {target_, path, host_, client_ip(), method_, client_.is_tls(), pass_scheme,
          w_.port_text_of(listener_port_, client_.is_tls())};
}

http_session::auth_step http_session::auth_refusal(const config::external_auth& a,
                                                   const auth_answer& ans, bool has_body,
                                                   const hash_inputs& vars) {
  for (const auto& c : ans.cookies) auth_cookies_.append("Set-Cookie: ").append(c).append("\r\n");
  const bool close = has_body || !keep_alive_;
  switch (verdict_of(ans.status)) {
    case auth_verdict::deny_401:
      if (!a.signin.empty()) {
        // error_page 401 = the sign-in location: 302 to auth-signin with the original URL.
        std::string location;
        expand_template(a.signin, *req_head_, vars, location);
        if (has_body) keep_alive_ = false;  // the body is not read
        prepare_redirect(302, location, auth_cookies_);
        return auth_step::answered;
      }
      prepare_local(401, close, ans.www_authenticate);
      return auth_step::answered;
    case auth_verdict::deny_403:
      prepare_local(403, close);
      return auth_step::answered;
    default:
      prepare_local(500, close);
      return auth_step::answered;
  }
}

http_session::task<unsigned> http_session::auth_exchange(const config::external_auth& a,
                                                         const config::auth_url& url,
                                                         std::string_view target, auth_answer& out,
                                                         std::chrono::milliseconds& cache_for) {
  const auto& settings = cfg();
  out = auth_answer{};
  // The service's addresses: an IP address as written, else resolved (cached per worker).
  std::vector<tcp::endpoint> addresses;
  {
    boost::system::error_code ec;
    const auto ip = asio::ip::make_address(url.host, ec);
    if (!ec) {
      addresses.emplace_back(ip, url.port);
    } else if (const auto* eps = w_.auth_services().cached(url.host, url.port, clock_type::now())) {
      addresses = *eps;
    } else {
      asio::ip::basic_resolver<tcp, session_executor> resolver(w_.context().get_executor());
      auto [rec, results] = co_await resolver.async_resolve(url.host, std::to_string(url.port), tok);
      if (rec || closed_) co_return 0;
      for (const auto& e : results) addresses.push_back(e.endpoint());
      if (addresses.empty()) co_return 0;
      w_.auth_services().store(url.host, url.port, addresses, clock_type::now());
    }
  }
  // The request.
  thread_local std::string redirect;
  if (a.request_redirect.empty()) {
    redirect.assign(target_);
  } else {
    const hash_inputs vars{target_, target_, host_, real_ip_, method_, client_.is_tls(), {}, {}};
    expand_template(a.request_redirect, *req_head_, vars, redirect);
  }
  thread_local std::vector<std::pair<std::string_view, std::string_view>> cert;
  cert.clear();
  if (client_cert_headers_) {
    if (!client_cert_.escaped_cert.empty()) cert.emplace_back("ssl-client-cert", client_cert_.escaped_cert);
    cert.emplace_back("ssl-client-verify", client_cert_.verify);
    cert.emplace_back("ssl-client-subject-dn", client_cert_.subject);
    cert.emplace_back("ssl-client-issuer-dn", client_cert_.issuer);
  }
  thread_local std::string forwarded;
  forwarded.assign(client_ip());
  if (settings.use_forwarded_headers && settings.compute_full_forwarded_for && peer_trusted_) {
    const auto xff = forwarded_for_value(*req_head_, settings.forwarded_for_header);
    forwarded.assign(xff);
    if (!forwarded.empty()) forwarded.append(", ");
    forwarded.append(peer_ip_);
  }
  const std::string_view http_host = req_head_->host.empty() ? std::string_view(host_) : req_head_->host;
  auth_request_inputs in;
  in.head = &*req_head_;
  in.method = method_;
  in.request_uri = target_;
  in.http_host = http_host;
  in.scheme = client_.is_tls() ? "https" : "http";
  in.pass_scheme = peer_trusted_ && !req_head_->x_forwarded_proto.empty()
                       ? req_head_->x_forwarded_proto
                       : in.scheme;
  in.remote_addr = client_ip();
  in.forwarded_for = forwarded;
  in.request_id = request_id_;
  in.allow_underscores = settings.enable_underscores_in_headers;
  in.cert_headers = cert.empty() ? nullptr : &cert;
  const bool keep = a.keepalive > 0;
  out_.clear();
  write_auth_request(out_, a, target, url.host_header, redirect, in, keep);

  const std::string sni = url.https ? upstream_server_name(auth_tls(), url.host) : std::string();
  const std::uint64_t tls_key = url.https ? upstream_tls_key(auth_tls(), sni) : 0;
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    auto ep = w_.auth_services().endpoint(addresses[i]);
    for (int fresh = 0; fresh < 2; ++fresh) {
      close_upstream();
      unsigned uses = 0;
      bool reused = false;
      if (keep && fresh == 0 && w_.pool().take(*ep, up_, tls_key, &uses)) {
        reused = true;
      } else {
        fresh = 1;  // a new connection is not retried as one
        arm(session_phase::upstream_connect, settings.proxy_connect_timeout);
        auto [cec] = co_await up_.socket().async_connect(ep->address, tok);
        if (closed_) co_return 0;
        if (cec) break;  // the next address
        boost::system::error_code ignore;
        up_.socket().set_option(tcp::no_delay(true), ignore);
        if (url.https) {
          bool ready = false;
          try {
            up_.start_tls(w_.upstream_tls().context_for(auth_tls()));
            ready = tls_client_contexts::prepare(up_.tls()->native_handle(), auth_tls(), sni,
                                                 ep->address.address().to_string());
          } catch (const std::exception&) {
            ready = false;
          }
          boost::system::error_code hec = asio::error::access_denied;
          if (ready) std::tie(hec) = co_await up_.tls()->async_handshake(asio::ssl::stream_base::client, tok);
          if (closed_) co_return 0;
          if (hec) break;
        }
      }
      arm(session_phase::upstream_send, settings.proxy_send_timeout);
      auto [wec, wn] = co_await asio::async_write(up_, asio::buffer(out_), tok);
      if (closed_) co_return 0;
      if (wec) {
        if (reused && !timed_out_) continue;  // a kept connection the service closed: a new one
        break;
      }
      // The answer's head.
      arm(session_phase::upstream_wait, settings.proxy_read_timeout);
      ubuf_.clear();
      std::size_t received = 0;
      bool complete = false;
      bool failed = false;
      for (;;) {
        sp_.emplace(*resp_head_);
        for (;;) {
          if (ubuf_.size() > 0) {
            const auto st = sp_->take({static_cast<const char*>(ubuf_.data().data()), ubuf_.size()});
            if (st == response_head_state::complete) {
              ubuf_.consume(sp_->length());
              complete = true;
              break;
            }
            if (st != response_head_state::incomplete) {
              failed = true;
              break;
            }
          }
          auto [rec, n] = co_await up_.async_read_some(ubuf_.prepare(read_chunk), tok);
          if (closed_) co_return 0;
          if (rec) {
            failed = true;
            break;
          }
          received += n;
          ubuf_.commit(n);
        }
        if (!complete) break;
        const unsigned st = sp_->status;
        if (st >= 100 && st < 200) {  // interim answers are skipped
          complete = false;
          continue;
        }
        break;
      }
      if (!complete) {
        if (failed && reused && received == 0 && !timed_out_) continue;  // closed while idle
        break;
      }
      const unsigned status = sp_->status < 100 || sp_->status > 599 ? 0 : sp_->status;
      take_auth_answer(a, *resp_head_, status, out);
      cache_for = status != 0 ? cache_time(a, *resp_head_, status) : std::chrono::milliseconds(0);
      // Keep the connection when the whole (small) body can be dropped and both sides keep it.
      bool reusable = keep && status != 0 && sp_->keep_alive() && uses + 1 < a.keepalive_requests &&
                      w_.pool().idle_count(*ep) < a.keepalive;
      if (reusable) {
        const auto cl = sp_->content_length();
        const bool no_body = status == 204 || status == 304 || (a.method == "HEAD");
        std::uint64_t body = no_body ? 0 : (cl ? *cl : max_drained_body + 1);
        if (sp_->chunked() || body > max_drained_body) {
          reusable = false;
        } else {
          while (ubuf_.size() < body) {
            auto [rec, n] = co_await up_.async_read_some(ubuf_.prepare(read_chunk), tok);
            if (closed_) co_return 0;
            if (rec) {
              reusable = false;
              break;
            }
            ubuf_.commit(n);
          }
          if (reusable) {
            ubuf_.consume(static_cast<std::size_t>(body));
            reusable = ubuf_.size() == 0;
          }
        }
      }
      if (reusable) {
        ubuf_.clear();
        w_.pool().give_back(*ep, std::move(up_), clock_type::now(), tls_key, uses + 1);
      }
      close_upstream();
      co_return status;
    }
    close_upstream();
    if (timed_out_) break;  // the deadline is over for every address
  }
  close_upstream();
  co_return 0;
}

}  // namespace portico::proxy
