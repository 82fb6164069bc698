// Request mirroring: Gateway API RequestMirror (HTTPRequestMirrorFilter) and ingress-nginx's
// mirror-target (config/annotations_mirror.hpp). A copy of a request goes to one endpoint of
// each mirror of its route; the mirror's answer is read up to its head and thrown away. The
// client's request never waits for a mirror and never hears of one: a copy runs as its own
// coroutine on the worker, with its own socket and deadline (a host name is resolved there,
// cached per worker), and its outcome only counts (portico_mirror_requests_total) and logs
// (one line a second per worker at most).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "config/snapshot.hpp"
#include "proxy/header_rewrite.hpp"
#include "proxy/phases.hpp"

namespace portico::proxy {

class worker;

// The largest request (head and body) that is copied: a larger one is not mirrored.
inline constexpr std::size_t mirror_max_bytes = 1024 * 1024;
// Copies in flight per worker; past this a request is not mirrored.
inline constexpr std::size_t mirror_max_in_flight = 128;
// How long a mirror-target host name's addresses are used (ingress-nginx's resolver
// valid=30s), and how long a failed lookup is not retried.
inline constexpr std::chrono::seconds mirror_dns_ttl{30};
inline constexpr std::chrono::seconds mirror_dns_failure_ttl{5};

// What an ingress-nginx mirror copy is made from: the client's request as received.
struct mirror_source {
  const message_head* head = nullptr;
  hash_inputs vars;           // method, URI as received, host... (the target's variables)
  std::string_view body;      // the whole body, as sent upstream
  bool chunked = false;       // `body` is in chunked framing
  bool allow_underscores = false;  // enable-underscores-in-headers
};

// Starts the copies of a request for the mirrors of `r` (whose percentage draws it).
// `request`: the upstream request exactly as sent to the main backend, head then the whole
// body (a Gateway API copy is that); `src`: the client's request (an ingress-nginx copy is
// made from it). `whole`: the body is complete in `request` (false: it streams or was spooled
// to disk, and the request is not mirrored unless mirror-request-body is "off"). Worker
// thread only; returns at once.
void mirror_request(worker& w, const config::route& r, std::string_view request, bool whole,
                    const mirror_source& src);

// The copy of ingress-nginx's mirror `m` for `src`, appended to `out`: request line, fields,
// body (config/annotations_mirror.hpp says what it holds). False when the body is wanted and
// too large.
bool write_mirror_copy(std::string& out, const config::ingress_mirror& m, const mirror_source& src);

}  // namespace portico::proxy
