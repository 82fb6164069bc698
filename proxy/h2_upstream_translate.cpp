#include "proxy/h2_upstream_translate.hpp"

#include <charconv>
#include <cstdio>
#include <cstring>

#include "proxy/ascii.hpp"
#include "proxy/h2_mem.hpp"
#include "proxy/h2_translate.hpp"

namespace portico::proxy {

namespace {

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

std::string lower(std::string_view v) {
  std::string s(v);
  for (char& c : s) c = ascii::lower(c);
  return s;
}

// RFC 9113 8.2.2, plus `te`, which is sent as "trailers" whatever the request said, and Host,
// which becomes :authority.
bool dropped_request_field(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
         name == "transfer-encoding" || name == "upgrade" || name == "te" || name == "host";
}

// A "name: value" line into (lower-case name, trimmed value); false when it has no name.
bool split_field(std::string_view line, std::string& name, std::string_view& value) {
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  name = lower(line.substr(0, colon));
  value = trim(line.substr(colon + 1));
  return true;
}

}  // namespace

// ---------------------------------------------------------------- request

h1_request_reader::h1_request_reader(std::string_view scheme) : scheme_(scheme) {
  h2_spares<std::string>::take(head_);
  h2_spares<decltype(fields_)>::take(fields_);
}

h1_request_reader::~h1_request_reader() {
  h2_spares<std::string>::give(head_);
  h2_spares<decltype(fields_)>::give(fields_);
  h2_spares<decltype(trailers_)>::give(trailers_);
  h2_spares<std::string>::give(line_);
}

// The fields are views into head_, which the reader keeps: names are lower-cased in place, so
// a request costs no allocation per field (bench/callgrind.sh --grpc at 64 x 10: 11 of a
// call's allocations and about 7,000 of its instructions were this function's).
bool h1_request_reader::parse_head(std::size_t end) {
  std::string_view head(head_.data(), end);
  auto eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  const auto sp1 = line.find(' ');
  const auto sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 <= sp1 + 1 || !line.substr(sp2 + 1).starts_with("HTTP/1."))
    return false;
  fields_.clear();
  fields_.reserve(16);
  fields_.emplace_back(":method", line.substr(0, sp1));
  fields_.emplace_back(":scheme", scheme_);
  fields_.emplace_back(":authority", std::string_view{});
  fields_.emplace_back(":path", line.substr(sp1 + 1, sp2 - sp1 - 1));
  std::vector<std::string_view> named_by_connection;
  bool chunked = false;
  bool has_length = false;
  std::uint64_t length = 0;
  head = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);
  while (!head.empty()) {
    eol = head.find("\r\n");
    const std::string_view l = head.substr(0, eol);
    head = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);
    const auto colon = l.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    char* const at = head_.data() + (l.data() - head_.data());
    for (std::size_t i = 0; i < colon; ++i) at[i] = ascii::lower(at[i]);
    const std::string_view name = l.substr(0, colon);
    std::string_view value = trim(l.substr(colon + 1));
    if (name == "host") fields_[2].second = value;
    if (name == "transfer-encoding") {
      chunked = ascii::iequals(value, "chunked");
      if (!chunked) return false;  // the session writes no other coding
    }
    if (name == "connection") {
      // Fields the connection header names are hop-by-hop too (RFC 9110 7.6.1).
      while (!value.empty()) {
        const auto comma = value.find(',');
        const auto tok = trim(value.substr(0, comma));
        if (!tok.empty()) {
          char* const t = head_.data() + (tok.data() - head_.data());
          for (std::size_t i = 0; i < tok.size(); ++i) t[i] = ascii::lower(t[i]);
          named_by_connection.push_back(tok);
        }
        value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
      }
      continue;
    }
    if (dropped_request_field(name)) continue;
    if (name == "content-length") {
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
      if (ec != std::errc{} || p != value.data() + value.size()) return false;
      has_length = true;
    }
    fields_.emplace_back(name, value);
  }
  if (fields_[2].second.empty()) return false;
  std::erase_if(fields_, [&](const h2_field_view& f) {
    if (chunked && f.first == "content-length") return true;
    for (const auto& n : named_by_connection)
      if (n == f.first) return true;
    return false;
  });
  fields_.emplace_back("te", "trailers");
  if (chunked) mode_ = body_mode::chunked;
  else if (has_length && length > 0) mode_ = body_mode::length;
  else mode_ = body_mode::none;
  no_body_ = mode_ == body_mode::none;
  left_ = mode_ == body_mode::length ? length : 0;
  return true;
}

