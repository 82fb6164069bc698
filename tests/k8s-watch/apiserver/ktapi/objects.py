"""What the API server does to an object on create and update: system metadata, defaults,
status handling, generation, managed fields."""

import base64
import datetime
import json
import ipaddress
import random
import uuid

from . import errors

META_ORDER = ["name", "generateName", "namespace", "selfLink", "uid", "resourceVersion",
              "generation", "creationTimestamp", "deletionTimestamp",
              "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences",
              "finalizers", "managedFields"]
NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def clone(value):
    """A deep copy of JSON data (much faster than copy.deepcopy)."""
    return json.loads(json.dumps(value))


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ordered(obj):
    """Key order of the real server's JSON: kind, apiVersion, metadata, spec..., status last."""
    out = {}
    meta = obj.get("metadata") or {}
    out["metadata"] = {k: meta[k] for k in META_ORDER if k in meta}
    out["metadata"].update({k: v for k, v in meta.items() if k not in out["metadata"]})
    for k, v in obj.items():
        if k not in ("kind", "apiVersion", "metadata", "status"):
            out[k] = v
    if "status" in obj:
        out["status"] = obj["status"]
    return out


# Slices without `omitempty` in the Go types: empty or absent, they are written as null.
NULL_WHEN_EMPTY = {"EndpointSlice": ("endpoints", "ports"), "ClusterRole": ("rules",),
                   "Role": ("rules",)}
# Maps (omitempty) that vanish when empty; empty structs ({}) are kept, as Go writes them.
OMITTED_EMPTY_MAPS = {"labels", "annotations", "data", "binaryData", "stringData", "selector",
                      "nodeSelector", "matchLabels"}


def _prune(value):
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = _prune(v)
            if v is None or v == [] or (v == {} and k in OMITTED_EMPTY_MAPS):
                continue
            out[k] = v
        return out
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def normalize(rt, obj):
    """The JSON shape the real server gives back after its Go/protobuf round trip: nulls and
    empty slices and maps dropped (omitempty), but null for slices without omitempty."""
    out = _prune(obj)
    for field in NULL_WHEN_EMPTY.get(rt.kind, ()):
        if not out.get(field):
            out[field] = None
    return out


def with_type(rt, obj):
    out = {"kind": rt.kind, "apiVersion": rt.group_version}
    out.update(obj)
    return out


def body_only(obj):
    """The parts of an object that count as a change (not rv, managed fields)."""
    o = dict(obj)
    meta = dict(o.get("metadata") or {})
    meta.pop("resourceVersion", None)
    meta.pop("managedFields", None)
    o["metadata"] = meta
    return o


def spec_part(obj):
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "kind", "apiVersion")}


def _fields_v1(value):
    if isinstance(value, dict):
        return {f"f:{k}": _fields_v1(v) for k, v in value.items()}
    return {}


def managed_entry(rt, obj, manager, operation, subresource=None):
    body = {}
    meta = obj.get("metadata", {})
    m = {k: meta[k] for k in ("labels", "annotations", "finalizers", "ownerReferences")
         if k in meta}
    if m:
        body["metadata"] = m
    if subresource == "status":
        body = {"status": obj.get("status", {})}
    else:
        body.update(spec_part(obj))
    entry = {"manager": manager, "operation": operation, "apiVersion": rt.group_version,
             "time": now(), "fieldsType": "FieldsV1", "fieldsV1": _fields_v1(body)}
    if subresource:
        entry["subresource"] = subresource
    return entry


def set_managed(rt, obj, old, manager, operation, subresource=None):
    entries = list((old or {}).get("metadata", {}).get("managedFields") or [])
    entries = [e for e in entries if not (e.get("manager") == manager
                                          and e.get("operation") == operation
                                          and e.get("subresource") == subresource)]
    entries.append(managed_entry(rt, obj, manager, operation, subresource))
    obj["metadata"]["managedFields"] = entries


class ClusterIPs:
    def __init__(self, cidr="10.96.0.0/12"):
        self.net = ipaddress.ip_network(cidr)
        self.next = 10

    def allocate(self):
        self.next += 1
        return str(self.net.network_address + self.next)

    def allocate_node_port(self):
        self.next_node_port = getattr(self, "next_node_port", 30000) + 1
        return self.next_node_port


def apply_defaults(rt, obj, ips):
    if rt.kind == "Service":
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        if spec["type"] != "ExternalName":
            if not spec.get("clusterIP"):
                spec["clusterIP"] = ips.allocate()
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
            if spec["clusterIP"] != "None":
                spec.setdefault("ipFamilies", ["IPv4"])
                spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        spec.setdefault("sessionAffinity", "None")
        external = spec["type"] in ("NodePort", "LoadBalancer")
        if external:
            spec.setdefault("externalTrafficPolicy", "Cluster")
        if spec["type"] == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
            if external and not port.get("nodePort") and \
                    spec.get("allocateLoadBalancerNodePorts", True):
                port["nodePort"] = ips.allocate_node_port()
    elif rt.kind == "EndpointSlice":
        for port in obj.get("ports") or []:
            port.setdefault("protocol", "TCP")
    elif rt.kind == "Secret":
        obj.setdefault("type", "Opaque")
        # stringData is write-only: merged into data (base64), never stored or returned.
        string_data = obj.pop("stringData", None) or {}
        if string_data:
            data = obj.setdefault("data", {}) or {}
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()
            obj["data"] = data
    elif rt.kind == "Namespace":
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        labels = obj["metadata"].setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]


