#include "proxy/default_backend.hpp"

#include "proxy/header_rewrite.hpp"

namespace portico::proxy {

namespace {

void write_response(std::string& out, unsigned status, std::string_view content_type,
                    std::string_view body, std::string_view request_id, bool close,
                    bool head_only, std::string_view extra_headers) {
  append_status_line(out, status);
  out.append("Server: portico\r\nContent-Type: ").append(content_type).append("\r\n");
  out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  if (!request_id.empty()) out.append("X-Request-ID: ").append(request_id).append("\r\n");
  out.append(extra_headers);
  out.append(close ? "Connection: close\r\n\r\n" : "\r\n");
  if (!head_only) out.append(body);
}

}  // namespace

void write_error_response(std::string& out, unsigned status, std::string_view request_id,
                          bool close, bool head_only, std::string_view extra_headers,
                          std::string_view detail) {
  std::string title = std::to_string(status);
  title += ' ';
  title += reason_phrase(status);
  std::string body = "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" +
                     title + "</h1></center>\r\n";
  if (!detail.empty()) body.append("<center>").append(detail).append("</center>\r\n");
  body += "<hr><center>portico</center>\r\n</body>\r\n</html>\r\n";
  write_response(out, status, "text/html", body, request_id, close, head_only, extra_headers);
}

unsigned write_default_backend(std::string& out, std::string_view path,
                               std::string_view request_id, bool close, bool head_only,
                               std::string_view extra_headers) {
  if (path == "/healthz") {
    write_response(out, 200, "text/plain", "ok", request_id, close, head_only, extra_headers);
    return 200;
  }
  write_response(out, 404, "text/plain", "default backend - 404", request_id, close, head_only,
                 extra_headers);
  return 404;
}

void write_redirect(std::string& out, unsigned status, std::string_view location,
                    std::string_view request_id, bool close, std::string_view extra_headers) {
  append_status_line(out, status);
  out.append("Server: portico\r\nLocation: ").append(location).append("\r\n");
  out.append(extra_headers);
  out.append("Content-Length: 0\r\n");
  if (!request_id.empty()) out.append("X-Request-ID: ").append(request_id).append("\r\n");
  out.append(close ? "Connection: close\r\n\r\n" : "\r\n");
}

unsigned grpc_status_of(unsigned http_status, bool deadline) {
  // grpc/doc/statuscodes.md: 2 UNKNOWN, 4 DEADLINE_EXCEEDED, 7 PERMISSION_DENIED,
  // 12 UNIMPLEMENTED, 13 INTERNAL, 14 UNAVAILABLE, 16 UNAUTHENTICATED.
  switch (http_status) {
    case 400: return 13;
    case 401: return 16;
    case 403: return 7;
    case 404: return 12;
    case 429:
    case 502:
    case 503: return 14;
    case 504: return deadline ? 4 : 14;
    default: return 2;
  }
}

void write_grpc_error(std::string& out, unsigned http_status, bool deadline,
                      std::string_view request_id, bool close, std::string_view extra_headers,
                      std::string_view detail) {
  // Status-Message: Percent-Encoded; space and VCHAR except '%' stay as they are.
  auto encode = [&out](std::string_view text) {
    static constexpr char hex[] = "0123456789ABCDEF";
    for (const unsigned char c : text) {
      if (c >= 0x20 && c <= 0x7e && c != '%') {
        out.push_back(static_cast<char>(c));
      } else {
        out.push_back('%');
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 0xf]);
      }
    }
  };
  append_status_line(out, 200);
  out.append("Server: portico\r\nContent-Type: application/grpc\r\ngrpc-status: ");
  out.append(std::to_string(grpc_status_of(http_status, deadline)));
  out.append("\r\ngrpc-message: ");
  encode(std::to_string(http_status));
  out.push_back(' ');
  encode(reason_phrase(http_status));
  if (!detail.empty()) {
    out.append(": ");
    encode(detail);
  }
  out.append("\r\nContent-Length: 0\r\n");
  if (!request_id.empty()) out.append("X-Request-ID: ").append(request_id).append("\r\n");
  out.append(extra_headers);
  out.append(close ? "Connection: close\r\n\r\n" : "\r\n");
}

}  // namespace portico::proxy
