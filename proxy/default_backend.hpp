// Responses the proxy writes itself: the built-in default backend (404 page, /healthz) and the
// error rows (400, 408, 413, 431, 502, 503, 504). Every one is complete and well framed.
#pragma once

#include <string>
#include <string_view>

namespace portico::proxy {

// Appends a complete response with a small HTML body naming the status.
void write_error_response(std::string& out, unsigned status, std::string_view request_id,
                          bool close, bool head_only = false);

// The default backend's answer for an unmatched request: 200 "ok" on /healthz, else 404.
// Returns the status written.
unsigned write_default_backend(std::string& out, std::string_view path,
                               std::string_view request_id, bool close, bool head_only);

}  // namespace portico::proxy