void h1_request_reader::feed(std::string_view in, std::string& body) {
  while (!in.empty() && st_ != state::error && st_ != state::done) {
    if (st_ == state::head) {
      const std::size_t before = head_.size();
      head_.append(in);
      const auto end = head_.find("\r\n\r\n", before >= 3 ? before - 3 : 0);
      if (end == std::string::npos) {
        if (head_.size() > 256 * 1024) st_ = state::error;
        return;
      }
      in.remove_prefix(end + 4 - before);
      head_.resize(end);  // the fields are views into it from here on
      if (head_.capacity() > 4096 && head_.capacity() > 2 * end) head_.shrink_to_fit();  // a body came along
      if (!parse_head(end)) {
        st_ = state::error;
        return;
      }
      st_ = mode_ == body_mode::none ? state::done : state::body;
      continue;
    }
    if (mode_ == body_mode::length) {
      const std::size_t n = in.size() < left_ ? in.size() : static_cast<std::size_t>(left_);
      body.append(in.substr(0, n));
      left_ -= n;
      in.remove_prefix(n);
      if (left_ == 0) st_ = state::done;
    } else {
      in.remove_prefix(feed_chunked(in, body));
    }
  }
  if (st_ == state::done && !in.empty()) st_ = state::error;  // bytes after the request
}

std::size_t h1_request_reader::feed_chunked(std::string_view in, std::string& body) {
  std::size_t used = 0;
  while (used < in.size() && st_ == state::body) {
    const std::string_view rest = in.substr(used);
    if (cs_ == chunk_state::data) {
      const std::size_t n = rest.size() < left_ ? rest.size() : static_cast<std::size_t>(left_);
      body.append(rest.substr(0, n));
      left_ -= n;
      used += n;
      if (left_ == 0) cs_ = chunk_state::data_crlf;
      continue;
    }
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
      const std::string_view digits = line.substr(0, line.find(';'));
      auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), left_, 16);
      if (ec != std::errc{} || digits.empty()) st_ = state::error;
      cs_ = left_ == 0 ? chunk_state::trailer : chunk_state::data;
    } else if (line.empty()) {
      st_ = state::done;
    } else {
      std::string name;
      std::string_view value;
      if (!split_field(line, name, value) || trailers_.size() >= 256) st_ = state::error;
      else if (h2_trailer_field_ok(name, value) && name != "content-length")
        trailers_.emplace_back(std::move(name), std::string(value));
    }
    line_.clear();
  }
  return used;
}

// ---------------------------------------------------------------- response

h2_response_writer::h2_response_writer() { h2_spares<std::string>::take(lines_); }

h2_response_writer::~h2_response_writer() { h2_spares<std::string>::give(lines_); }

// Each field is written as its HTTP/1.1 line at once (HTTP/2 sends pseudo-header fields
// first, so :status is known before any other field): one buffer per stream instead of two
// strings per field.
void h2_response_writer::add_field(std::string_view name, std::string_view value) {
  if (name == ":status") {
    unsigned code = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), code);
    status_ = ec == std::errc{} && p == value.data() + value.size() && value.size() == 3 ? code : 0;
    return;
  }
  if (!name.empty() && name.front() == ':') return;  // no other pseudo-header in a response
  if (head_sent_) {  // the trailer section
    if (!h2_trailer_field_ok(name, value) || name == "content-length") return;
  } else {
    if (name == "content-length" || name == "connection" || name == "transfer-encoding") return;
    if (name == "content-type") grpc_ = ascii::istarts_with(value, "application/grpc");
  }
  if (lines_.capacity() < 256) lines_.reserve(256);  // one allocation for a usual head
  lines_.append(name).append(": ").append(value).append("\r\n");
}

bool h2_response_writer::end_headers(bool end_stream, std::string& out) {
  if (head_sent_) {
    // The trailer section: the last chunk and its fields.
    out.append("0\r\n").append(lines_).append("\r\n");
    lines_.clear();
    complete_ = true;
    return true;
  }
  if (status_ < 100 || status_ > 599 || status_ == 101) return false;
  if (status_ < 200) {  // interim (100, 103): the final head follows
    status_ = 0;
    lines_.clear();
    grpc_ = false;
    return true;
  }
  char line[32];
  std::memcpy(line, "HTTP/1.1 ", 9);
  h2_status_digits(status_, line + 9);
  std::memcpy(line + 12, " \r\n", 3);
  out.append(line, 15).append(lines_);
  lines_.clear();
  // A body re-framed as chunks (its trailers ride in the chunked trailer section); a HEADERS
  // frame that ends the stream is the whole response.
  out.append(end_stream ? "content-length: 0\r\n\r\n" : "transfer-encoding: chunked\r\n\r\n");
  head_sent_ = true;
  complete_ = end_stream;
  return true;
}

void h2_response_writer::data(std::string_view payload, std::string& out) {
  if (payload.empty() || !head_sent_ || complete_) return;
  char size[24];
  out.append(size, h2_chunk_size_line(payload.size(), size)).append(payload).append("\r\n");
}

void h2_response_writer::end_stream(std::string& out) {
  if (!head_sent_ || complete_) return;
  out.append("0\r\n\r\n");
  complete_ = true;
}

}  // namespace portico::proxy
