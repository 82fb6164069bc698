#include "bench/upstream/session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <cctype>
#include <charconv>
#include <string_view>

namespace upstream {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

constexpr auto tok = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t chunk_size = 64 * 1024;

enum class action_kind { echo, status, bytes, chunked, close, small, stats };

struct action {
  action_kind kind = action_kind::echo;
  unsigned status = 200;
  std::uint64_t count = 0;
  unsigned delay_ms = 0;
};

struct request_info {
  std::uint64_t connection_id = 0;
  std::uint64_t request_on_connection = 0;
  std::uint64_t body_bytes = 0;
  std::string remote_addr;
};

using request_type = http::request<http::buffer_body>;

std::uint64_t to_u64(std::string_view s) {
  std::uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// "/status/503" -> "503" when `path` starts with `prefix` ("/status/").
bool take_prefix(std::string_view path, std::string_view prefix, std::string_view& rest) {
  if (path.substr(0, prefix.size()) != prefix) return false;
  rest = path.substr(prefix.size());
  rest = rest.substr(0, rest.find('/'));
  return true;
}

void apply_param(action& a, std::string_view key, std::string_view value) {
  if (key == "status") {
    a.kind = action_kind::status;
    a.status = static_cast<unsigned>(to_u64(value));
  } else if (key == "delay") {
    a.delay_ms = static_cast<unsigned>(to_u64(value));
  } else if (key == "bytes") {
    a.kind = action_kind::bytes;
    a.count = to_u64(value);
  } else if (key == "chunked") {
    a.kind = action_kind::chunked;
    a.count = to_u64(value);
  } else if (key == "close") {
    a.kind = action_kind::close;
  } else if (key == "small") {
    a.kind = action_kind::small;
  }
}

action classify(std::string_view target, const server_config& cfg) {
  action a;
  if (cfg.small_default) a.kind = action_kind::small;
  auto q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view rest;
  if (take_prefix(path, "/status/", rest)) apply_param(a, "status", rest);
  else if (take_prefix(path, "/delay/", rest)) apply_param(a, "delay", rest);
  else if (take_prefix(path, "/bytes/", rest)) apply_param(a, "bytes", rest);
  else if (take_prefix(path, "/chunked/", rest)) apply_param(a, "chunked", rest);
  else if (path == "/close") a.kind = action_kind::close;
  else if (path == "/small") a.kind = action_kind::small;
  else if (path == "/stats") a.kind = action_kind::stats;
  if (a.kind == action_kind::status && (a.status < 100 || a.status > 999)) a.status = 500;
  if (q == std::string_view::npos) return a;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    auto eq = kv.find('=');
    apply_param(a, kv.substr(0, eq), eq == std::string_view::npos ? "" : kv.substr(eq + 1));
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
  }
  return a;
}

void json_escape(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          out += b;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

std::string echo_json(const request_type& req, const request_info& info, const server_config& cfg) {
  std::string out;
  out.reserve(512);
  out += "{\"name\":";
  json_escape(out, cfg.name);
  out += ",\"method\":";
  json_escape(out, req.method_string());
  out += ",\"target\":";
  json_escape(out, req.target());
  out += ",\"http_version\":\"";
  out += std::to_string(req.version() / 10) + "." + std::to_string(req.version() % 10);
  out += "\",\"headers\":[";
  bool first = true;
  for (const auto& f : req) {
    out += first ? "[" : ",[";
    first = false;
    json_escape(out, f.name_string());
    out += ',';
    json_escape(out, f.value());
    out += ']';
  }
  out += "],\"body_bytes\":" + std::to_string(info.body_bytes);
  out += ",\"remote_addr\":";
  json_escape(out, info.remote_addr);
  out += ",\"connection_id\":" + std::to_string(info.connection_id);
  out += ",\"request_on_connection\":" + std::to_string(info.request_on_connection);
  out += "}\n";
  return out;
}

bool status_has_body(unsigned status) {
  return !(status < 200 || status == 204 || status == 304);
}

template <class Body>
void common_headers(http::response<Body>& res, const request_type& req, const server_config& cfg) {
  res.set(http::field::server, "portico-upstream");
  res.set("X-Upstream-Name", cfg.name);
  res.keep_alive(req.keep_alive());
}

asio::awaitable<bool> write_string(tcp::socket& sock, const request_type& req, unsigned status,
                                   std::string body, std::string_view content_type,
                                   const server_config& cfg) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  common_headers(res, req, cfg);
  if (status_has_body(status)) {
    res.set(http::field::content_type, content_type);
    std::size_t len = body.size();
    if (req.method() != http::verb::head) res.body() = std::move(body);
    res.content_length(len);
  }
  auto [ec, n] = co_await http::async_write(sock, res, tok);
  co_return !ec && res.keep_alive();
}

// /bytes/N and /chunked/N: N bytes of 'x' from one fixed buffer.
asio::awaitable<bool> write_stream(tcp::socket& sock, const request_type& req, const action& a,
                                   const server_config& cfg) {
  http::response<http::buffer_body> res{http::status::ok, 11};
  common_headers(res, req, cfg);
  res.set(http::field::content_type, "application/octet-stream");
  if (a.kind == action_kind::chunked) res.chunked(true);
  else res.content_length(a.count);
  bool head = req.method() == http::verb::head;
  res.body().data = nullptr;
  res.body().more = !head && a.count > 0;
  http::response_serializer<http::buffer_body> sr{res};
  auto [ec, n] = co_await http::async_write_header(sock, sr, tok);
  if (ec) co_return false;
  static const std::string fill(chunk_size, 'x');
  std::uint64_t left = head ? 0 : a.count;
  while (left > 0) {
    std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk_size));
    res.body().data = const_cast<char*>(fill.data());
    res.body().size = k;
    left -= k;
    res.body().more = true;
    std::tie(ec, n) = co_await http::async_write(sock, sr, tok);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return false;
  }
  res.body().data = nullptr;
  res.body().size = 0;
  res.body().more = false;
  std::tie(ec, n) = co_await http::async_write(sock, sr, tok);
  co_return !ec && res.keep_alive();
}

