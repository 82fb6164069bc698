#include "proxy/header_rewrite.hpp"
#include "proxy/ascii.hpp"


#include <charconv>
#include <cstring>

#include "proxy/request_check.hpp"
#include "proxy/request_target.hpp"

namespace portico::proxy {

namespace {

using F = http_field;

using ascii::iequals;
using ascii::lower;

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}


bool is_forwarding(const header_field& f) {
  if (f.name == F::expect) return true;  // 100-continue is answered by the proxy itself
  if (f.name != F::unknown) return false;
  const auto n = f.name_text;
  return iequals(n, "x-forwarded-for") || iequals(n, "x-forwarded-proto") ||
         iequals(n, "x-forwarded-host") || iequals(n, "x-forwarded-port") ||
         iequals(n, "x-real-ip") || iequals(n, "x-request-id") || iequals(n, "x-scheme");
}

// Copies n bytes: header names and most values are short, and a call of memcpy for each
// (its dispatch, then its size classes) cost more than the copy. Fixed-size memcpy compiles
// to plain loads and stores; two of them may overlap.
inline void copy_bytes(char* dst, const char* src, std::size_t n) {
  if (n >= 8) {
    if (n > 16) {
      std::memcpy(dst, src, n);
      return;
    }
    std::memcpy(dst, src, 8);
    std::memcpy(dst + n - 8, src + n - 8, 8);
  } else if (n >= 4) {
    std::memcpy(dst, src, 4);
    std::memcpy(dst + n - 4, src + n - 4, 4);
  } else if (n > 0) {
    dst[0] = src[0];
    dst[n / 2] = src[n / 2];
    dst[n - 1] = src[n - 1];
  }
}

// Fields gathered and written with one resize of the head for all of them: a request head
// got a resize (a capacity check and a fill of the new bytes) per field, 10 or more each
// (bench/callgrind.sh: append_field 1,104 of 22,260 instructions per keep-alive request).
// The start line, the framing fields and the blank line go in the same batch as raw text
// (each append of its own cost a capacity check and a call of memcpy).
class field_batch {
 public:
  explicit field_batch(std::string& out) : out_(out) {}
  field_batch(const field_batch&) = delete;
  field_batch& operator=(const field_batch&) = delete;
  ~field_batch() { flush(); }

  // "name: value\r\n"
  void add(std::string_view name, std::string_view value) {
    if (n_ == max_entries) flush();
    entries_[n_++] = {name.data(), name.size(), value.data(), value.size(), true};
    bytes_ += name.size() + value.size() + 4;
  }

  // `text` as it is.
  void raw(std::string_view text) {
    if (n_ == max_entries) flush();
    entries_[n_++] = {text.data(), text.size(), nullptr, 0, false};
    bytes_ += text.size();
  }

  void flush() {
    if (n_ == 0) return;
    const std::size_t old = out_.size();
    out_.resize(old + bytes_);
    char* p = out_.data() + old;
    for (std::size_t i = 0; i < n_; ++i) {
      const entry& e = entries_[i];
      copy_bytes(p, e.a, e.an);
      p += e.an;
      if (!e.field) continue;
      *p++ = ':';
      *p++ = ' ';
      copy_bytes(p, e.b, e.bn);
      p += e.bn;
      *p++ = '\r';
      *p++ = '\n';
    }
    n_ = 0;
    bytes_ = 0;
  }

 private:
  // Trivial (no initializers): the array is not filled when a batch is made; the pairs of
  // string_views it replaced were zeroed, 768 bytes written per head.
  struct entry {
    const char* a;
    std::size_t an;
    const char* b;
    std::size_t bn;
    bool field;
  };
  static constexpr std::size_t max_entries = 32;
  std::string& out_;
  entry entries_[max_entries];
  std::size_t n_ = 0;
  std::size_t bytes_ = 0;
};

// The decimal digits of v in buf (at least 20 bytes).
std::string_view decimal(char* buf, std::uint64_t v) {
  auto r = std::to_chars(buf, buf + 20, v);
  return {buf, static_cast<std::size_t>(r.ptr - buf)};
}

void append_number(std::string& out, std::uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}


}  // namespace

