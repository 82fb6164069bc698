#include "k8s-watch/api_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/stream_parser.hpp>
#include <cstring>
#include <optional>
#include <set>
#include <vector>

namespace portico::watch {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

namespace {

struct connection;

}  // namespace

struct api_client::impl {
  asio::any_io_executor ex;
  ssl::context ssl_ctx{ssl::context::tls_client};
  tcp::resolver resolver;
  std::set<connection*> open;
  std::vector<std::unique_ptr<connection>> idle;  // kept-alive connections for call()
  bool shut = false;
  std::string token;
  std::chrono::steady_clock::time_point token_read{};
  bool token_loaded = false;

  explicit impl(asio::any_io_executor e) : ex(e), resolver(e) {}
};

namespace {

struct connection {
  api_client::impl& owner;
  std::optional<beast::tcp_stream> tcp_;
  std::optional<ssl::stream<beast::tcp_stream>> tls_;

  connection(api_client::impl& o, bool tls) : owner(o) {
    if (tls) {
      tls_.emplace(o.ex, o.ssl_ctx);
    } else {
      tcp_.emplace(o.ex);
    }
    owner.open.insert(this);
  }
  ~connection() { owner.open.erase(this); }
  connection(const connection&) = delete;

  beast::tcp_stream& lowest() { return tls_ ? tls_->next_layer() : *tcp_; }
  void close() {
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().close();
  }
};

// Splits a watch body into lines and parses each one incrementally as it arrives.
class line_decoder {
 public:
  template <class F>
  void feed(const char* d, std::size_t n, F&& on_value) {
    while (n) {
      const void* nl = std::memchr(d, '\n', n);
      std::size_t seg = nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - d) : n;
      std::string_view part(d, seg);
      if (part.find_first_not_of(" \t\r") != std::string_view::npos) {
        parser_.write(part.data(), part.size());
        any_ = true;
      }
      if (!nl) return;
      if (any_) {
        parser_.finish();
        on_value(parser_.release());
        parser_.reset();
        any_ = false;
      }
      d += seg + 1;
      n -= seg + 1;
    }
  }

