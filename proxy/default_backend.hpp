// Responses the proxy writes itself: the built-in default backend (404 page, /healthz) and the
// error rows (400, 408, 413, 431, 502, 503, 504). Every one is complete and well framed.
#pragma once

#include <string>
#include <string_view>

namespace portico::proxy {

// `extra_headers`: complete header lines ("Name: value\r\n") added to the head, e.g.
// Strict-Transport-Security on HTTPS.

// Appends a complete response with a small HTML body naming the status (and `detail`, a line
// of plain text, when given: "No required SSL certificate was sent").
void write_error_response(std::string& out, unsigned status, std::string_view request_id,
                          bool close, bool head_only = false, std::string_view extra_headers = {},
                          std::string_view detail = {});

// The default backend's answer for an unmatched request: 200 "ok" on /healthz, else 404.
// Returns the status written.
unsigned write_default_backend(std::string& out, std::string_view path,
                               std::string_view request_id, bool close, bool head_only,
                               std::string_view extra_headers = {});

// A bodyless redirect (308 for HTTP -> HTTPS) to `location`.
// `extra_headers`: header lines ("Name: value\r\n") added to it.
void write_redirect(std::string& out, unsigned status, std::string_view location,
                    std::string_view request_id, bool close, std::string_view extra_headers = {});

// gRPC clients read no HTML page: an answer of the proxy's own to a request whose
// content-type starts with application/grpc is a gRPC "Trailers-Only" response (gRPC's
// doc/PROTOCOL-HTTP2.md): HTTP status 200, content-type application/grpc, grpc-status and
// grpc-message, no body. The code is the one gRPC's "HTTP to gRPC Status Code Mapping"
// (doc/http-grpc-status-mapping.md) gives `http_status`, except that a timeout the proxy
// measured (`deadline`) is DEADLINE_EXCEEDED.
unsigned grpc_status_of(unsigned http_status, bool deadline);

// Appends that response: grpc-message says the HTTP status the proxy decided (and `detail`),
// percent-encoded as the protocol's Status-Message is.
void write_grpc_error(std::string& out, unsigned http_status, bool deadline,
                      std::string_view request_id, bool close, std::string_view extra_headers = {},
                      std::string_view detail = {});

}  // namespace portico::proxy