// Hop-by-hop and framing fields never copied from one side to the other.
bool is_hop_by_hop(const header_field& f) {
  switch (f.name) {
    case F::connection:
    case F::keep_alive:
    case F::te:
    case F::trailer:
    case F::transfer_encoding:
    case F::content_length:
    case F::upgrade:
    case F::proxy_connection:
    case F::proxy_authorization:
    case F::proxy_authenticate:
    case F::http2_settings:  // belongs to an h2c upgrade, which is never forwarded
      return true;
    case F::unknown:
      return istarts_with(f.name_text, "proxy-");
    default:
      return false;
  }
}

void connection_tokens::clear() { *this = connection_tokens{}; }

void connection_tokens::add_list(std::string_view value) {
  while (!value.empty()) {
    auto comma = value.find(',');
    auto tok = trim(value.substr(0, comma));
    value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
    if (tok.empty()) continue;
    if (iequals(tok, "close")) close = true;
    else if (iequals(tok, "keep-alive")) keep_alive = true;
    else if (iequals(tok, "upgrade")) upgrade = true;
    if (count_ < tokens_.size()) tokens_[count_++] = tok;
    else overflow_ = true;
  }
}

bool connection_tokens::names(std::string_view header_name) const {
  for (std::size_t i = 0; i < count_; ++i)
    if (iequals(tokens_[i], header_name)) return true;
  return overflow_;
}

void message_head::clear() {
  fields.clear();
  conn.clear();
  host = x_forwarded_for = x_forwarded_proto = x_forwarded_host = {};
  x_forwarded_port = x_real_ip = x_request_id = upgrade = {};
  expect_continue = has_content_length = has_transfer_encoding = other_transfer_coding = false;
  host_count = 0;
}

void message_head::release() {
  clear();
  fields.shrink_to_fit();
}

head_error note_request_field(message_head& h, const header_field& f) {
  if (h.fields.capacity() == 0) h.fields.reserve(1024 / sizeof(header_field));
  h.fields.push_back(f);
  switch (f.name) {
    case F::host:
      h.host = f.value;
      if (++h.host_count > 1) return head_error::bad_host;
      return head_error::none;
    case F::connection:
    case F::proxy_connection:
      h.conn.add_list(f.value);
      return head_error::none;
    case F::content_length:
      if (h.has_content_length || h.has_transfer_encoding || !parse_content_length(f.value))
        return head_error::bad_content_length;
      h.has_content_length = true;
      return head_error::none;
    case F::transfer_encoding: {
      if (h.has_transfer_encoding || h.has_content_length) return head_error::bad_transfer_encoding;
      h.has_transfer_encoding = true;
      switch (classify_transfer_coding(f.value)) {
        case transfer_coding::chunked: return head_error::none;
        case transfer_coding::unsupported: return head_error::unsupported_transfer_coding;
        case transfer_coding::invalid: break;
      }
      return head_error::bad_transfer_encoding;
    }
    case F::upgrade:
      h.upgrade = f.value;
      return head_error::none;
    case F::expect:
      h.expect_continue = iequals(trim(f.value), "100-continue");
      return head_error::none;
    case F::unknown: break;
    default: return head_error::none;
  }
  const auto n = f.name_text;
  if (n.size() < 9 || lower(n[0]) != 'x' || n[1] != '-') return head_error::none;
  if (iequals(n, "x-forwarded-for")) h.x_forwarded_for = f.value;
  else if (iequals(n, "x-forwarded-proto")) h.x_forwarded_proto = f.value;
  else if (iequals(n, "x-forwarded-host")) h.x_forwarded_host = f.value;
  else if (iequals(n, "x-forwarded-port")) h.x_forwarded_port = f.value;
  else if (iequals(n, "x-real-ip")) h.x_real_ip = f.value;
  else if (iequals(n, "x-request-id")) h.x_request_id = f.value;
  return head_error::none;
}

void note_response_field(message_head& h, const header_field& f) {
  if (h.fields.capacity() == 0) h.fields.reserve(1024 / sizeof(header_field));
  h.fields.push_back(f);
  if (f.name == F::connection || f.name == F::proxy_connection) {
    h.conn.add_list(f.value);
  } else if (f.name == F::upgrade) {
    h.upgrade = f.value;
  } else if (f.name == F::transfer_encoding) {
    if (h.has_transfer_encoding || !is_plain_chunked(f.value)) h.other_transfer_coding = true;
    h.has_transfer_encoding = true;
  } else if (f.name == F::content_length) {
    h.has_content_length = true;
  }
}

