"""Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`) for
the types kubectl's generators create (`kubectl create namespace|configmap|secret|service|
ingress|clusterrole|rolebinding|...`), which send protobuf through typed clients.

Envelope: the 4 bytes "k8s\\0", then a runtime.Unknown {1: TypeMeta{1: apiVersion, 2: kind},
2: raw object bytes, 3: contentEncoding, 4: contentType}. Field numbers are those of the
generated.proto files of k8s.io/api and apimachinery. A field this table does not know is an
error (415), never silently dropped.
"""

import base64
import struct

from .errors import ApiError

MAGIC = b"k8s\x00"

# message -> {field number: (json name, kind)}; a kind is one of "string", "bytes", "int",
# "bool", "strings" (repeated string), "map_ss", "map_sb", "time", "intorstr",
# "msg:Name", "list:Name" (repeated message), "inline:Name" (fields merged into the parent),
# "skip" (status, which create and update ignore).
S, B, N, BO, PB, SS = "string", "bytes", "int", "bool", "pbool", "strings"
SCHEMA = {
    "TypeMeta": {1: ("apiVersion", S), 2: ("kind", S)},
    "ObjectMeta": {1: ("name", S), 2: ("generateName", S), 3: ("namespace", S),
                   4: ("selfLink", S), 5: ("uid", S), 6: ("resourceVersion", S),
                   7: ("generation", N), 8: ("creationTimestamp", "time"),
                   9: ("deletionTimestamp", "time"), 10: ("deletionGracePeriodSeconds", N),
                   11: ("labels", "map_ss"), 12: ("annotations", "map_ss"),
                   13: ("ownerReferences", "list:OwnerReference"), 14: ("finalizers", SS)},
    "OwnerReference": {1: ("kind", S), 3: ("name", S), 4: ("uid", S), 5: ("apiVersion", S),
                       6: ("controller", PB), 7: ("blockOwnerDeletion", PB)},
    "Namespace": {1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:NamespaceSpec"),
                  3: ("status", "msg:NamespaceStatus")},
    "NamespaceSpec": {1: ("finalizers", SS)},
    "NamespaceStatus": {1: ("phase", S)},
    "ConfigMap": {1: ("metadata", "msg:ObjectMeta"), 2: ("data", "map_ss"),
                  3: ("binaryData", "map_sb"), 4: ("immutable", PB)},
    "Secret": {1: ("metadata", "msg:ObjectMeta"), 2: ("data", "map_sb"), 3: ("type", S),
               4: ("stringData", "map_ss"), 5: ("immutable", PB)},
    "ServiceAccount": {1: ("metadata", "msg:ObjectMeta"),
                       2: ("secrets", "list:ObjectReference"),
                       3: ("imagePullSecrets", "list:LocalObjectReference"),
                       4: ("automountServiceAccountToken", PB)},
    "ObjectReference": {1: ("kind", S), 2: ("namespace", S), 3: ("name", S), 4: ("uid", S),
                        5: ("apiVersion", S), 6: ("resourceVersion", S), 7: ("fieldPath", S)},
    "LocalObjectReference": {1: ("name", S)},
    "Service": {1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:ServiceSpec"),
                3: ("status", "skip")},
    "ServiceSpec": {1: ("ports", "list:ServicePort"), 2: ("selector", "map_ss"),
                    3: ("clusterIP", S), 4: ("type", S), 5: ("externalIPs", SS),
                    7: ("sessionAffinity", S), 8: ("loadBalancerIP", S),
                    9: ("loadBalancerSourceRanges", SS), 10: ("externalName", S),
                    11: ("externalTrafficPolicy", S), 12: ("healthCheckNodePort", N),
                    13: ("publishNotReadyAddresses", BO), 17: ("ipFamilyPolicy", S),
                    18: ("clusterIPs", SS), 19: ("ipFamilies", SS),
                    20: ("allocateLoadBalancerNodePorts", PB), 21: ("loadBalancerClass", S),
                    22: ("internalTrafficPolicy", S)},
    "ServicePort": {1: ("name", S), 2: ("protocol", S), 3: ("port", N),
                    4: ("targetPort", "intorstr"), 5: ("nodePort", N), 6: ("appProtocol", S)},
    "Ingress": {1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:IngressSpec"),
                3: ("status", "skip")},
    "IngressSpec": {1: ("defaultBackend", "msg:IngressBackend"), 2: ("tls", "list:IngressTLS"),
                    3: ("rules", "list:IngressRule"), 4: ("ingressClassName", S)},
    "IngressBackend": {3: ("resource", "msg:TypedLocalObjectReference"),
                       4: ("service", "msg:IngressServiceBackend")},
    "TypedLocalObjectReference": {1: ("apiGroup", S), 2: ("kind", S), 3: ("name", S)},
    "IngressServiceBackend": {1: ("name", S), 2: ("port", "msg:ServiceBackendPort")},
    "ServiceBackendPort": {1: ("name", S), 2: ("number", N)},
    "IngressTLS": {1: ("hosts", SS), 2: ("secretName", S)},
    "IngressRule": {1: ("host", S), 2: ("", "inline:IngressRuleValue")},
    "IngressRuleValue": {1: ("http", "msg:HTTPIngressRuleValue")},
    "HTTPIngressRuleValue": {1: ("paths", "list:HTTPIngressPath")},
    "HTTPIngressPath": {1: ("path", S), 2: ("backend", "msg:IngressBackend"),
                        3: ("pathType", S)},
    "ClusterRole": {1: ("metadata", "msg:ObjectMeta"), 2: ("rules", "list:PolicyRule"),
                    3: ("aggregationRule", "msg:AggregationRule")},
    "Role": {1: ("metadata", "msg:ObjectMeta"), 2: ("rules", "list:PolicyRule")},
    "PolicyRule": {1: ("verbs", SS), 2: ("apiGroups", SS), 3: ("resources", SS),
                   4: ("resourceNames", SS), 5: ("nonResourceURLs", SS)},
    "AggregationRule": {1: ("clusterRoleSelectors", "list:LabelSelector")},
    "LabelSelector": {1: ("matchLabels", "map_ss")},
    "ClusterRoleBinding": {1: ("metadata", "msg:ObjectMeta"), 2: ("subjects", "list:Subject"),
                           3: ("roleRef", "msg:RoleRef")},
    "RoleBinding": {1: ("metadata", "msg:ObjectMeta"), 2: ("subjects", "list:Subject"),
                    3: ("roleRef", "msg:RoleRef")},
    "Subject": {1: ("kind", S), 2: ("apiGroup", S), 3: ("name", S), 4: ("namespace", S)},
    "RoleRef": {1: ("apiGroup", S), 2: ("kind", S), 3: ("name", S)},
    "Time": {1: ("seconds", N), 2: ("nanos", N)},
    "IntOrString": {1: ("type", N), 2: ("intVal", N), 3: ("strVal", S)},
    "MapEntry": {1: ("key", S), 2: ("value", B)},
}


