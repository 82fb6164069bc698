// Values with nginx variables, as ingress-nginx users write them in upstream-hash-by, auth-url,
// auth-signin, auth-request-redirect and auth-cache-key: "$host", "${http_x_user}:$arg_id",
// "https://$host/oauth2/start?rd=$escaped_request_uri". Parsed once per build into literal and
// variable pieces (config::hash_part); the proxy resolves them per request.
#pragma once

#include <string>
#include <string_view>

#include "config/route_policy.hpp"

namespace portico::config {

// The pieces of `v`, or empty with `why` set (an unknown variable, an unclosed "${", a control
// character or brace in the text). Known variables: $request_uri, $escaped_request_uri, $uri,
// $document_uri, $args, $query_string, $is_args, $remote_addr, $binary_remote_addr, $host,
// $http_host, $best_http_host, $scheme, $pass_access_scheme, $request_method, $remote_user,
// $server_port, $http_<name>, $cookie_<name>, $arg_<name>.
request_template parse_request_template(std::string_view v, std::string& why);

// True when `t` has a variable (false: one literal, or nothing).
bool has_variables(const request_template& t);

}  // namespace portico::config
