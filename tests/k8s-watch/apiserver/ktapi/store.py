"""The object store: one global resourceVersion, immutable stored objects, a bounded window
of past events (for watch resumption and consistent paginated lists), and watcher wake-ups.
"""

import bisect
import json
import threading
import time

from . import errors, objects

DEFAULT_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"]


class Event:
    __slots__ = ("rv", "rt", "type", "obj", "prev")

    def __init__(self, rv, rt, type_, obj, prev):
        self.rv = rv
        self.rt = rt
        self.type = type_
        self.obj = obj      # state after the event (for DELETED: last state, rv of deletion)
        self.prev = prev    # state before (None for ADDED)


def key_of(rt, namespace, name):
    return f"{namespace}/{name}" if rt.namespaced else name


class Store:
    def __init__(self, registry, history=10000, initial_rv=1000, check_namespaces=True,
                 validation=True):
        self.registry = registry
        self.cond = threading.Condition()
        self.rv = initial_rv
        self.compacted_rv = initial_rv
        self.history = max(1, history)
        self.events = []
        self.event_rvs = []
        self.objects = {rt.plural + "." + rt.group: {} for rt in registry.types}
        self.check_namespaces = check_namespaces
        self.validation = validation
        self.ips = objects.ClusterIPs()
        self.epoch = 0   # bumped to wake watchers for control actions (drop, bookmark)
        self.encoded = {}  # id(stored object) -> (object, its JSON bytes); objects are immutable
        self.key_cache = {}  # table name -> (rv, its keys sorted); every write bumps rv

    def table(self, rt):
        return self.objects[rt.plural + "." + rt.group]

    def encode(self, obj):
        """The JSON bytes of a stored object (without kind/apiVersion), cached."""
        hit = self.encoded.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        data = json.dumps(obj, separators=(",", ":")).encode()
        if len(self.encoded) > 200000:
            self.encoded.clear()
        self.encoded[id(obj)] = (obj, data)
        return data

    def _forget(self, obj):
        if obj is not None:
            self.encoded.pop(id(obj), None)

    # ---- events --------------------------------------------------------------------------
    def _record(self, rt, type_, obj, prev):
        ev = Event(self.rv, rt, type_, obj, prev)
        self.events.append(ev)
        self.event_rvs.append(ev.rv)
        if len(self.events) > 2 * self.history:
            self._trim(len(self.events) - self.history)
        self.cond.notify_all()

    def _trim(self, count):
        if count <= 0:
            return
        self.compacted_rv = max(self.compacted_rv, self.events[count - 1].rv)
        del self.events[:count]
        del self.event_rvs[:count]

    def compact(self, rv=None):
        """Forgets events up to rv (default: all). Watches/lists from older rvs get 410."""
        with self.cond:
            rv = self.rv if rv is None else min(int(rv), self.rv)
            count = bisect.bisect_right(self.event_rvs, rv)
            self._trim(count)
            self.compacted_rv = max(self.compacted_rv, rv)
            self.cond.notify_all()
            return self.compacted_rv

    def events_after(self, rv):
        """Events with resourceVersion > rv. Caller holds the lock; rv >= compacted_rv."""
        start = bisect.bisect_right(self.event_rvs, rv)
        return self.events[start:]

    def wake(self):
        with self.cond:
            self.epoch += 1
            self.cond.notify_all()

    def _next_rv(self):
        self.rv += 1
        return self.rv

    # ---- reads ---------------------------------------------------------------------------
    def get(self, rt, namespace, name):
        with self.cond:
            obj = self.table(rt).get(key_of(rt, namespace, name))
        if obj is None:
            raise errors.not_found(rt, name)
        return obj

    def sorted_keys(self, rt):
        """The keys of a type's table in order (a list the caller must not change), cached
        until the next write: a paginated list of N objects sorts once, not once a page.
        Lock held."""
        name = rt.plural + "." + rt.group
        hit = self.key_cache.get(name)
        if hit is not None and hit[0] == self.rv:
            return hit[1]
        keys = sorted(self.table(rt))
        self.key_cache[name] = (self.rv, keys)
        return keys

    def state_at(self, rt, rv):
        """The objects of a type as they were at rv (a dict key -> obj, to read only: the
        table itself when nothing of that type changed since). Lock held."""
        if rv < self.compacted_rv:
            return None
        changed = [ev for ev in self.events_after(rv) if ev.rt is rt]
        if not changed:
            return self.table(rt)
        current = dict(self.table(rt))
        for ev in reversed(changed):
            meta = ev.obj["metadata"]
            key = key_of(rt, meta.get("namespace"), meta["name"])
            if ev.prev is None:
                current.pop(key, None)
            else:
                current[key] = ev.prev
        return current

    def wait_for_rv(self, rv, timeout=3.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.rv < rv:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise errors.too_large_rv()
                self.cond.wait(left)

    # ---- writes --------------------------------------------------------------------------
    def _check_namespace(self, rt, namespace):
        if not rt.namespaced or not self.check_namespaces:
            return
        ns_rt = self.registry.lookup("", "v1", "namespaces")
        ns = self.table(ns_rt).get(namespace)
        if ns is None:
            raise errors.namespace_not_found(namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise errors.ApiError(403, f'{rt.qualified} "{namespace}" is forbidden: unable to '
                                  f'create new content in namespace {namespace} because it is '
                                  'being terminated', "Forbidden")

    def create(self, rt, namespace, body, dry_run=False, manager="unknown"):
        with self.cond:
            self._check_namespace(rt, namespace)
            obj = objects.prepare_create(rt, body, namespace, self.rv + 1, self.ips,
                                         self.validation)
            key = key_of(rt, namespace, obj["metadata"]["name"])
            if key in self.table(rt):
                raise errors.already_exists(rt, obj["metadata"]["name"])
            objects.set_managed(rt, obj, None, manager, "Update")
            if dry_run:
                obj["metadata"].pop("resourceVersion", None)   # nothing was stored
                return obj
            self._next_rv()
            self.table(rt)[key] = obj
            self._record(rt, "ADDED", obj, None)
            return obj

    def update(self, rt, namespace, name, body, subresource=None, dry_run=False,
               manager="unknown", mutate=None, create_missing=False, operation="Update"):
        """PUT semantics. With `mutate`, body is computed from the current object under the
        lock (PATCH). Identical content is a no-op: no new resourceVersion, no event."""
        with self.cond:
            key = key_of(rt, namespace, name)
            old = self.table(rt).get(key)
            if old is None:
                if mutate is not None:
                    if not create_missing:
                        raise errors.not_found(rt, name)
                    body = mutate(None)
                if (rt.create_on_update or create_missing) and subresource is None:
                    meta = body.setdefault("metadata", {})
                    meta.setdefault("name", name)
                    meta.pop("resourceVersion", None)
                    return self.create(rt, namespace, body, dry_run, manager)
                raise errors.not_found(rt, name)
            if mutate is not None:
                body = mutate(old)
            want_rv = (body.get("metadata") or {}).get("resourceVersion")
            if want_rv and want_rv != old["metadata"]["resourceVersion"]:
                raise errors.conflict(rt, name)
            new = objects.prepare_update(rt, old, body, subresource, self.rv + 1, self.ips,
                                         self.validation)
            if objects.body_only(new) == objects.body_only(old):
                return old
            objects.set_managed(rt, new, old, manager, operation, subresource)
            if dry_run:
                new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
                return new
            if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
                return self._remove(rt, key, old, new)
            self._next_rv()
            self._forget(old)
            self.table(rt)[key] = new
            self._record(rt, "MODIFIED", new, old)
            return new

    def delete(self, rt, namespace, name, preconditions=None, dry_run=False):
        """Returns (object, gone). Objects with finalizers get a deletionTimestamp first."""
        with self.cond:
            key = key_of(rt, namespace, name)
            old = self.table(rt).get(key)
            if old is None:
                raise errors.not_found(rt, name)
            pre = preconditions or {}
            if pre.get("uid") and pre["uid"] != old["metadata"]["uid"]:
                raise errors.conflict(rt, name, "Precondition failed: UID in precondition: "
                                      f"{pre['uid']}, UID in object meta: {old['metadata']['uid']}")
            if pre.get("resourceVersion") and pre["resourceVersion"] != \
                    old["metadata"]["resourceVersion"]:
                raise errors.conflict(rt, name, "Precondition failed: ResourceVersion in "
                                      f"precondition: {pre['resourceVersion']}, ResourceVersion "
                                      f"in object meta: {old['metadata']['resourceVersion']}")
            if dry_run:
                return old, True
            if rt.kind == "Namespace":
                return self._delete_namespace(rt, key, old), True
            if old["metadata"].get("finalizers"):
                if old["metadata"].get("deletionTimestamp"):
                    return old, False
                new = objects.clone(old)
                new["metadata"]["deletionTimestamp"] = objects.now()
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                new["metadata"]["resourceVersion"] = str(self._next_rv())
                new = objects.ordered(new)
                self._forget(old)
                self.table(rt)[key] = new
                self._record(rt, "MODIFIED", new, old)
                return new, False
            return self._remove(rt, key, old), True

    def _remove(self, rt, key, old, final=None):
        gone = objects.clone(final if final is not None else old)
        gone["metadata"]["resourceVersion"] = str(self._next_rv())
        self._forget(self.table(rt).pop(key))
        self._record(rt, "DELETED", gone, old)
        return gone

    def _delete_namespace(self, ns_rt, key, old):
        term = objects.clone(old)
        term["metadata"]["deletionTimestamp"] = objects.now()
        term["metadata"]["deletionGracePeriodSeconds"] = 0
        term["status"] = {"phase": "Terminating"}
        term["metadata"]["resourceVersion"] = str(self._next_rv())
        term = objects.ordered(term)
        self._forget(old)
        self.table(ns_rt)[key] = term
        self._record(ns_rt, "MODIFIED", term, old)
        for rt in self.registry.types:
            if not rt.namespaced:
                continue
            for k in [k for k, o in self.table(rt).items()
                      if o["metadata"].get("namespace") == key]:
                self._remove(rt, k, self.table(rt)[k])
        self._remove(ns_rt, key, term)
        return term

    # ---- whole-store helpers -------------------------------------------------------------
    def ensure_namespace(self, name):
        ns_rt = self.registry.lookup("", "v1", "namespaces")
        with self.cond:
            if name in self.table(ns_rt):
                return
            self.create(ns_rt, None, {"metadata": {"name": name}}, manager="kube-apiserver")

    def snapshot(self):
        with self.cond:
            items = []
            for rt in self.registry.types:
                for key in sorted(self.table(rt)):
                    items.append(objects.with_type(rt, self.table(rt)[key]))
            return {"kind": "List", "apiVersion": "v1",
                    "metadata": {"resourceVersion": str(self.rv)}, "items": items}

    def restore(self, snap):
        """Loads a snapshot taken by `snapshot()` verbatim (uids, rvs kept)."""
        with self.cond:
            for item in snap.get("items", []):
                rt = self.registry.for_kind(item.get("apiVersion"), item.get("kind"))
                if rt is None:
                    continue
                obj = {k: v for k, v in item.items() if k not in ("kind", "apiVersion")}
                meta = obj["metadata"]
                self.table(rt)[key_of(rt, meta.get("namespace"), meta["name"])] = obj
            rv = int(snap.get("metadata", {}).get("resourceVersion") or self.rv)
            # One past the saved version, with no history: a client resuming from any version
            # it saw before the restart gets 410 and relists, so it notices every change made
            # to the saved state while the server was down.
            self.rv = max(self.rv, rv) + 1
            self.compacted_rv = self.rv
            self.events.clear()
            self.event_rvs.clear()

    def counts(self):
        with self.cond:
            return {rt.qualified: len(self.table(rt)) for rt in self.registry.types}
