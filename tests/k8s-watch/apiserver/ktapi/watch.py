"""Watch streams: chunked HTTP/1.1, one JSON event per chunk and line, bookmarks, 410s,
timeouts, and the control hooks that end streams on purpose (abruptly, cleanly, or with an
ERROR 410 event)."""

import json
import select
import threading
import time

from . import errors

INITIAL_EVENTS_END = "k8s.io/initial-events-end"


class Watcher:
    def __init__(self, rt, flt, bookmarks, encode):
        self.rt = rt
        self.encode = encode
        self.flt = flt
        self.bookmarks = bookmarks
        self.action = None          # "abrupt", "clean", "expire", "bookmark"
        self.lock = threading.Lock()

    def signal(self, action):
        with self.lock:
            if self.action in (None, "bookmark"):
                self.action = action

    def take(self):
        with self.lock:
            action, self.action = self.action, None
            return action


def _event(type_, obj):
    return (json.dumps({"type": type_, "object": obj}, separators=(",", ":")) + "\n").encode()


# A bookmark is an empty object of the type, encoded as Go does: non-omitempty fields stay
# (empty structs as {}, slices as null, strings as "").
EMPTY_SHAPES = {
    "Ingress": {"spec": {}, "status": {"loadBalancer": {}}},
    "Service": {"spec": {}, "status": {"loadBalancer": {}}},
    "EndpointSlice": {"addressType": "", "endpoints": None, "ports": None},
    "Namespace": {"spec": {}, "status": {}},
    "Pod": {"spec": {"containers": None}, "status": {}},
    "Node": {"spec": {}, "status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
                                    "nodeInfo": {}}},
    "IngressClass": {"spec": {}},
    "NetworkPolicy": {"spec": {"podSelector": {}}},
    "Lease": {"spec": {}},
    "ClusterRole": {"rules": None},
    "Role": {"rules": None},
    "ClusterRoleBinding": {"roleRef": {"apiGroup": "", "kind": "", "name": ""}},
    "RoleBinding": {"roleRef": {"apiGroup": "", "kind": "", "name": ""}},
}


def _bookmark(rt, rv, initial_end=False):
    meta = {"resourceVersion": str(rv), "creationTimestamp": None}
    if initial_end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    obj = {"kind": rt.kind, "apiVersion": rt.group_version, "metadata": meta}
    obj.update(json.loads(json.dumps(EMPTY_SHAPES.get(rt.kind, {}))))
    return _event("BOOKMARK", obj)


def _expired_event(rv, oldest):
    status = errors.expired(f"too old resource version: {rv} ({oldest})").status()
    return _event("ERROR", status)


def _translate(ev, rt, flt):
    """The event a watcher with this filter sees for a store event, or None."""
    if ev.rt is not rt:
        return None
    new_ok = ev.type != "DELETED" and flt.matches(ev.obj)
    old_ok = ev.prev is not None and flt.matches(ev.prev)
    if ev.type == "DELETED":
        return ("DELETED", ev.obj) if old_ok else None
    if new_ok and old_ok:
        return ("MODIFIED", ev.obj)
    if new_ok:
        return ("ADDED", ev.obj)
    if old_ok:   # stopped matching the selector: the previous state, at the new version
        gone = dict(ev.prev)
        gone["metadata"] = dict(ev.prev["metadata"], resourceVersion=ev.obj["metadata"][
            "resourceVersion"])
        return ("DELETED", gone)
    return None


def serve(h, rt, flt, params, encode):
    app = h.server
    store = app.store
    rv_text = params.get("resourceVersion") or ""
    bookmarks = params.get("allowWatchBookmarks") in ("true", "1")
    send_initial = params.get("sendInitialEvents") == "true"
    timeout = float(params.get("timeoutSeconds") or app.watch_timeout)
    if rv_text not in ("", "0"):
        try:
            start_rv = int(rv_text)
        except ValueError:
            raise errors.bad_request(f"invalid resource version: {rv_text}")
    initial = []
    too_old = None
    with store.cond:
        if rv_text in ("", "0") or send_initial:
            start_rv = store.rv
            table = store.table(rt)
            initial = [table[k] for k in sorted(table) if flt.matches(table[k])]
        elif start_rv < store.compacted_rv:
            too_old = (start_rv, store.compacted_rv + 1)
    h.watching = True
    h.start_chunked()
    if too_old:
        h.write_chunk(_expired_event(*too_old))
        h.end_chunked()
        return
    for obj in initial:
        h.write_chunk(_event("ADDED", encode(obj)))
    if send_initial and bookmarks:
        h.write_chunk(_bookmark(rt, start_rv, initial_end=True))
    watcher = Watcher(rt, flt, bookmarks, encode)
    app.add_watcher(watcher)
    try:
        _stream(h, store, watcher, start_rv, time.monotonic() + timeout,
                app.bookmark_interval)
    finally:
        app.remove_watcher(watcher)


def _client_gone(sock):
    """A watch client sends nothing after its request: readable means it closed."""
    try:
        poller = select.poll()     # poll, not select: descriptors may exceed FD_SETSIZE
        poller.register(sock.fileno(), select.POLLIN | select.POLLHUP | select.POLLERR)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def _stream(h, store, watcher, rv, deadline, bookmark_interval):
    next_bookmark = time.monotonic() + bookmark_interval
    while True:
        with store.cond:
            while True:
                now = time.monotonic()
                if store.rv > rv or watcher.action or now >= deadline:
                    break
                if watcher.bookmarks and now >= next_bookmark:
                    break
                wake = min(deadline, next_bookmark) if watcher.bookmarks else deadline
                store.cond.wait(max(0.0, min(wake - now, 0.5)))
                if _client_gone(h.connection):
                    watcher.signal("abrupt")
            if rv < store.compacted_rv:
                pending, expired_at = None, store.compacted_rv + 1
            else:
                pending, expired_at = store.events_after(rv), None
                current_rv = store.rv
        action = watcher.take()
        if action == "abrupt":
            h.close_connection = True
            return               # no terminating chunk: the client sees a broken stream
        if action == "expire" or expired_at is not None:
            h.write_chunk(_expired_event(rv, expired_at or store.compacted_rv + 1))
            h.end_chunked()
            return
        if action == "clean":
            h.end_chunked()
            return
        for ev in pending:
            out = _translate(ev, watcher.rt, watcher.flt)
            if out is not None:
                h.write_chunk(_event(out[0], watcher.encode(out[1])))
                h.server.note_watch_sent(ev.rv)
        rv = current_rv
        now = time.monotonic()
        if watcher.bookmarks and (action == "bookmark" or now >= next_bookmark):
            h.write_chunk(_bookmark(watcher.rt, rv))
            next_bookmark = now + bookmark_interval
        if now >= deadline:
            h.end_chunked()
            return
