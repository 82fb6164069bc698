"""`Status` objects, shaped like the ones kube-apiserver returns (metav1.Status)."""

REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
    405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict", 410: "Expired",
    415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests",
    500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
}


class ApiError(Exception):
    """An error answered with a Status object and its HTTP code."""

    def __init__(self, code, message, reason=None, details=None, headers=None, continue_=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason if reason is not None else REASONS.get(code, "")
        self.details = details
        self.headers = headers or {}
        self.continue_ = continue_

    def status(self):
        doc = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": self.message}
        if self.continue_:
            doc["metadata"] = {"continue": self.continue_}
        if self.reason:
            doc["reason"] = self.reason
        if self.details:
            doc["details"] = self.details
        doc["code"] = self.code
        return doc


def _details(rt, name):
    details = {}
    if name:
        details["name"] = name
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.plural
    return details


def not_found(rt, name):
    return ApiError(404, f'{rt.qualified} "{name}" not found', details=_details(rt, name))


def namespace_not_found(name):
    return ApiError(404, f'namespaces "{name}" not found',
                    details={"name": name, "kind": "namespaces"})


def already_exists(rt, name):
    return ApiError(409, f'{rt.qualified} "{name}" already exists', "AlreadyExists",
                    _details(rt, name))


def conflict(rt, name, why="the object has been modified; please apply your changes to "
                           "the latest version and try again"):
    return ApiError(409, f'Operation cannot be fulfilled on {rt.qualified} "{name}": {why}',
                    "Conflict", _details(rt, name))


def invalid(rt, name, field, detail, cause_reason="FieldValueRequired", value=None):
    text = detail if value is None else f"Invalid value: {value!r}: {detail}"
    details = {"name": name, "group": rt.group, "kind": rt.kind,
               "causes": [{"reason": cause_reason, "message": text, "field": field}]}
    if not name:
        details.pop("name")
    if not rt.group:
        details.pop("group")
    return ApiError(422, f'{rt.kind_qualified} "{name}" is invalid: {field}: {text}',
                    "Invalid", details)


def bad_request(message):
    return ApiError(400, message, "BadRequest")


def expired(message):
    return ApiError(410, message, "Expired")


def unauthorized():
    return ApiError(401, "Unauthorized", "Unauthorized")


def too_large_rv():
    return ApiError(504, "Too large resource version", "Timeout",
                    {"causes": [{"reason": "ResourceVersionTooLarge",
                                 "message": "Too large resource version"}],
                     "retryAfterSeconds": 1})


def success(rt, name, uid):
    details = _details(rt, name)
    details["uid"] = uid
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": details}


CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter, or use the continue token in "
    "this response to retrieve the remainder of the results. Continuing with the provided "
    "token results in an inconsistent list - objects that were created, modified, or "
    "deleted between the time the first chunk was returned and now may show up in the list.")
