// proxy::mirror_request(): see proxy/mirror.hpp.
#include "proxy/mirror.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <memory>
#include <tuple>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/annotations_mirror.hpp"
#include "proxy/byte_stream.hpp"
#include "proxy/observe.hpp"
#include "proxy/tls_client.hpp"
#include "proxy/worker.hpp"

namespace portico::proxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
constexpr auto tok = asio::as_tuple(asio::use_awaitable);

thread_local std::size_t in_flight = 0;  // per worker thread
thread_local clock_type::time_point last_log{};

// mirror-target host names looked up by this worker: addresses (empty: the lookup failed)
// until `until`; `pending` while a lookup runs (copies meanwhile use the addresses known
// before, or are skipped when there are none).
struct dns_entry {
  std::vector<tcp::endpoint> eps;
  clock_type::time_point until{};
  bool pending = false;
};
thread_local std::unordered_map<std::string, dns_entry> dns_cache;

// TLS towards https mirror targets: no verification, the target's name as SNI (nginx's
// proxy_ssl_verify off).
const config::upstream_tls& mirror_tls() {
  static const config::upstream_tls t{};
  return t;
}

// One copy: what to send, where, and how long it may take.
struct copy_job {
  std::string bytes;
  std::string name;                // for logs
  std::vector<tcp::endpoint> to;   // empty: resolve host:port
  std::string host;
  std::uint16_t port = 0;
  bool https = false;
  std::chrono::milliseconds connect_timeout{0}, timeout{0};
};

// One copy's connection and the timer that closes it at the deadline.
struct mirror_call {
  explicit mirror_call(asio::io_context& ctx) : stream(ctx), timer(ctx) {}
  byte_stream stream;
  asio::steady_timer timer;
  bool timed_out = false;
};

void note_failure(worker& w, const std::string& name, const std::string& what) {
  gauge_add(w.gauges().mirror_failed, 1);
  // At most one line a second per worker: a dead mirror under load must not flood the log.
  const auto now = clock_type::now();
  if (!w.options().log || now - last_log < std::chrono::seconds(1)) return;
  last_log = now;
  w.options().log("warning", "request mirror " + name + ": " + what + " (the client's request is not affected)");
}

// The addresses of job.host (cached per worker), or empty with `what` set.
asio::awaitable<std::vector<tcp::endpoint>> resolve(worker& w, const copy_job& job, std::string& what) {
  const std::string key = job.host + ":" + std::to_string(job.port);
  // The lookup may not take longer than a connect.
  auto resolver = std::make_shared<tcp::resolver>(w.context());
  asio::steady_timer limit(w.context());
  limit.expires_after(job.connect_timeout);
  limit.async_wait([resolver](const boost::system::error_code& ec) {
    if (!ec) resolver->cancel();
  });
  auto [ec, results] = co_await resolver->async_resolve(job.host, std::to_string(job.port), tok);
  limit.cancel();
  std::vector<tcp::endpoint> eps;
  if (!ec)
    for (const auto& r : results) eps.push_back(r.endpoint());
  auto& entry = dns_cache[key];  // (the map may have been cleared meanwhile)
  entry.pending = false;
  entry.eps = eps;
  entry.until = clock_type::now() + (eps.empty() ? std::chrono::seconds(mirror_dns_failure_ttl)
                                                 : std::chrono::seconds(mirror_dns_ttl));
  if (eps.empty())
    what = "could not resolve " + job.host + (ec ? ": " + ec.message() : std::string(": no address"));
  co_return eps;
}

