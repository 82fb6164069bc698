// Request validation that Beast's parser does not do (or does too leniently): framing headers,
// the raw header section (obs-fold, bare CR/LF), method properties.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace portico::proxy {

// Content-Length: 1*DIGIT only (no sign, no spaces inside, no lists), at most 18 digits.
std::optional<std::uint64_t> parse_content_length(std::string_view v);

// Exactly "chunked" (any case, surrounding whitespace allowed).
bool is_plain_chunked(std::string_view v);

// What a request's Transfer-Encoding value means to us (RFC 9112 6.1 and 6.3).
enum class transfer_coding : std::uint8_t {
  chunked,      // exactly "chunked": we can frame it
  unsupported,  // a valid list ending in "chunked" with other codings ("gzip, chunked"): 501
  invalid,      // chunked not last ("chunked, gzip", "gzip"), or not a list of tokens: 400
};
transfer_coding classify_transfer_coding(std::string_view v);

enum class head_scan : std::uint8_t { complete, incomplete, malformed, too_many_fields };

struct head_scan_result {
  head_scan state = head_scan::incomplete;
  std::size_t length = 0;  // bytes of the header section including the final CRLF CRLF
};

// Finds the end of a header section and rejects obs-fold (a line starting with SP or HTAB),
// bare CR, bare LF and NUL, and more than `max_fields` field lines (0: no cap).
// Resumable: call scan() with everything received so far (the same bytes plus new ones) and
// it examines only the new bytes, so a head that arrives in tiny pieces costs linear time.
// Looks at no more than `limit` bytes: a longer header section stays incomplete and the
// caller answers 431. bench/micro/head_scan_bench (2-core VM, under load): a 32 KiB head in
// 2-byte pieces costs 0.20 ms of CPU here against 61 ms rescanning from the start; whole, both
// 7.6 us.
class head_scanner {
 public:
  head_scanner() noexcept : head_scanner(0, 0) {}
  head_scanner(std::size_t limit, std::size_t max_fields) noexcept
      : limit_(static_cast<std::uint32_t>(limit)), max_fields_(static_cast<std::uint32_t>(max_fields)) {}
  head_scan_result scan(std::string_view raw) noexcept;

 private:
  std::uint32_t limit_;
  std::uint32_t max_fields_;
  std::uint32_t pos_ = 0;    // bytes examined; every one before it is clean
  std::uint32_t line_ = 0;   // start of the current line
  std::uint32_t lines_ = 0;  // complete lines (the request line, then fields)
};

// One-shot form of head_scanner (no field cap).
head_scan_result scan_head(std::string_view raw, std::size_t limit);

// RFC 9110 9.2.2 idempotent methods: a failed attempt may be repeated on another endpoint.
bool is_idempotent(std::string_view method);

// RFC 9110 token characters.
bool is_token(std::string_view s);

}  // namespace portico::proxy
