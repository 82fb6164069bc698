// Gateway API RequestMirror (HTTPRequestMirrorFilter): a copy of a request goes to one endpoint
// of each mirror backend of its route; the mirror's answer is read up to its head and thrown
// away. The client's request never waits for a mirror and never hears of one: a copy runs as
// its own coroutine on the worker, with its own socket and deadline, and its outcome only
// counts (portico_mirror_requests_total) and logs.
#pragma once

#include <cstddef>
#include <string_view>

#include "config/snapshot.hpp"

namespace portico::proxy {

class worker;

// The largest request (head and body) that is copied: a larger one is not mirrored.
inline constexpr std::size_t mirror_max_bytes = 1024 * 1024;
// Copies in flight per worker; past this a request is not mirrored.
inline constexpr std::size_t mirror_max_in_flight = 128;

// Starts the copies of `request` (the upstream request exactly as sent to the main backend:
// head, then the whole body) for the mirrors of `r` whose percentage draws it. `whole`: the
// body is complete in `request` (false: it streams or was spooled to disk, and the request
// is not mirrored). Worker thread only; returns at once.
void mirror_request(worker& w, const config::route& r, std::string_view request, bool whole);

}  // namespace portico::proxy
