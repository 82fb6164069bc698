"""Fault injection rules, set through the control API (/_test/...)."""

import re
import threading


class Rule:
    def __init__(self, spec):
        self.path = re.compile(spec.get("path") or ".*")
        self.method = (spec.get("method") or "").upper() or None
        self.count = int(spec.get("count", 1))      # -1: until cleared
        self.code = int(spec["code"]) if spec.get("code") is not None else None
        self.retry_after = spec.get("retry_after")
        self.stall_ms = int(spec.get("ms") or 0)
        self.hits = 0

    def describe(self):
        return {"path": self.path.pattern, "method": self.method, "count": self.count,
                "code": self.code, "ms": self.stall_ms, "retry_after": self.retry_after,
                "hits": self.hits}


class Faults:
    """Ordered rules; the first matching error rule answers, every matching stall rule sleeps."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.refusing_until = 0.0

    def add(self, spec):
        rule = Rule(spec)
        with self.lock:
            self.rules.append(rule)
        return rule.describe()

    def clear(self):
        with self.lock:
            self.rules = []

    def describe(self):
        with self.lock:
            return [r.describe() for r in self.rules]

    def match(self, method, target):
        """Returns (stall_ms, error_rule or None) for a request, consuming counts."""
        stall, error = 0, None
        with self.lock:
            for rule in list(self.rules):
                if rule.method and rule.method != method:
                    continue
                if not rule.path.search(target):
                    continue
                if rule.code is not None:
                    if error is not None:
                        continue
                    error = rule
                stall += rule.stall_ms
                rule.hits += 1
                if rule.count > 0:
                    rule.count -= 1
                    if rule.count == 0:
                        self.rules.remove(rule)
        return stall, error