def _varint(buf, pos):
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf):
    """Yields (number, wire type, value) for every field of a message."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = struct.unpack_from("<q", buf, pos)[0], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
            if pos > len(buf):
                raise ValueError("truncated field")
        elif wire == 5:
            value, pos = struct.unpack_from("<i", buf, pos)[0], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def _signed(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def _time(buf):
    t = decode_message(buf, "Time")
    if not t.get("seconds"):
        return None
    import datetime
    return datetime.datetime.fromtimestamp(t["seconds"], datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def decode_message(buf, name):
    schema = SCHEMA[name]
    out = {}
    for number, wire, value in _fields(bytes(buf)):
        if number not in schema:
            raise ApiError(415, f"protobuf field {number} of {name} is not understood by the "
                           "test API server; send JSON", "UnsupportedMediaType")
        key, kind = schema[number]
        if kind == "skip":      # status on create: the server resets it anyway
            continue
        if kind == S:
            out[key] = bytes(value).decode("utf-8")
        elif kind == B:
            out[key] = bytes(value)
        elif kind == N:
            out[key] = _signed(value)
        elif kind == BO:
            out[key] = bool(value) or None      # false is omitted (omitempty)
        elif kind == PB:
            out[key] = bool(value)              # a pointer: set means present
        elif kind == SS:
            out.setdefault(key, []).append(bytes(value).decode("utf-8"))
        elif kind in ("map_ss", "map_sb"):
            entry = decode_message(value, "MapEntry")
            raw = entry.get("value", b"")
            out.setdefault(key, {})[entry.get("key", "")] = (
                raw.decode("utf-8") if kind == "map_ss" else base64.b64encode(raw).decode())
        elif kind == "time":
            out[key] = _time(value)
        elif kind == "intorstr":
            ios = decode_message(value, "IntOrString")
            out[key] = ios.get("strVal", "") if ios.get("type") == 1 else ios.get("intVal", 0)
        elif kind.startswith("msg:"):
            out[key] = decode_message(value, kind[4:])
        elif kind.startswith("list:"):
            out.setdefault(key, []).append(decode_message(value, kind[5:]))
        elif kind.startswith("inline:"):
            out.update(decode_message(value, kind[7:]))
    # Go marshals non-pointer fields even when empty; JSON omits them (omitempty).
    return {k: v for k, v in out.items()
            if v is False or (v is not None and v not in ("", 0, [], {}))}


def decode(body):
    """The JSON form (a dict with apiVersion and kind) of a protobuf request body."""
    if not body.startswith(MAGIC):
        raise ApiError(400, "protobuf body without the k8s\\0 prefix", "BadRequest")
    unknown = {}
    for number, _, value in _fields(body[len(MAGIC):]):
        unknown[number] = value
    meta = decode_message(unknown.get(1, b""), "TypeMeta")
    kind = meta.get("kind", "")
    if kind not in SCHEMA or kind in ("TypeMeta", "ObjectMeta"):
        raise ApiError(415, f"protobuf bodies of kind {kind!r} are not understood by the test "
                       "API server; send JSON", "UnsupportedMediaType")
    obj = {"apiVersion": meta.get("apiVersion", ""), "kind": kind}
    obj.update(decode_message(unknown.get(2, b""), kind))
    return obj
