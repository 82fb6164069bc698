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

}  // namespace portico::proxy
