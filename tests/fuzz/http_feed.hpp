// Driving the proxy's Beast parsers (proxy/http_parser.hpp) the way a session does: bytes
// arrive in pieces, put() is called over everything buffered and not yet consumed.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

#include <algorithm>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "proxy/http_parser.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace portico::fuzz {

namespace http = boost::beast::http;
using error_code = boost::beast::error_code;

// Sizes of the pieces in which bytes arrive: 1..max, from a small generator seeded by the input.
class piece_plan {
 public:
  piece_plan(std::uint32_t seed, std::size_t max) : state_(seed * 2654435761u + 1), max_(max) {}
  std::size_t next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return 1 + state_ % max_;
  }

 private:
  std::uint32_t state_;
  std::size_t max_;
};

struct head_outcome {
  bool accepted = false;
  error_code ec;
  std::size_t consumed = 0;
};

// Feeds the bytes of a head until the header is done, an error, or the bytes run out (then
// ec is need_more). `pieces` null: everything at once.
template <class Parser>
head_outcome feed_head(Parser& p, std::string_view bytes, piece_plan* pieces) {
  head_outcome r;
  std::size_t avail = pieces ? 0 : bytes.size();
  for (std::size_t rounds = 0;; ++rounds) {
    if (pieces && avail < bytes.size()) avail = std::min(bytes.size(), avail + pieces->next());
    error_code ec;
    const std::size_t n =
        p.put(boost::asio::buffer(bytes.data() + r.consumed, avail - r.consumed), ec);
    r.consumed += n;
    if (!ec && p.is_header_done()) {
      r.accepted = true;
      return r;
    }
    if (ec && ec != http::error::need_more) {
      r.ec = ec;
      return r;
    }
    if (avail == bytes.size() && (ec == http::error::need_more || n == 0)) {
      r.ec = http::error::need_more;
      return r;
    }
    PORTICO_FUZZ_CHECK(rounds <= 2 * bytes.size() + 8, "the parser makes no progress");
  }
}

// A head as the parser saw it, for comparing two parses of the same bytes.
struct head_view {
  std::string start_line;  // method target version, or version status reason
  std::vector<std::string> fields;  // "name\0value"
  bool chunked = false;
  bool has_length = false;
  std::uint64_t length = 0;
  bool keep_alive = false;
  bool need_eof = false;

  bool operator==(const head_view&) const = default;

  std::string text() const {
    std::string s = shown(start_line) + (chunked ? " chunked" : "") +
                    (has_length ? " length=" + std::to_string(length) : "") +
                    (keep_alive ? " keep-alive" : "") + (need_eof ? " need-eof" : "");
    for (const auto& f : fields) s += "\n  " + shown(f);
    return s;
  }
};

template <class P>  // proxy::head_parser<> or proxy::response_reader
head_view view_of(P& p) {
  constexpr bool IsRequest = std::is_same_v<P, proxy::head_parser<true>>;
  head_view v;
  if constexpr (IsRequest) {
    v.start_line = std::string(p.method_text) + " " + std::string(p.target) + " " +
                   std::to_string(p.version);
  } else {
    v.start_line = std::to_string(p.version) + " " + std::to_string(p.status) + " " +
                   std::string(p.reason);
    v.need_eof = p.need_eof();
  }
  for (const auto& f : p.head().fields)
    v.fields.push_back(std::string(f.name_text) + '\0' + std::string(f.value));
  v.chunked = p.chunked();
  if (auto cl = p.content_length()) {
    v.has_length = true;
    v.length = *cl;
  }
  v.keep_alive = p.keep_alive();
  return v;
}

// Fields in a serialized head: lines between the start line and the blank line.
inline std::size_t count_field_lines(std::string_view head) {
  std::size_t lines = 0;
  for (std::size_t i = head.find("\r\n"); i != std::string_view::npos; i = head.find("\r\n", i + 2))
    ++lines;
  return lines >= 2 ? lines - 2 : 0;
}

}  // namespace portico::fuzz