asio::awaitable<bool> write_small(tcp::socket& sock, const request_type& req) {
  static constexpr std::string_view keep =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n";
  static constexpr std::string_view close =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
      "Connection: close\r\n\r\nok\n";
  bool ka = req.keep_alive();
  auto msg = ka ? keep : close;
  if (req.method() == http::verb::head) msg = msg.substr(0, msg.size() - 3);
  auto [ec, n] = co_await asio::async_write(sock, asio::buffer(msg), tok);
  co_return !ec && ka;
}

asio::awaitable<bool> respond(tcp::socket& sock, const request_type& req, const action& a,
                              const request_info& info, shared_state& st) {
  if (a.delay_ms > 0) {
    asio::steady_timer t(sock.get_executor(), std::chrono::milliseconds(a.delay_ms));
    co_await t.async_wait(tok);
  }
  switch (a.kind) {
    case action_kind::close:
      co_return false;
    case action_kind::small:
      co_return co_await write_small(sock, req);
    case action_kind::bytes:
    case action_kind::chunked:
      co_return co_await write_stream(sock, req, a, st.cfg);
    case action_kind::stats: {
      std::string body = "{\"connections\":" + std::to_string(st.connections.load()) +
                         ",\"open_connections\":" + std::to_string(st.open_connections.load()) +
                         ",\"requests\":" + std::to_string(st.requests.load()) + "}\n";
      co_return co_await write_string(sock, req, 200, std::move(body), "application/json", st.cfg);
    }
    case action_kind::status:
    case action_kind::echo:
      break;
  }
  co_return co_await write_string(sock, req, a.status, echo_json(req, info, st.cfg),
                                  "application/json", st.cfg);
}

// Reads the body through a fixed buffer, counting bytes. Returns false on a read error.
asio::awaitable<bool> drain_body(tcp::socket& sock, beast::flat_buffer& buf,
                                 http::request_parser<http::buffer_body>& p, std::uint64_t& n) {
  static thread_local std::vector<char> scratch(chunk_size);
  while (!p.is_done()) {
    p.get().body().data = scratch.data();
    p.get().body().size = scratch.size();
    auto [ec, got] = co_await http::async_read(sock, buf, p, tok);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return false;
    n += scratch.size() - p.get().body().size;
  }
  co_return true;
}