bool allowed_in_trailer(const header_field& f) {
  if (is_hop_by_hop(f)) return false;
  switch (f.name) {
    case F::host:
    case F::authorization:
    case F::cookie:
    case F::set_cookie:
    case F::content_type:
    case F::content_encoding:
    case F::content_range:
    case F::content_location:
    case F::expect:
    case F::range:
    case F::location:
    case F::www_authenticate:
    case F::cache_control:
    case F::max_forwards:
      return false;
    default:
      return true;
  }
}

bool has_underscore(std::string_view name) {
  return !name.empty() && std::memchr(name.data(), '_', name.size()) != nullptr;
}

std::string_view real_client_ip(const message_head& h, const forward_params& p) {
  if (!p.peer_trusted || p.forwarded_for.empty()) return p.peer_ip;
  std::string_view list = p.forwarded_for, last;
  while (!list.empty()) {
    auto comma = list.rfind(',');
    auto entry = trim(comma == std::string_view::npos ? list : list.substr(comma + 1));
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(0, comma);
    if (entry.empty()) continue;
    last = entry;
    if (p.trusted == nullptr || !p.trusted->contains(entry)) return entry;
  }
  return last.empty() ? p.peer_ip : last;
}

namespace {

bool is_set_by(const std::vector<std::pair<std::string_view, std::string_view>>* set,
               std::string_view name) {
  if (set == nullptr) return false;
  for (const auto& [n, v] : *set)
    if (iequals(n, name)) return true;
  return false;
}

}  // namespace

