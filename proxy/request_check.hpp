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

// A request's Transfer-Encoding is accepted only when it is exactly "chunked" (any case,
// surrounding whitespace allowed). Everything else ("gzip", "chunked, gzip", "xchunked",
// "gzip, chunked") is answered 400: we cannot frame it safely.
bool is_plain_chunked(std::string_view v);

enum class head_scan : std::uint8_t { complete, incomplete, malformed };

struct head_scan_result {
  head_scan state = head_scan::incomplete;
  std::size_t length = 0;  // bytes of the header section including the final CRLF CRLF
};

// Finds the end of the header section in `raw` and rejects obs-fold (a line starting with SP
// or HTAB), bare CR, bare LF and NUL. Looks at no more than `limit` bytes: a header section
// longer than that is reported incomplete and the caller answers 431.
head_scan_result scan_head(std::string_view raw, std::size_t limit);

// RFC 9110 9.2.2 idempotent methods: a failed attempt may be repeated on another endpoint.
bool is_idempotent(std::string_view method);

// RFC 9110 token characters.
bool is_token(std::string_view s);

}  // namespace portico::proxy