 private:
  boost::json::stream_parser parser_;
  bool any_ = false;
};

bool is_ip(const std::string& host) {
  beast::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

api_client::api_client(asio::any_io_executor ex, kube_config cfg)
    : cfg_(std::move(cfg)), impl_(std::make_unique<impl>(ex)) {
  auto& ctx = impl_->ssl_ctx;
  if (cfg_.insecure_skip_tls_verify) {
    ctx.set_verify_mode(ssl::verify_none);
  } else {
    ctx.set_verify_mode(ssl::verify_peer);
    if (!cfg_.ca_pem.empty()) {
      ctx.add_certificate_authority(asio::buffer(cfg_.ca_pem));
    } else {
      ctx.set_default_verify_paths();
    }
  }
  if (!cfg_.client_cert_pem.empty()) {
    ctx.use_certificate_chain(asio::buffer(cfg_.client_cert_pem));
    ctx.use_private_key(asio::buffer(cfg_.client_key_pem), ssl::context::pem);
  }
}

api_client::~api_client() { shutdown(); }

void api_client::shutdown() {
  impl_->shut = true;
  impl_->resolver.cancel();
  for (connection* c : impl_->open) c->close();
}

std::string api_client::bearer() {
  if (!cfg_.token.empty()) return cfg_.token;
  if (cfg_.token_file.empty()) return {};
  auto now = std::chrono::steady_clock::now();
  if (!impl_->token_loaded || now - impl_->token_read >= cfg_.token_reread) {
    try {
      std::string t = read_file_text(cfg_.token_file);
      while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
      impl_->token = std::move(t);
    } catch (const std::exception&) {
      // keep the previous token; the file may be mid-rotation
    }
    impl_->token_loaded = true;
    impl_->token_read = now;
  }
  return impl_->token;
}

namespace {

awaitable<void> open_connection(api_client::impl& im, connection& c, const kube_config& cfg,
                                std::chrono::milliseconds timeout) {
  // shutdown() closes the sockets it finds open; one still resolving or connecting then has
  // none yet, so the client's state is checked again after each of those steps.
  auto aborted = [&im] {
    if (im.shut) throw boost::system::system_error(asio::error::operation_aborted);
  };
  auto results = co_await im.resolver.async_resolve(cfg.host, cfg.port, use_awaitable);
  aborted();
  c.lowest().expires_after(timeout);
  co_await c.lowest().async_connect(results, use_awaitable);
  aborted();
  if (!c.tls_) co_return;
  if (!is_ip(cfg.host)) SSL_set_tlsext_host_name(c.tls_->native_handle(), cfg.host.c_str());
  if (!cfg.insecure_skip_tls_verify) c.tls_->set_verify_callback(ssl::host_name_verification(cfg.host));
  co_await c.tls_->async_handshake(ssl::stream_base::client, use_awaitable);
}

http::request<http::string_body> make_request(std::string_view method, const std::string& target,
                                              const kube_config& cfg, const std::string& token,
                                              std::string body, const std::string& ctype) {
  http::verb v = http::string_to_verb(method);
  if (v == http::verb::unknown) throw api_error("unknown method " + std::string(method));
  http::request<http::string_body> req{v, target, 11};
  req.set(http::field::host, cfg.host + ":" + cfg.port);
  req.set(http::field::user_agent, "portico");
  req.set(http::field::accept, "application/json");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  if (!body.empty()) {
    req.set(http::field::content_type, ctype);
    req.body() = std::move(body);
  }
  req.prepare_payload();
  return req;
}

template <class Stream>
awaitable<api_response> do_call(Stream& s, beast::tcp_stream& low,
                                http::request<http::string_body>& req,
                                std::chrono::milliseconds timeout, bool& keep_alive) {
  low.expires_after(timeout);
  co_await http::async_write(s, req, use_awaitable);
  beast::flat_buffer fb;
  http::response_parser<http::string_body> p;
  p.body_limit(std::uint64_t{1} << 31);
  co_await http::async_read(s, fb, p, use_awaitable);
  keep_alive = p.get().keep_alive();
  co_return api_response{p.get().result_int(), std::move(p.get().body())};
}

template <class Stream>
awaitable<api_response> do_stream(Stream& s, beast::tcp_stream& low,
                                  http::request<http::string_body>& req,
                                  std::chrono::milliseconds timeout, std::chrono::seconds idle,
                                  const std::function<void(boost::json::value&&)>& on_event) {
  low.expires_after(timeout);
  co_await http::async_write(s, req, use_awaitable);
  beast::flat_buffer fb;
  http::response_parser<http::buffer_body> p;
  p.body_limit(boost::none);
  co_await http::async_read_header(s, fb, p, use_awaitable);
  api_response resp{p.get().result_int(), {}};
  line_decoder lines;
  char buf[16384];
  while (!p.is_done()) {
    p.get().body().data = buf;
    p.get().body().size = sizeof buf;
    low.expires_after(idle);
    auto [ec, n] = co_await http::async_read_some(s, fb, p, asio::as_tuple(use_awaitable));
    if (ec == http::error::need_buffer) ec = {};
    if (ec) throw boost::system::system_error(ec);
    std::size_t got = sizeof buf - p.get().body().size;
    if (resp.status != 200) {
      resp.body.append(buf, got);
    } else {
      lines.feed(buf, got, on_event);
    }
  }
  co_return resp;
}

}  // namespace

// Lists and writes reuse kept-alive connections (a list of 10,000 objects is 20 pages);
// a reused connection the server closed meanwhile is retried once on a fresh one.
awaitable<api_response> api_client::call(std::string_view method, std::string target,
                                         std::string body, std::string content_type) {
  if (impl_->shut) throw api_error("client shut down");
  auto req = make_request(method, target, cfg_, bearer(), std::move(body), content_type);
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<connection> c;
    bool reused = attempt == 0 && !impl_->idle.empty();
    if (reused) {
      c = std::move(impl_->idle.back());
      impl_->idle.pop_back();
    } else {
      c = std::make_unique<connection>(*impl_, cfg_.tls);
    }
    try {
      if (!reused) co_await open_connection(*impl_, *c, cfg_, request_timeout);
      bool keep = false;
      api_response r;  // (no co_await inside ?: -- GCC 12 mis-destroys its temporaries)
      if (c->tls_) {
        r = co_await do_call(*c->tls_, c->lowest(), req, request_timeout, keep);
      } else {
        r = co_await do_call(*c->tcp_, c->lowest(), req, request_timeout, keep);
      }
      if (keep && !impl_->shut && impl_->idle.size() < 4) impl_->idle.push_back(std::move(c));
      co_return r;
    } catch (const boost::system::system_error& e) {
      if (reused && !impl_->shut) continue;
      throw api_error(std::string(method) + " " + target + ": " + e.what());
    }
  }
}

awaitable<api_response> api_client::stream(std::string target,
                                           std::function<void(boost::json::value&&)> on_event,
                                           std::chrono::seconds idle_timeout) {
  if (impl_->shut) throw api_error("client shut down");
  auto req = make_request("GET", target, cfg_, bearer(), {}, {});
  connection c(*impl_, cfg_.tls);
  try {
    co_await open_connection(*impl_, c, cfg_, request_timeout);
    if (c.tls_) {
      co_return co_await do_stream(*c.tls_, c.lowest(), req, request_timeout, idle_timeout, on_event);
    }
    co_return co_await do_stream(*c.tcp_, c.lowest(), req, request_timeout, idle_timeout, on_event);
  } catch (const boost::system::system_error& e) {
    throw api_error("watch " + target + ": " + e.what());
  }
}

}  // namespace portico::watch
