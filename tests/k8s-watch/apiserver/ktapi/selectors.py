"""Label selectors and field selectors, in the query-string forms kube-apiserver accepts."""

import re

from .errors import bad_request

_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(in|notin)\s*\((.*)\))?\s*$")
_EQ_RE = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)\s*$")


def _split_terms(text):
    """Splits on commas that are not inside parentheses."""
    terms, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    terms.append("".join(cur))
    return [t for t in terms if t.strip()]


def parse_label_selector(text):
    """Returns a predicate over a labels dict. Raises ApiError(400) when malformed."""
    if not text:
        return None
    preds = []
    for term in _split_terms(text):
        m = _EQ_RE.match(term)
        if m:
            key, op, value = m.groups()
            if op == "!=":
                preds.append(lambda l, k=key, v=value: l.get(k) != v)
            else:
                preds.append(lambda l, k=key, v=value: l.get(k) == v)
            continue
        m = _SET_RE.match(term)
        if not m:
            raise bad_request(f"unable to parse requirement: found '{term.strip()}', "
                              "expected: in, notin, =, ==, !=, gt, lt")
        neg, key, op, values = m.groups()
        if op:
            if neg:
                raise bad_request(f"unable to parse requirement: '{term.strip()}'")
            vals = {v.strip() for v in values.split(",") if v.strip()}
            if op == "in":
                preds.append(lambda l, k=key, vs=vals: k in l and l[k] in vs)
            else:
                preds.append(lambda l, k=key, vs=vals: not (k in l and l[k] in vs))
        elif neg:
            preds.append(lambda l, k=key: k not in l)
        else:
            preds.append(lambda l, k=key: k in l)
    return lambda labels: all(p(labels or {}) for p in preds)


def _field_value(obj, field):
    if field == "metadata.name":
        return obj.get("metadata", {}).get("name", "")
    if field == "metadata.namespace":
        return obj.get("metadata", {}).get("namespace", "")
    cur = obj
    for part in field.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(text, rt):
    """Returns a predicate over an object. Unknown fields are 400, as on the real server."""
    if not text:
        return None
    preds = []
    for term in _split_terms(text):
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        field, op, value = m.groups()
        if field not in rt.field_labels:
            raise bad_request(f'field label not supported: {field}')
        if op == "!=":
            preds.append(lambda o, f=field, v=value: _field_value(o, f) != v)
        else:
            preds.append(lambda o, f=field, v=value: _field_value(o, f) == v)
    return lambda obj: all(p(obj) for p in preds)


class Filter:
    """Namespace + label selector + field selector, applied to stored objects."""

    def __init__(self, namespace=None, labels=None, fields=None):
        self.namespace = namespace
        self.labels = labels
        self.fields = fields

    @property
    def selective(self):
        return self.labels is not None or self.fields is not None

    def matches(self, obj):
        if obj is None:
            return False
        meta = obj.get("metadata", {})
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        if self.labels is not None and not self.labels(meta.get("labels") or {}):
            return False
        if self.fields is not None and not self.fields(obj):
            return False
        return True
