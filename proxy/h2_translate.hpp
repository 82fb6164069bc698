// HTTP/2 <-> HTTP/1.1 message translation for one stream (RFC 9113 section 8).
//
// An HTTP/2 request becomes the HTTP/1.1 head the downstream session parses, so both protocols
// produce the same request object and run the same phases: the pseudo-header fields become the
// request line and Host (section 8.3.1), `cookie` crumbs are joined with "; " (section 8.2.3),
// and a body without content-length is sent chunked. nghttp2 has already refused what section
// 8.2 calls malformed (pseudo-header order and duplicates, upper-case names,
// connection-specific fields, bad `te`, content-length against DATA); the checks here are the
// ones it leaves to the server (Host against :authority, CONNECT, the header list's size) and a
// second look at the bytes that would break the HTTP/1.1 framing.
//
// The answer goes the other way: the session's HTTP/1.1 response is read back into a status,
// fields (lower-case, connection-specific ones dropped: section 8.2.2) and body bytes without
// their chunked framing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portico::proxy {

enum class h2_head_status : std::uint8_t {
  ok,
  malformed,      // stream error PROTOCOL_ERROR (RFC 9113 8.1.1)
  too_large,      // 431: the header list outgrew its bound
  not_supported,  // 501: CONNECT (RFC 9113 8.5) is not proxied
};

class h2_request_builder {
 public:
  // `max_list_size`: bound of the header list, counted as RFC 9113 6.5.2 counts
  // SETTINGS_MAX_HEADER_LIST_SIZE (name + value + 32 per field).
  explicit h2_request_builder(std::size_t max_list_size);
  ~h2_request_builder();
  h2_request_builder(h2_request_builder&&) noexcept = default;
  h2_request_builder& operator=(h2_request_builder&&) noexcept = default;

  // One decoded field, in arrival order. Past the bound the rest is only counted.
  void add(std::string_view name, std::string_view value);
  // The HTTP/1.1 request head into `out` (replaced). `end_stream`: the HEADERS frame ended the
  // stream (no body). `chunked` tells whether the body must be sent in chunked framing.
  h2_head_status finish(bool end_stream, std::string& out, bool& chunked) const;

  std::size_t list_size() const { return size_; }
  std::string_view method() const { return method_; }
  // `te: trailers` was sent: the client takes a trailer section (RFC 9113 8.2.2).
  bool te_trailers() const { return te_trailers_; }
  // The content-type is application/grpc (or a subtype, "application/grpc+proto").
  bool grpc() const { return grpc_; }

 private:
  std::size_t max_;
  std::size_t size_ = 0;
  bool bad_ = false;
  bool has_length_ = false;
  bool te_trailers_ = false;
  bool grpc_ = false;
  unsigned host_count_ = 0;
  std::string method_, scheme_, authority_, path_, host_;
  std::string cookie_;  // crumbs joined with "; "
  std::string lines_;   // the other fields as "name: value\r\n"
};

// A field of a request's trailer section that can be written as an HTTP/1.1 trailer line
// (no pseudo-header field: RFC 9113 8.1; no connection-specific field: 8.2.2).
bool h2_trailer_field_ok(std::string_view name, std::string_view value);

// Reads the HTTP/1.1 response a session writes for one stream.
class h1_response_reader {
 public:
  enum class state : std::uint8_t { head, body, done, error };
  explicit h1_response_reader(bool head_request);
  ~h1_response_reader();
  h1_response_reader(const h1_response_reader&) = delete;  // fields() points into it
  h1_response_reader& operator=(const h1_response_reader&) = delete;

  // Consumes `in` (all of it unless an error is found); body bytes are appended to `body`.
  // head_ready() turns true once the final (non-1xx) head has been read.
  void feed(std::string_view in, std::string& body);
  // The writer closed: a body delimited by the close is complete, any other is not.
  void end_of_input();

  state current() const { return st_; }
  bool head_ready() const { return st_ == state::body || st_ == state::done; }
  unsigned status() const { return status_; }
  // Lower-case names; connection-specific fields removed. Views into the reader.
  const std::vector<std::pair<std::string_view, std::string_view>>& fields() const { return fields_; }
  // The chunked body's trailer section, as the session passed it on (it has already dropped
  // the fields not allowed in a trailer), in the same form; complete once current() is done.
  const std::vector<std::pair<std::string, std::string>>& trailers() const { return trailers_; }

 private:
  enum class body_mode : std::uint8_t { none, length, chunked, until_close };
  enum class chunk_state : std::uint8_t { size, data, data_crlf, trailer };
  bool parse_head(std::size_t end);
  bool add_trailer(std::string_view line);
  std::size_t feed_chunked(std::string_view in, std::string& body);

  bool head_request_;
  state st_ = state::head;
  std::string head_;  // the head so far; once read, kept (names lower-cased) for fields_
  unsigned status_ = 0;
  std::vector<std::pair<std::string_view, std::string_view>> fields_;
  std::vector<std::pair<std::string, std::string>> trailers_;
  body_mode mode_ = body_mode::none;
  std::uint64_t left_ = 0;  // length: bytes still due; chunked: of the current chunk
  chunk_state cs_ = chunk_state::size;
  std::string line_;  // a chunk-size or trailer line so far
};

}  // namespace portico::proxy