void write_upstream_request(std::string& out, std::string_view method, std::string_view target,
                            const message_head& h, const forward_params& p) {
  char num[24];  // (before the batch: its views must outlive it)
  field_batch batch(out);
  batch.raw(method);
  batch.raw(" ");
  batch.raw(target);
  batch.raw(p.http_version == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
  bool saw_host = false;
  const std::string_view host_value = !p.upstream_host.empty() ? p.upstream_host : p.host_override;
  for (const auto& f : h.fields) {
    if (is_hop_by_hop(f) || is_forwarding(f)) continue;
    if (f.name == F::unknown) {
      if (h.conn.names(f.name_text)) continue;
      if (!p.allow_underscores && has_underscore(f.name_text)) continue;
    }
    if (is_set_by(p.set_headers, f.name_text)) continue;
    if (f.name == F::host) {
      if (saw_host) continue;
      saw_host = true;
      batch.add(f.name_text, host_value.empty() ? f.value : host_value);
      continue;
    }
    batch.add(f.name_text, f.value);
  }
  if (!saw_host) batch.add("Host", host_value.empty() ? p.fallback_host : host_value);
  const bool trust = p.peer_trusted;
  const std::string_view real_ip = real_client_ip(h, p);
  if (p.compute_full_forwarded_for) {
    batch.raw("X-Forwarded-For: ");
    // ingress-nginx appends to the client's X-Forwarded-For whatever forwarded-for-header is.
    if (trust && !h.x_forwarded_for.empty()) {
      batch.raw(h.x_forwarded_for);
      batch.raw(", ");
    }
    batch.raw(p.peer_ip);
    batch.raw("\r\n");
  } else {
    batch.add("X-Forwarded-For", real_ip);
  }
  batch.add("X-Real-IP", real_ip);
  const auto proto = trust && !h.x_forwarded_proto.empty() ? h.x_forwarded_proto : p.scheme;
  batch.add("X-Forwarded-Proto", proto);
  const auto host = p.host_override.empty() ? h.host : p.host_override;
  // A trusted proxy's X-Forwarded-Host is passed on only when it is a valid host: never a
  // value the session itself would refuse as Host.
  batch.add("X-Forwarded-Host",
            trust && valid_host_value(trim(h.x_forwarded_host)) ? trim(h.x_forwarded_host) : host);
  batch.add("X-Forwarded-Port",
            trust && !h.x_forwarded_port.empty() ? h.x_forwarded_port : p.server_port);
  batch.add("X-Scheme", proto);
  batch.add("X-Request-ID", p.request_id);
  // An empty value removes the field (nginx's proxy_set_header "").
  if (p.set_headers != nullptr)
    for (const auto& [name, value] : *p.set_headers)
      if (!value.empty()) batch.add(name, value);
  if (p.add_headers != nullptr)
    for (const auto& [name, value] : *p.add_headers) batch.add(name, value);
  if (p.framing == body_framing::length) batch.add("Content-Length", decimal(num, p.content_length));
  else if (p.framing == body_framing::chunked) batch.raw("Transfer-Encoding: chunked\r\n");
  if (!p.upgrade.empty()) {
    batch.raw("Connection: upgrade\r\n");
    batch.add("Upgrade", p.upgrade);
  } else if (!p.connection.empty()) {
    batch.add("Connection", p.connection);
  }
  batch.raw("\r\n");
  batch.flush();
}

namespace {

// HEAD/304 responses: the upstream's framing headers, validated and passed on once.
void append_no_body_framing(std::string& out, const message_head& h, unsigned status) {
  if (status < 200 || status == 204) return;  // never in 1xx/204 (RFC 9110 8.6, 9112 6.1)
  bool chunked = false, te_bad = false, cl_bad = false, have_cl = false;
  std::uint64_t cl = 0;
  for (const auto& f : h.fields) {
    if (f.name == F::transfer_encoding) {
      if (chunked || !is_plain_chunked(f.value)) te_bad = true;
      chunked = true;
    } else if (f.name == F::content_length) {
      std::string_view list = f.value;  // "5, 5" is one value sent twice (RFC 9110 8.6)
      while (!list.empty()) {
        const auto comma = list.find(',');
        const auto v = parse_content_length(list.substr(0, comma));
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        if (!v || (have_cl && *v != cl)) cl_bad = true;
        else cl = *v, have_cl = true;
      }
    }
  }
  if (chunked) {
    if (!te_bad) out.append("Transfer-Encoding: chunked\r\n", 28);
    return;  // never both
  }
  if (have_cl && !cl_bad) {
    out.append("Content-Length: ", 16);
    append_number(out, cl);
    out.append("\r\n", 2);
  }
}

}  // namespace

std::string_view forwarded_for_value(const message_head& h, std::string_view header) {
  if (iequals(header, "X-Forwarded-For")) return h.x_forwarded_for;
  for (const auto& f : h.fields)
    if (iequals(f.name_text, header)) return f.value;
  return {};
}

void write_client_response(std::string& out, const message_head& h, const response_params& p) {
  char status[24], num[24];  // (before the batch: its views must outlive it)
  field_batch batch(out);
  batch.raw("HTTP/1.1 ");
  batch.raw(decimal(status, p.status));
  batch.raw(" ");
  batch.raw(p.reason.empty() ? reason_phrase(p.status) : p.reason);
  batch.raw("\r\n");
  for (const auto& f : h.fields) {
    if (is_hop_by_hop(f)) continue;
    if (f.name == F::unknown && (h.conn.names(f.name_text) || iequals(f.name_text, "x-request-id")))
      continue;
    if (f.name == F::strict_transport_security && !p.hsts.empty()) continue;
    if (is_set_by(p.set_headers, f.name_text)) continue;
    batch.add(f.name_text, f.value);
  }
  if (p.set_headers != nullptr)
    for (const auto& [name, value] : *p.set_headers)
      if (!value.empty()) batch.add(name, value);
  if (p.add_headers != nullptr)
    for (const auto& [name, value] : *p.add_headers) batch.add(name, value);
  if (!p.set_cookie.empty()) batch.add("Set-Cookie", p.set_cookie);
  if (!p.extra_lines.empty()) batch.raw(p.extra_lines);
  if (!p.request_id.empty()) batch.add("X-Request-ID", p.request_id);
  if (!p.hsts.empty()) batch.add("Strict-Transport-Security", p.hsts);
  if (p.no_body) {
    batch.flush();
    append_no_body_framing(out, h, p.status);
  } else if (p.framing == body_framing::length) {
    batch.add("Content-Length", decimal(num, p.content_length));
  } else if (p.framing == body_framing::chunked) {
    batch.raw("Transfer-Encoding: chunked\r\n");
  }
  if (p.upgrade) {
    batch.raw("Connection: upgrade\r\n");
    batch.add("Upgrade", h.upgrade);
  } else if (!p.keep_alive) {
    batch.raw("Connection: close\r\n");
  } else if (p.client_http10) {
    batch.raw("Connection: keep-alive\r\n");
  }
  batch.raw("\r\n");
  batch.flush();
}

std::string_view reason_phrase(unsigned status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
  }
}

void append_status_line(std::string& out, unsigned status, std::string_view reason) {
  out.append("HTTP/1.1 ", 9);
  append_number(out, status);
  out.append(" ", 1).append(reason.empty() ? reason_phrase(status) : reason).append("\r\n", 2);
}

}  // namespace portico::proxy
