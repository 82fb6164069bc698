"""JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch.

The strategic merge patch knows the merge keys of the list fields of the types served here
(the `patchMergeKey` tags of the Go API types); lists without one are replaced, as in
Kubernetes. It understands the directives kubectl sends: `$patch` (replace, delete, merge),
`$setElementOrder/<field>`, `$retainKeys` and `$deleteFromPrimitiveList/<field>`.
"""

import copy

from .errors import bad_request, ApiError

# field name -> merge key, for the list fields of the served types that have one.
MERGE_KEYS = {
    "ownerReferences": "uid",
    "ports": None,            # decided by context below (Service: port, container: containerPort)
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "imagePullSecrets": "name", "tolerations": None, "hostAliases": "ip",
    "conditions": "type", "finalizers": None, "topologySpreadConstraints": "topologyKey",
    "addresses": None,
}
# list fields whose merge strategy merges primitive values (patchStrategy:"merge", no key)
MERGE_PRIMITIVE = {"finalizers"}


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# ---- JSON patch ----------------------------------------------------------------------------

def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer: {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc, parts):
    cur = doc
    for part in parts:
        if isinstance(cur, list):
            cur = cur[int(part)]
        else:
            cur = cur[part]
    return cur


def _json_patch_op(doc, op):
    kind = op.get("op")
    parts = _pointer(op.get("path", ""))
    if kind in ("add", "replace", "test"):
        value = op.get("value")
    if kind == "test":
        if _walk(doc, parts) != value:
            raise ApiError(422, f"testing value {op.get('path')} failed", "Invalid")
        return doc
    if kind in ("move", "copy"):
        value = copy.deepcopy(_walk(doc, _pointer(op.get("from", ""))))
        if kind == "move":
            doc = _json_patch_op(doc, {"op": "remove", "path": op.get("from")})
        kind = "add"
    if not parts:
        return copy.deepcopy(value) if kind != "remove" else None
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        if kind == "add":
            index = len(parent) if last == "-" else int(last)
            if index > len(parent):
                raise IndexError(index)
            parent.insert(index, value)
        elif kind == "remove":
            del parent[int(last)]
        elif kind == "replace":
            parent[int(last)] = value
    else:
        if kind == "add":
            parent[last] = value
        elif kind == "remove":
            del parent[last]
        elif kind == "replace":
            if last not in parent:
                raise KeyError(last)
            parent[last] = value
        else:
            raise bad_request(f"Unexpected kind: {kind}")
    return doc


def json_patch(target, ops):
    if not isinstance(ops, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(target)
    for op in ops:
        try:
            doc = _json_patch_op(doc, op)
        except ApiError:
            raise
        except (KeyError, IndexError, ValueError, TypeError):
            raise ApiError(422, f"the server rejected our request due to an error in our "
                           f"request: unable to apply patch op {op.get('op')} at "
                           f"{op.get('path')}", "Invalid")
    return doc


# ---- strategic merge patch -----------------------------------------------------------------

def _merge_key(field, path, items):
    if field == "ports":
        sample = next((i for i in items if isinstance(i, dict)), {})
        if "containerPort" in sample:
            return "containerPort"
        if tuple(path) == ("spec",):
            return "port"            # Service.spec.ports
        return None                  # EndpointSlice.ports and others: atomic
    return MERGE_KEYS.get(field)


def strategic_merge_patch(target, patch, path=()):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if v not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _merge_list(key, list(path), result.get(key), value)
        else:
            merged = strategic_merge_patch(result.get(key), value, tuple(path) + (key,))
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    if isinstance(retain, list):
        for key in list(result):
            if key not in retain and key not in patch:
                result.pop(key)
    for key, value in patch.items():
        if key.startswith("$setElementOrder/"):
            _apply_order(result, key.split("/", 1)[1], value)
    return result


def _merge_list(field, path, current, patch_items):
    if field in MERGE_PRIMITIVE:
        out = list(current or [])
        for v in patch_items:
            if v not in out:
                out.append(v)
        return out
    key = _merge_key(field, path, patch_items + list(current or []))
    if key is None or not isinstance(current, list):
        return [_strip_directives(i) for i in patch_items
                if not (isinstance(i, dict) and i.get("$patch") == "delete")]
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch_items):
        return [_strip_directives(i) for i in patch_items
                if not (isinstance(i, dict) and i.get("$patch"))]
    out = copy.deepcopy(current)
    for item in patch_items:
        if not isinstance(item, dict) or key not in item:
            out.append(copy.deepcopy(item))
            continue
        idx = next((n for n, e in enumerate(out)
                    if isinstance(e, dict) and e.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                del out[idx]
        elif idx is None:
            out.append(_strip_directives(item))
        else:
            out[idx] = strategic_merge_patch(out[idx], item, tuple(path) + (field,))
    return out


def _strip_directives(item):
    if isinstance(item, dict):
        return {k: _strip_directives(v) for k, v in item.items() if not k.startswith("$")}
    if isinstance(item, list):
        return [_strip_directives(v) for v in item]
    return copy.deepcopy(item)


def _apply_order(result, field, order):
    items = result.get(field)
    if not isinstance(items, list) or not order:
        return
    if not isinstance(order[0], dict):
        rank = {v: n for n, v in enumerate(order)}
        items.sort(key=lambda v: rank.get(v, len(rank)))
        return
    (key,) = order[0].keys() if len(order[0]) == 1 else (None,)
    if key is None:
        return
    rank = {o.get(key): n for n, o in enumerate(order)}
    items.sort(key=lambda v: rank.get(v.get(key) if isinstance(v, dict) else None, len(rank)))
