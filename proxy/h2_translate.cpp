#include "proxy/h2_translate.hpp"

#include <charconv>

#include "proxy/ascii.hpp"
#include "proxy/h2_mem.hpp"

namespace portico::proxy {

namespace {

// Bytes that would end a line or a field in the HTTP/1.1 text (nghttp2 refuses them already,
// RFC 9113 8.2.1; checked again because the text is parsed once more).
bool safe_value(std::string_view v) {
  for (unsigned char c : v)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

bool safe_name(std::string_view n) {
  if (n.empty()) return false;
  for (unsigned char c : n)
    if (c <= 0x20 || c >= 0x7f || c == ':' || (c >= 'A' && c <= 'Z')) return false;
  return true;
}

// RFC 9113 8.2.2: fields that only have meaning on one HTTP/1.1 connection.
bool connection_specific(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
         name == "transfer-encoding" || name == "upgrade";
}

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

}  // namespace

bool h2_trailer_field_ok(std::string_view name, std::string_view value) {
  return safe_name(name) && safe_value(value) && !connection_specific(name) && name != "te";
}

h2_request_builder::h2_request_builder(std::size_t max_list_size) : max_(max_list_size) {
  h2_spares<std::string>::take(path_);
  h2_spares<std::string>::take(lines_);
}

h2_request_builder::~h2_request_builder() {
  h2_spares<std::string>::give(path_);
  h2_spares<std::string>::give(lines_);
  h2_spares<std::string>::give(authority_);
  h2_spares<std::string>::give(cookie_);
}

void h2_request_builder::add(std::string_view name, std::string_view value) {
  size_ += name.size() + value.size() + 32;
  if (size_ > max_ || bad_) return;
  if (!safe_value(value)) {
    bad_ = true;
    return;
  }
  if (!name.empty() && name.front() == ':') {
    std::string* slot = nullptr;
    if (name == ":method") slot = &method_;
    else if (name == ":scheme") slot = &scheme_;
    else if (name == ":authority") slot = &authority_;
    else if (name == ":path") slot = &path_;
    if (slot == nullptr || !slot->empty()) bad_ = true;  // unknown or repeated (RFC 9113 8.3)
    else slot->assign(value);
    return;
  }
  if (!safe_name(name) || connection_specific(name)) {
    bad_ = true;
    return;
  }
  if (name == "cookie") {
    // RFC 9113 8.2.3: crumbs are joined with "; " before an HTTP/1.1 hop.
    if (!cookie_.empty()) cookie_.append("; ");
    cookie_.append(value);
    return;
  }
  if (name == "host") {
    ++host_count_;
    host_.assign(value);
    return;
  }
  if (name == "te") {  // only "trailers" passes nghttp2; it is hop-by-hop, not sent upstream
    te_trailers_ = true;
    return;
  }
  if (name == "content-type") grpc_ = ascii::istarts_with(value, "application/grpc");
  if (name == "content-length") has_length_ = true;
  if (lines_.capacity() < 256) lines_.reserve(256);  // one allocation for a usual head
  lines_.append(name).append(": ").append(value).append("\r\n");
}

h2_head_status h2_request_builder::finish(bool end_stream, std::string& out, bool& chunked) const {
  if (size_ > max_) return h2_head_status::too_large;
  if (bad_ || method_.empty()) return h2_head_status::malformed;
  if (method_ == "CONNECT") return h2_head_status::not_supported;
  // RFC 9113 8.3.1: :scheme and :path are required outside CONNECT; :path is not empty.
  if (scheme_.empty() || path_.empty()) return h2_head_status::malformed;
  if (host_count_ > 1) return h2_head_status::malformed;
  // The authority is :authority, else Host; a Host that names another authority is refused
  // (RFC 9113 8.3.1 lets the server treat it as malformed).
  std::string_view authority = authority_;
  if (authority.empty()) authority = host_;
  else if (host_count_ == 1 && !ascii::iequals(host_, authority_)) return h2_head_status::malformed;
  if (authority.empty()) return h2_head_status::malformed;
  for (char c : method_)
    if (c <= 0x20 || c >= 0x7f) return h2_head_status::malformed;
  for (char c : path_)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return h2_head_status::malformed;
  out.clear();
  out.reserve(method_.size() + path_.size() + authority.size() + lines_.size() + cookie_.size() + 80);
  out.append(method_).append(" ").append(path_).append(" HTTP/1.1\r\nhost: ").append(authority);
  out.append("\r\n").append(lines_);
  if (!cookie_.empty()) out.append("cookie: ").append(cookie_).append("\r\n");
  chunked = !end_stream && !has_length_;
  if (chunked) out.append("transfer-encoding: chunked\r\n");
  out.append("\r\n");
  return h2_head_status::ok;
}

// ---------------------------------------------------------------- response

h1_response_reader::h1_response_reader(bool head_request) : head_request_(head_request) {
  h2_spares<std::string>::take(head_);
  h2_spares<decltype(fields_)>::take(fields_);
}

h1_response_reader::~h1_response_reader() {
  h2_spares<std::string>::give(head_);
  h2_spares<decltype(fields_)>::give(fields_);
  h2_spares<decltype(trailers_)>::give(trailers_);
  h2_spares<std::string>::give(line_);
}

// The fields are views into head_, kept while the reader lives (bench/callgrind.sh --grpc:
// four allocations per call fewer).
bool h1_response_reader::parse_head(std::size_t end) {
  // "HTTP/1.1 NNN reason\r\n" then fields; `head` ends before the blank line's CRLF.
  std::string_view head(head_.data(), end);
  auto eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  if (line.size() < 12 || !line.starts_with("HTTP/1.")) return false;
  unsigned code = 0;
  auto [p, ec] = std::from_chars(line.data() + 9, line.data() + 12, code);
  if (ec != std::errc{} || p != line.data() + 12 || code < 100 || code > 599) return false;
  status_ = code;
  fields_.clear();
  fields_.reserve(16);
  bool chunked = false;
  bool has_length = false;
  std::uint64_t length = 0;
  head = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);
  while (!head.empty()) {
    eol = head.find("\r\n");
    line = head.substr(0, eol);
    head = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    char* const at = head_.data() + (line.data() - head_.data());  // lower-cased in place
    for (std::size_t i = 0; i < colon; ++i) at[i] = ascii::lower(at[i]);
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (name == "transfer-encoding") {
      chunked = ascii::iequals(value, "chunked");
      if (!chunked) return false;  // the session writes no other coding
      continue;
    }
    if (connection_specific(name)) continue;
    if (name == "content-length") {
      auto [q, e] = std::from_chars(value.data(), value.data() + value.size(), length);
      if (e != std::errc{} || q != value.data() + value.size()) return false;
      has_length = true;
    }
    fields_.emplace_back(name, value);
  }
  if (status_ < 200) return true;
  if (head_request_ || status_ == 204 || status_ == 304) mode_ = body_mode::none;
  else if (chunked) mode_ = body_mode::chunked;
  else if (has_length) mode_ = body_mode::length;
  else mode_ = body_mode::until_close;
  left_ = has_length && !chunked ? length : 0;
  if (chunked) {
    // The length of a re-framed body is not known: drop a stale content-length.
    std::erase_if(fields_, [](const auto& f) { return f.first == "content-length"; });
  }
  return true;
}

void h1_response_reader::feed(std::string_view in, std::string& body) {
  while (!in.empty() && st_ != state::error && st_ != state::done) {
    if (st_ == state::head) {
      const std::size_t before = head_.size();
      head_.append(in);
      const auto end = head_.find("\r\n\r\n", before >= 3 ? before - 3 : 0);
      if (end == std::string::npos) {
        if (head_.size() > 256 * 1024) st_ = state::error;
        return;
      }
      const std::size_t used = end + 4 - before;
      in.remove_prefix(used);
      head_.resize(end);  // fields_ view it from here on
      if (head_.capacity() > 4096 && head_.capacity() > 2 * end) head_.shrink_to_fit();  // a body came along
      if (!parse_head(end)) {
        st_ = state::error;
        return;
      }
      if (status_ == 101) {
        st_ = state::error;  // no tunnel on an HTTP/2 stream
        return;
      }
      if (status_ < 200) {  // 100 Continue and the like: the final head follows
        fields_.clear();
        head_.clear();
        continue;
      }
      st_ = state::body;
      if (mode_ == body_mode::none || (mode_ == body_mode::length && left_ == 0)) st_ = state::done;
      continue;
    }
    switch (mode_) {
      case body_mode::length: {
        const std::size_t n = in.size() < left_ ? in.size() : static_cast<std::size_t>(left_);
        body.append(in.substr(0, n));
        left_ -= n;
        in.remove_prefix(n);
        if (left_ == 0) st_ = state::done;
        break;
      }
      case body_mode::until_close:
        body.append(in);
        in = {};
        break;
      case body_mode::chunked: in.remove_prefix(feed_chunked(in, body)); break;
      case body_mode::none: st_ = state::done; break;
    }
  }
  if (st_ == state::done && !in.empty()) st_ = state::error;  // bytes after the response
}

std::size_t h1_response_reader::feed_chunked(std::string_view in, std::string& body) {
  std::size_t used = 0;
  while (used < in.size() && st_ == state::body) {
    std::string_view rest = in.substr(used);
    if (cs_ == chunk_state::data) {
      const std::size_t n = rest.size() < left_ ? rest.size() : static_cast<std::size_t>(left_);
      body.append(rest.substr(0, n));
      left_ -= n;
      used += n;
      if (left_ == 0) cs_ = chunk_state::data_crlf;
      continue;
    }
    // A line: chunk size, the CRLF after data, or a trailer line.
    const auto eol = rest.find('\n');
    line_.append(rest.substr(0, eol));
    if (eol == std::string_view::npos) {
      used = in.size();
      if (line_.size() > 4096) st_ = state::error;
      break;
    }
    used += eol + 1;
    std::string_view line = line_;
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (cs_ == chunk_state::data_crlf) {
      if (!line.empty()) st_ = state::error;
      cs_ = chunk_state::size;
    } else if (cs_ == chunk_state::size) {
      std::string_view digits = line.substr(0, line.find(';'));
      auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), left_, 16);
      if (ec != std::errc{} || digits.empty()) st_ = state::error;
      cs_ = left_ == 0 ? chunk_state::trailer : chunk_state::data;
    } else if (line.empty()) {  // the end of the trailer section
      st_ = state::done;
    } else if (!add_trailer(line)) {
      st_ = state::error;
    }
    line_.clear();
  }
  return used;
}

// One trailer line "name: value": kept as a response field is (lower-case name, no
// connection-specific field: RFC 9113 8.2.2; a pseudo-header name cannot come out of HTTP/1.1).
bool h1_response_reader::add_trailer(std::string_view line) {
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string name(line.substr(0, colon));
  for (char& c : name) c = ascii::lower(c);
  if (!safe_name(name)) return false;
  if (connection_specific(name) || name == "te" || name == "content-length") return true;
  if (trailers_.size() >= 256) return false;
  if (trailers_.capacity() == 0) {
    h2_spares<decltype(trailers_)>::take(trailers_);
    trailers_.reserve(4);  // grpc-status, grpc-message and a little more in one allocation
  }
  trailers_.emplace_back(std::move(name), std::string(trim(line.substr(colon + 1))));
  return true;
}

void h1_response_reader::end_of_input() {
  if (st_ == state::body && mode_ == body_mode::until_close) st_ = state::done;
  else if (st_ != state::done) st_ = state::error;
}

}  // namespace portico::proxy