def validate(rt, obj, name):
    """The few validations the test server makes (what Portico's tests need)."""
    if rt.kind == "Ingress":
        for i, rule in enumerate((obj.get("spec") or {}).get("rules") or []):
            for j, path in enumerate(((rule.get("http") or {}).get("paths") or [])):
                if not path.get("pathType"):
                    raise errors.invalid(rt, name, f"spec.rules[{i}].http.paths[{j}].pathType",
                                         "Required value: pathType must be specified")
    if rt.kind == "Lease":
        dur = (obj.get("spec") or {}).get("leaseDurationSeconds")
        if dur is not None and (not isinstance(dur, int) or dur <= 0):
            raise errors.invalid(rt, name, "spec.leaseDurationSeconds", "must be greater than 0",
                                 "FieldValueInvalid", dur)


def prepare_create(rt, body, namespace, rv, ips, check=True):
    obj = clone(body)
    obj.pop("kind", None)
    obj.pop("apiVersion", None)
    meta = obj.setdefault("metadata", {})
    if meta.get("resourceVersion"):
        raise errors.ApiError(500, "resourceVersion should not be set on objects to be created",
                              "InternalError")
    if not meta.get("name"):
        if meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(random.choice(NAME_CHARS)
                                                         for _ in range(5))
        else:
            raise errors.invalid(rt, "", "metadata.name",
                                 "Required value: name or generateName is required")
    if rt.namespaced:
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise errors.bad_request("the namespace of the provided object does not match "
                                     "the namespace sent on the request")
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
              "generation", "selfLink", "managedFields"):
        meta.pop(k, None)
    meta["uid"] = str(uuid.uuid4())
    meta["resourceVersion"] = str(rv)
    meta["creationTimestamp"] = now()
    if rt.generation:
        meta["generation"] = 1
    if rt.empty_status is not None:
        obj["status"] = clone(rt.empty_status)
    apply_defaults(rt, obj, ips)
    if check:
        validate(rt, obj, meta["name"])
    return ordered(normalize(rt, obj))


def prepare_update(rt, old, body, subresource, rv, ips, check=True):
    """Returns the new stored object, or raises. `old` is never modified."""
    new = clone(body)
    new.pop("kind", None)
    new.pop("apiVersion", None)
    meta = new.setdefault("metadata", {})
    old_meta = old["metadata"]
    if meta.get("name") and meta["name"] != old_meta["name"]:
        raise errors.bad_request(f"the name of the object ({meta['name']}) does not match the "
                                 f"name on the URL ({old_meta['name']})")
    if rt.namespaced and meta.get("namespace") and meta["namespace"] != old_meta["namespace"]:
        raise errors.bad_request("the namespace of the provided object does not match the "
                                 "namespace sent on the request")
    if meta.get("uid") and meta["uid"] != old_meta["uid"]:
        raise errors.conflict(rt, old_meta["name"], "Precondition failed: UID in precondition: "
                              f"{meta['uid']}, UID in object meta: {old_meta['uid']}")
    if subresource == "status":
        status = new.get("status")
        new = clone(old)
        if status is None:
            new.pop("status", None)
        else:
            new["status"] = status
    else:
        for k in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                  "deletionGracePeriodSeconds", "generation", "managedFields"):
            if k in old_meta:
                meta[k] = old_meta[k]
            else:
                meta.pop(k, None)
        if rt.status:
            if "status" in old:
                new["status"] = clone(old["status"])
            else:
                new.pop("status", None)
        if rt.kind == "Service":
            spec = new.setdefault("spec", {})
            old_spec = old.get("spec", {})
            for k in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
                if k not in spec and k in old_spec:
                    spec[k] = old_spec[k]
            # Allocated node ports stay with their (port, protocol), as the real server keeps.
            allocated = {(p.get("port"), p.get("protocol", "TCP")): p["nodePort"]
                         for p in old_spec.get("ports") or [] if p.get("nodePort")}
            for p in spec.get("ports") or []:
                key = (p.get("port"), p.get("protocol", "TCP"))
                if not p.get("nodePort") and key in allocated:
                    p["nodePort"] = allocated[key]
        apply_defaults(rt, new, ips)
        if check:
            validate(rt, new, old_meta["name"])
        new = normalize(rt, new)
        if rt.generation and spec_part(new) != spec_part(old):
            new["metadata"]["generation"] = old_meta.get("generation", 1) + 1
    new = normalize(rt, new)
    new["metadata"]["resourceVersion"] = str(rv)
    return ordered(new)