asio::awaitable<void> websocket_echo(tcp::socket sock, const request_type& req) {
  websocket::stream<tcp::socket> ws(std::move(sock));
  auto [ec] = co_await ws.async_accept(req, tok);
  if (ec) co_return;
  beast::flat_buffer b;
  for (;;) {
    auto [rec, n] = co_await ws.async_read(b, tok);
    if (rec) co_return;
    ws.text(ws.got_text());
    auto [wec, m] = co_await ws.async_write(b.data(), tok);
    if (wec) co_return;
    b.consume(b.size());
  }
}

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
  return true;
}

// The benchmark request, answered without building a parser: "GET /small HTTP/1.1" with no
// body, no upgrade and no Connection header other than keep-alive. Returns the length of the
// request head when it applies, 0 otherwise (the full Beast path then handles it).
std::size_t small_fast_path(std::string_view data) {
  static constexpr std::string_view line = "GET /small HTTP/1.1\r\n";
  if (data.substr(0, line.size()) != line) return 0;
  auto end = data.find("\r\n\r\n");
  if (end == std::string_view::npos) return 0;
  std::string_view fields = data.substr(line.size(), end + 2 - line.size());
  while (!fields.empty()) {
    auto eol = fields.find("\r\n");
    std::string_view f = fields.substr(0, eol);
    fields.remove_prefix(eol + 2);
    auto colon = f.find(':');
    if (colon == std::string_view::npos) return 0;
    std::string_view name = f.substr(0, colon);
    std::string_view value = f.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    if (iequal(name, "connection")) {
      if (!value.empty() && !iequal(value, "keep-alive")) return 0;
    } else if (iequal(name, "content-length") || iequal(name, "transfer-encoding") ||
               iequal(name, "upgrade") || iequal(name, "expect")) {
      return 0;
    }
  }
  return end + 4;
}

struct open_guard {
  shared_state& st;
  explicit open_guard(shared_state& s) : st(s) { ++st.open_connections; }
  ~open_guard() { --st.open_connections; }
};

asio::awaitable<void> session(tcp::socket sock, shared_state& st) {
  open_guard guard(st);
  request_info info;
  info.connection_id = ++st.connections;
  boost::system::error_code ec;
  sock.set_option(tcp::no_delay(true), ec);
  auto remote = sock.remote_endpoint(ec);
  if (!ec) info.remote_addr = remote.address().to_string() + ":" + std::to_string(remote.port());
  beast::flat_buffer buf;
  for (;;) {
    if (buf.size() == 0) {
      auto [rec, n] = co_await sock.async_read_some(buf.prepare(16 * 1024), tok);
      if (rec) break;
      buf.commit(n);
    }
    std::string_view data{static_cast<const char*>(buf.data().data()), buf.size()};
    if (std::size_t head = small_fast_path(data)) {
      buf.consume(head);
      ++info.request_on_connection;
      ++st.requests;
      static constexpr std::string_view ok =
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n";
      auto [wec, m] = co_await asio::async_write(sock, asio::buffer(ok), tok);
      if (wec) break;
      continue;
    }
    http::request_parser<http::buffer_body> p;
    p.header_limit(1024 * 1024);
    p.body_limit(boost::none);
    auto [rec, n] = co_await http::async_read_header(sock, buf, p, tok);
    if (rec) break;
    auto& req = p.get();
    ++info.request_on_connection;
    ++st.requests;
    if (websocket::is_upgrade(req)) {
      co_await websocket_echo(std::move(sock), req);
      co_return;
    }
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
      auto [wec, m] = co_await asio::async_write(sock, asio::buffer(cont), tok);
      if (wec) break;
    }
    info.body_bytes = 0;
    if (!co_await drain_body(sock, buf, p, info.body_bytes)) break;
    if (!co_await respond(sock, req, classify(req.target(), st.cfg), info, st)) break;
  }
  sock.shutdown(tcp::socket::shutdown_send, ec);
  sock.close(ec);
}

}  // namespace

void spawn_session(tcp::socket sock, shared_state& st) {
  auto ex = sock.get_executor();
  asio::co_spawn(ex, session(std::move(sock), st), asio::detached);
}

}  // namespace upstream