// Connects (with TLS for https), sends the copy and reads the answer's head; "" when it came.
asio::awaitable<std::string> exchange(worker& w, copy_job& job, std::shared_ptr<mirror_call> call) {
  auto arm = [&call](std::chrono::milliseconds d) {
    call->timer.expires_after(d);
    call->timer.async_wait([c = call](const boost::system::error_code& ec) {
      if (ec) return;  // cancelled: re-armed or done
      c->timed_out = true;
      boost::system::error_code ignore;
      c->stream.socket().close(ignore);
    });
  };
  // The addresses in order (a name's, as the resolver sorted them) until one connects.
  arm(job.connect_timeout);
  boost::system::error_code cec = asio::error::host_not_found;
  tcp::endpoint to;
  for (const auto& ep : job.to) {
    to = ep;
    std::tie(cec) = co_await call->stream.socket().async_connect(ep, tok);
    if (!cec || call->timed_out) break;
    boost::system::error_code ignore;
    call->stream.socket().close(ignore);
  }
  if (cec) co_return call->timed_out ? "connect timed out" : "connect failed: " + cec.message();
  arm(job.timeout);
  if (job.https) {
    bool ready = false;
    boost::system::error_code addr_ec;
    asio::ip::make_address(job.host, addr_ec);
    const std::string sni = addr_ec ? job.host : std::string();
    try {
      call->stream.start_tls(w.upstream_tls().context_for(mirror_tls()));
      ready = tls_client_contexts::prepare(call->stream.tls()->native_handle(), mirror_tls(), sni,
                                           to.address().to_string());
    } catch (const std::exception&) {
      ready = false;
    }
    if (!ready) co_return "TLS setup failed";
    auto [hec] = co_await call->stream.tls()->async_handshake(asio::ssl::stream_base::client, tok);
    if (hec) co_return call->timed_out ? "timed out" : "TLS handshake failed: " + hec.message();
  }
  auto [wec, wn] = co_await asio::async_write(call->stream, asio::buffer(job.bytes), tok);
  if (wec) co_return call->timed_out ? "timed out" : "send failed: " + wec.message();
  // The answer's head, then the connection is closed: its body is not wanted.
  std::string head;
  char buf[4096];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 64 * 1024) {
    auto [rec, rn] = co_await call->stream.async_read_some(asio::buffer(buf), tok);
    if (rec) break;
    head.append(buf, rn);
  }
  if (!head.starts_with("HTTP/") || head.find("\r\n\r\n") == std::string::npos)
    co_return call->timed_out ? "timed out" : "no answer";
  co_return std::string();
}

asio::awaitable<void> run_copy(worker& w, copy_job job) {
  std::string what;
  if (job.to.empty()) job.to = co_await resolve(w, job, what);
  if (!job.to.empty()) {
    auto call = std::make_shared<mirror_call>(w.context());
    what = co_await exchange(w, job, call);
    call->timer.cancel();
    boost::system::error_code ignore;
    call->stream.close(ignore);
  }
  if (what.empty()) gauge_add(w.gauges().mirror_answered, 1);
  else note_failure(w, job.name, what);
  --in_flight;
}

void field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

// A URI built from request values: bytes a request line cannot carry are %-escaped.
void append_uri(std::string& out, std::string_view u) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (char ch : u) {
    const auto b = static_cast<unsigned char>(ch);
    if (b <= 0x20 || b >= 0x7f) out.append({'%', hex[b >> 4], hex[b & 15]});
    else out += ch;
  }
}

// Where an ingress-nginx copy goes: its job's address or name. False: the copy cannot go
// (counted as failed).
bool address_of(worker& w, const config::mirror_backend& m, copy_job& job) {
  const config::ingress_mirror* t = m.target.get();
  if (t == nullptr || t->fixed_address) {
    tried_set tried;
    auto ep = m.backend->endpoints.empty() ? nullptr : w.lb().pick(*m.backend, tried, clock_type::now());
    if (!ep) {
      note_failure(w, m.name, "no ready endpoint");
      return false;
    }
    job.to.push_back(ep->address);
    return true;
  }
  job.host = t->host;
  job.port = t->port;
  const std::string key = job.host + ":" + std::to_string(job.port);
  auto it = dns_cache.find(key);
  const bool fresh = it != dns_cache.end() && it->second.until > clock_type::now();
  if (!fresh && (it == dns_cache.end() || !it->second.pending)) {
    if (dns_cache.size() > 1000) dns_cache.clear();  // names come from Snapshots: bounded anyway
    dns_cache[key].pending = true;  // this copy looks it up (run_copy)
    return true;
  }
  // Fresh, or looked up again right now: the addresses known (a failure if none).
  if (it->second.eps.empty()) {
    note_failure(w, m.name, "could not resolve " + t->host + " (a recent lookup failed)");
    return false;
  }
  job.to = it->second.eps;
  return true;
}

