// Taking an upstream response head out of the receive buffer.
//
// Beast's parser, given part of a head, parses the status line and every complete field at
// once and reports those bytes consumed; the parser's views (reason, field names and values)
// then point into bytes that the next read may move or free. And a folded field (obs-fold) gets
// a value that points into the parser's own stack. So the head is handed to the parser only
// when it is complete and unfolded: its lines are found one by one as bytes arrive (the search
// resumes at the line it stopped in, so a head dripped a byte at a time costs linear time), a
// line that starts with SP or HTAB (obs-fold: RFC 9112 5.2 lets a proxy answer 502 for a folded
// response) or ends in a bare LF refuses the head at once, and the line "\r\n" ends it. The
// rest of RFC 9112's line rules (a bare CR or a NUL inside a line, other control characters in
// a value or the reason) Beast's parser enforces itself; tests/proxy/response_head_test.cpp
// checks that the answer is the same as with a full scan of every byte before the parser.
// A head with both Transfer-Encoding and Content-Length is malformed too (RFC 9112 6.3).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proxy/http_parser.hpp"

namespace portico::proxy {

enum class response_head_state : std::uint8_t { incomplete, complete, malformed, too_large };

struct response_head_reader {
  std::size_t limit = 64 * 1024;  // the largest head accepted
  std::size_t searched = 0;       // the start of the first line not yet ended by its LF
  std::size_t length = 0;         // complete: the head's bytes, for the caller to consume

  // `buffered` is everything received and not consumed, from the head's first byte; the
  // caller passes the same bytes again, with more after them, until the state is final.
  response_head_state take(response_parser& p, std::string_view buffered);
};

}  // namespace portico::proxy
