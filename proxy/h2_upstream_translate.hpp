// HTTP/1.1 <-> HTTP/2 translation for one upstream stream (backend-protocol GRPC, GRPCS).
//
// The session writes its upstream request as HTTP/1.1 text whatever the upstream speaks, so
// every phase stays the same; for an HTTP/2 upstream that text is read back here into the
// request's HEADERS (pseudo-header fields from the request line and Host, RFC 9113 8.3.1;
// connection-specific fields dropped, 8.2.2; `te: trailers` added, as gRPC servers require),
// DATA (the body without its chunked framing) and a trailing HEADERS frame (the chunked body's
// trailer section). The answer goes the other way: the upstream's HEADERS, DATA and trailing
// HEADERS become an HTTP/1.1 response the session parses as it parses any upstream's, with a
// chunked body whose trailer section carries the HTTP/2 trailers (grpc-status, grpc-message,
// custom trailing metadata). A response that is only a HEADERS frame with END_STREAM (gRPC's
// Trailers-Only) becomes a head with content-length: 0 and those fields.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portico::proxy {

using h2_field_list = std::vector<std::pair<std::string, std::string>>;
using h2_field_view = std::pair<std::string_view, std::string_view>;

// Reads the HTTP/1.1 request a session writes for one upstream stream.
class h1_request_reader {
 public:
  enum class state : std::uint8_t { head, body, done, error };
  // `scheme`: "http" (h2c) or "https".
  explicit h1_request_reader(std::string_view scheme);
  ~h1_request_reader();
  // fields() points into the reader.
  h1_request_reader(const h1_request_reader&) = delete;
  h1_request_reader& operator=(const h1_request_reader&) = delete;

  // Consumes `in`; body bytes (without framing) are appended to `body`. head_ready() turns
  // true once the head has been read.
  void feed(std::string_view in, std::string& body);

  state current() const { return st_; }
  bool head_ready() const { return st_ == state::body || st_ == state::done; }
  // The request's HEADERS: pseudo-header fields first (:method, :scheme, :authority, :path),
  // then the other fields with lower-case names; views into the reader's copy of the head.
  const std::vector<h2_field_view>& fields() const { return fields_; }
  // The chunked body's trailer section (fields that may be sent as HTTP/2 trailers); complete
  // once current() is done.
  const h2_field_list& trailers() const { return trailers_; }
  // The head said there is no body at all (no content-length, or 0, and not chunked).
  bool no_body() const { return no_body_; }

 private:
  enum class body_mode : std::uint8_t { none, length, chunked };
  enum class chunk_state : std::uint8_t { size, data, data_crlf, trailer };
  bool parse_head(std::size_t end);
  std::size_t feed_chunked(std::string_view in, std::string& body);

  std::string scheme_;
  state st_ = state::head;
  std::string head_;  // the head, kept (and its names lower-cased) once read: fields_ view it
  std::vector<h2_field_view> fields_;
  h2_field_list trailers_;
  body_mode mode_ = body_mode::none;
  bool no_body_ = false;
  std::uint64_t left_ = 0;
  chunk_state cs_ = chunk_state::size;
  std::string line_;
};

// Writes the HTTP/1.1 response text of one upstream stream as its HTTP/2 frames arrive.
class h2_response_writer {
 public:
  h2_response_writer();
  ~h2_response_writer();
  h2_response_writer(h2_response_writer&&) noexcept = default;
  h2_response_writer& operator=(h2_response_writer&&) noexcept = default;
  // One field of a HEADERS frame (nghttp2 has checked names and values: RFC 9113 8.2.1).
  void add_field(std::string_view name, std::string_view value);
  // The HEADERS frame is complete. `end_stream`: it ended the stream. Appends the head (a final
  // response) or the trailer section (after the body) to `out`; an interim (1xx) head is
  // dropped. False when the frame cannot be translated (no valid :status).
  bool end_headers(bool end_stream, std::string& out);
  // A DATA frame's payload: one chunk.
  void data(std::string_view payload, std::string& out);
  // END_STREAM on a DATA frame: the last chunk without trailers.
  void end_stream(std::string& out);

  bool head_sent() const { return head_sent_; }
  bool complete() const { return complete_; }
  unsigned status() const { return status_; }
  // The response is gRPC (content-type application/grpc...).
  bool grpc() const { return grpc_; }

 private:
  std::string lines_;  // the HEADERS frame's fields so far, as HTTP/1.1 lines
  unsigned status_ = 0;
  bool head_sent_ = false;
  bool complete_ = false;
  bool grpc_ = false;
};

}  // namespace portico::proxy