// A name's lookup is under way and no addresses are known yet: its copies are skipped.
bool resolving(const config::mirror_backend& m) {
  const config::ingress_mirror* t = m.target.get();
  if (t == nullptr || t->fixed_address) return false;
  auto it = dns_cache.find(t->host + ":" + std::to_string(t->port));
  return it != dns_cache.end() && it->second.pending && it->second.eps.empty();
}

}  // namespace

bool write_mirror_copy(std::string& out, const config::ingress_mirror& m, const mirror_source& src) {
  const auto& v = src.vars;
  const auto q = v.target.find('?');
  const std::string_view args = q == std::string_view::npos ? std::string_view{} : v.target.substr(q + 1);
  out.append(v.method).append(" ");
  if (m.uri.empty()) {
    // nginx's mirror subrequest to the internal location, with the request's query.
    out.append(m.location);
    if (!args.empty()) out.append("?").append(args);
  } else if (!m.uri_has_variables) {
    const std::string& lit = m.uri.front().text;
    if (lit.front() != '/') out += '/';
    out.append(lit);
    if (!args.empty()) out.append(lit.find('?') == std::string::npos ? "?" : "&").append(args);
  } else {
    thread_local std::string u;
    expand_template(m.uri, *src.head, v, u);
    if (u.empty() || u.front() != '/') out += '/';
    append_uri(out, u);
  }
  out.append(" HTTP/1.1\r\n");
  for (const auto& f : src.head->fields) {
    if (is_hop_by_hop(f) || f.name == http_field::host || f.name == http_field::expect) continue;
    if (src.head->conn.names(f.name_text)) continue;
    if (!src.allow_underscores && has_underscore(f.name_text)) continue;
    field(out, f.name_text, f.value);
  }
  field(out, "Host", m.host_header);
  const bool had_body = src.head->has_content_length || src.head->has_transfer_encoding;
  if (m.body && had_body) {
    if (out.size() + src.body.size() + 64 > mirror_max_bytes) return false;
    if (src.chunked && !src.body.empty()) field(out, "Transfer-Encoding", "chunked");
    else field(out, "Content-Length", std::to_string(src.body.size()));
  }
  out.append("Connection: close\r\n\r\n");
  if (m.body && had_body) out.append(src.body);
  return true;
}

void mirror_request(worker& w, const config::route& r, std::string_view request, bool whole,
                    const mirror_source& src) {
  for (const auto& m : r.mirrors) {
    if (m.numerator < m.denominator && w.lb().random() % m.denominator >= m.numerator) continue;
    const config::ingress_mirror* t = m.target.get();
    const bool wants_body = t == nullptr || t->body;
    if ((wants_body && !whole) || in_flight >= mirror_max_in_flight || resolving(m)) {
      gauge_add(w.gauges().mirror_skipped, 1);
      continue;
    }
    copy_job job;
    if (t != nullptr) {
      if (!write_mirror_copy(job.bytes, *t, src)) {
        gauge_add(w.gauges().mirror_skipped, 1);
        continue;
      }
      job.https = t->https;
      job.host = t->host;
    } else if (request.size() > mirror_max_bytes) {
      gauge_add(w.gauges().mirror_skipped, 1);
      continue;
    } else {
      job.bytes.assign(request);
    }
    // One endpoint of the mirror backend, as the Gateway API asks; its balancer state is the
    // one requests to that Service share.
    if (!address_of(w, m, job)) continue;
    job.name = m.name;
    const auto& pol = *r.policy;
    job.connect_timeout = pol.connect_timeout;
    job.timeout = pol.read_timeout + pol.send_timeout;
    ++in_flight;
    asio::co_spawn(w.context(), run_copy(w, std::move(job)), asio::detached);
  }
}

}  // namespace portico::proxy
