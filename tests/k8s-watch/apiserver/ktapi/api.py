"""The Kubernetes REST API: discovery, and get/list/watch/create/update/patch/delete on the
resource paths of every registered type."""

import base64
import bisect
import json

from . import errors, objects, openapi, patches, protobuf, table, watch
from .selectors import Filter, parse_field_selector, parse_label_selector

AGGREGATED = {
    "v2": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
    "v2beta1": "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList",
}


def route(h, method, path, params, body):
    app = h.server
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] in ("healthz", "livez", "readyz"):
        return h.send_bytes(200, b"ok", "text/plain; charset=utf-8")
    if parts == ["version"]:
        return h.send_json(200, app.version_info())
    if len(parts) >= 2 and parts[:2] == ["openapi", "v3"]:
        doc = openapi.lookup(app.registry, parts[2:])
        if doc is None:
            raise _path_not_found()
        return h.send_json(200, doc)
    if not parts or parts[0] not in ("api", "apis"):
        raise _path_not_found()
    if parts[0] == "api":
        if len(parts) == 1:
            return _discovery(h, core=True)
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) == 1:
            return _discovery(h, core=False)
        group = parts[1]
        if not app.registry.versions_of(group):
            raise _path_not_found()
        if len(parts) == 2:
            doc = {"kind": "APIGroup", "apiVersion": "v1"}
            doc.update(app.registry.api_group(group))
            return h.send_json(200, doc)
        version, rest = parts[2], parts[3:]
    if not app.registry.has_group_version(group, version):
        raise _path_not_found()
    if not rest:
        return h.send_json(200, app.registry.resource_list(group, version))
    return _resource(h, method, group, version, rest, params, body)


def _path_not_found():
    return errors.ApiError(404, "the server could not find the requested resource",
                           "NotFound", {})


def _discovery(h, core):
    app = h.server
    accept = h.headers.get("Accept") or ""
    if app.aggregated_discovery:
        for offer in (o.strip() for o in accept.split(",")):
            for version, media in AGGREGATED.items():
                if offer.replace(" ", "") == media:
                    doc = app.registry.aggregated(core, f"apidiscovery.k8s.io/{version}")
                    return h.send_json(200, doc, content_type=media)
    if core:
        return h.send_json(200, app.registry.api_versions(app.server_address()))
    return h.send_json(200, app.registry.api_group_list())


def _resource(h, method, group, version, rest, params, body):
    app = h.server
    if rest[0] == "watch":
        rest = rest[1:]
        params["watch"] = "true"
    namespace = None
    if (len(rest) >= 3 and rest[0] == "namespaces"
            and not (len(rest) == 3 and rest[2] in ("status", "finalize"))):
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise _path_not_found()
    rt = app.registry.lookup(group, version, rest[0])
    if rt is None or (namespace is not None and not rt.namespaced):
        raise _path_not_found()
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if sub is not None and (sub != "status" or not rt.status):
        raise _path_not_found()
    if name is not None and rt.namespaced and namespace is None:
        raise _path_not_found()
    if name is None:
        return _collection(h, method, rt, namespace, params, body)
    return _item(h, method, rt, namespace, name, sub, params, body)


def _collection(h, method, rt, namespace, params, body):
    if method in ("GET", "HEAD"):
        flt = Filter(namespace, parse_label_selector(params.get("labelSelector")),
                     parse_field_selector(params.get("fieldSelector"), rt))
        as_table = table.wanted(h.headers.get("Accept"))
        if params.get("watch") in ("true", "1"):
            return watch.serve(h, rt, flt, params, _encoder(rt, as_table, params))
        store = h.server.store
        result = list_objects(store, rt, flt, params, h.server.paginate_rv0)
        if as_table:
            doc = table.table(rt, result["items"], result["metadata"], as_table,
                              params.get("includeObject") or "Metadata")
            return h.send_json(200, doc, content_type=table.TABLE_MEDIA[as_table])
        # Items are written from their cached encodings: big lists stay cheap.
        head = json.dumps({k: v for k, v in result.items() if k != "items"},
                          separators=(",", ":"))[:-1].encode()
        with store.cond:
            items = b",".join(store.encode(o) for o in result["items"])
        return h.send_bytes(200, head + b',"items":[' + items + b"]}\n", "application/json")
    if method == "POST":
        if rt.namespaced and namespace is None:
            raise _path_not_found()
        obj = _decode(h, body)
        _check_type(rt, obj)
        created = h.server.store.create(rt, namespace, obj, _dry_run(params),
                                        _manager(h, params))
        return h.send_json(201, objects.with_type(rt, created))
    if method == "DELETE":
        return _delete_collection(h, rt, namespace, params)
    raise errors.ApiError(405, "the server does not allow this method on the requested "
                          "resource", "MethodNotAllowed")


def _item(h, method, rt, namespace, name, sub, params, body):
    store = h.server.store
    if method in ("GET", "HEAD") and params.get("watch") in ("true", "1") and sub is None:
        # The deprecated /watch/.../NAME form: a watch restricted to that name.
        flt = Filter(namespace, None, parse_field_selector(f"metadata.name={name}", rt))
        return watch.serve(h, rt, flt, params,
                           _encoder(rt, table.wanted(h.headers.get("Accept")), params))
    if method in ("GET", "HEAD"):
        obj = store.get(rt, namespace, name)
        as_table = table.wanted(h.headers.get("Accept"))
        if as_table and sub is None:
            doc = table.table(rt, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]},
                              as_table, params.get("includeObject") or "Metadata")
            return h.send_json(200, doc, content_type=table.TABLE_MEDIA[as_table])
        return h.send_json(200, objects.with_type(rt, obj))
    if method == "PUT":
        obj = _decode(h, body)
        _check_type(rt, obj)
        before = store.table(rt).get(_key(rt, namespace, name))
        updated = store.update(rt, namespace, name, obj, sub, _dry_run(params),
                               _manager(h, params))
        code = 201 if before is None else 200
        return h.send_json(code, objects.with_type(rt, updated))
    if method == "PATCH":
        return _patch(h, rt, namespace, name, sub, params, body)
    if method == "DELETE":
        opts = json.loads(body) if body.strip() else {}
        dry = _dry_run(params) or "All" in (opts.get("dryRun") or [])
        obj, gone = store.delete(rt, namespace, name, opts.get("preconditions"), dry)
        if not gone:
            return h.send_json(202, objects.with_type(rt, obj))
        if rt.kind == "Namespace":
            return h.send_json(200, objects.with_type(rt, obj))
        return h.send_json(200, errors.success(rt, name, obj["metadata"]["uid"]))
    raise errors.ApiError(405, "the server does not allow this method on the requested "
                          "resource", "MethodNotAllowed")


def _encoder(rt, as_table, params):
    """How watch event objects are written: the object, or a one-row Table."""
    if not as_table:
        return lambda obj: objects.with_type(rt, obj)
    include = params.get("includeObject") or "Metadata"
    return lambda obj: table.table(rt, [obj], {"resourceVersion": obj["metadata"][
        "resourceVersion"]}, as_table, include)


def _key(rt, namespace, name):
    return f"{namespace}/{name}" if rt.namespaced else name


PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml")


def _patch(h, rt, namespace, name, sub, params, body):
    store = h.server.store
    ctype = (h.headers.get("Content-Type") or "").split(";")[0].strip()
    if ctype not in PATCH_TYPES:
        raise errors.ApiError(415, "the body of the request was in an unknown format - "
                              "accepted media types include: " + ", ".join(PATCH_TYPES),
                              "UnsupportedMediaType")
    apply = ctype == "application/apply-patch+yaml"
    if apply and not params.get("fieldManager"):
        raise errors.ApiError(422, 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: '
                              'Required value: is required for apply patch', "Invalid")
    try:
        doc = _load_patch(body, apply)
    except ValueError as e:
        raise errors.bad_request(f"error decoding patch: {e}")

    def mutate(old):
        current = objects.with_type(rt, old) if old is not None else {}
        if ctype == "application/json-patch+json":
            return patches.json_patch(current, doc)
        if ctype == "application/merge-patch+json":
            return patches.merge_patch(current, doc)
        if apply:
            _check_type(rt, doc)
            meta = doc.get("metadata") or {}
            if meta.get("name") and meta["name"] != name:
                raise errors.bad_request(f"the name of the object ({meta['name']}) does not "
                                         f"match the name on the URL ({name})")
        return patches.strategic_merge_patch(current, doc)

    before = store.table(rt).get(_key(rt, namespace, name))
    updated = store.update(rt, namespace, name, None, sub, _dry_run(params),
                           _manager(h, params), mutate=mutate, create_missing=apply,
                           operation="Apply" if apply else "Update")
    return h.send_json(201 if before is None else 200, objects.with_type(rt, updated))


def _load_patch(body, apply):
    text = body.decode("utf-8")
    try:
        return json.loads(text)
    except ValueError:
        if not apply:
            raise
    try:
        import yaml  # PyYAML, only needed for YAML apply bodies
    except ImportError:
        raise ValueError("YAML apply patches need PyYAML; send JSON")
    return yaml.safe_load(text)


def _delete_collection(h, rt, namespace, params):
    store = h.server.store
    flt = Filter(namespace, parse_label_selector(params.get("labelSelector")),
                 parse_field_selector(params.get("fieldSelector"), rt))
    with store.cond:
        victims = [o for o in store.table(rt).values() if flt.matches(o)]
    items = []
    for obj in victims:
        meta = obj["metadata"]
        try:
            gone, _ = store.delete(rt, meta.get("namespace"), meta["name"], None,
                                   _dry_run(params))
            items.append(gone)
        except errors.ApiError:
            continue
    return h.send_json(200, {"kind": f"{rt.kind}List", "apiVersion": rt.group_version,
                             "metadata": {"resourceVersion": str(store.rv)}, "items": items})


def _decode(h, body):
    ctype = (h.headers.get("Content-Type") or "application/json").split(";")[0].strip()
    if not body.strip():
        raise errors.bad_request("the body of the request was empty")
    text = body.decode("utf-8") if not ctype.endswith("protobuf") else ""
    try:
        if ctype == "application/vnd.kubernetes.protobuf":
            return protobuf.decode(body)
        if ctype in ("application/yaml", "application/x-yaml"):
            import yaml
            doc = yaml.safe_load(text)
        elif ctype == "application/json" or ctype == "":
            doc = json.loads(text)
        else:
            raise errors.ApiError(415, "the body of the request was in an unknown format - "
                                  "accepted media types include: application/json, "
                                  "application/yaml, application/vnd.kubernetes.protobuf",
                                  "UnsupportedMediaType")
    except ValueError as e:
        raise errors.bad_request(f"the object provided is unrecognized: {e}")
    if not isinstance(doc, dict):
        raise errors.bad_request("the object provided is unrecognized")
    return doc


def _check_type(rt, obj):
    kind = obj.get("kind")
    api_version = obj.get("apiVersion")
    if kind and kind != rt.kind or api_version and api_version != rt.group_version:
        raise errors.bad_request(f"the API version in the data ({api_version}) does not match "
                                 f"the expected API version ({rt.group_version})"
                                 if api_version != rt.group_version else
                                 f"the kind in the data ({kind}) does not match the expected "
                                 f"kind ({rt.kind})")


def _dry_run(params):
    return params.get("dryRun") == "All"


def _manager(h, params):
    if params.get("fieldManager"):
        return params["fieldManager"]
    ua = h.headers.get("User-Agent") or "unknown"
    return ua.split("/")[0][:128] or "unknown"


# ---- list ------------------------------------------------------------------------------------

def encode_continue(rv, start):
    doc = {"v": "meta.k8s.io/v1", "rv": rv, "start": start}
    return base64.urlsafe_b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()


def decode_continue(token):
    try:
        pad = "=" * (-len(token) % 4)
        doc = json.loads(base64.urlsafe_b64decode(token + pad))
        if doc.get("v") != "meta.k8s.io/v1":
            raise ValueError("unsupported version")
        return int(doc["rv"]), str(doc["start"])
    except (ValueError, KeyError, TypeError) as e:
        raise errors.bad_request(f"continue key is not valid: {e}")


def _parse_rv(text):
    try:
        value = int(text)
        if value < 0:
            raise ValueError
        return value
    except ValueError:
        raise errors.bad_request(f"invalid resource version: {text}")


def list_objects(store, rt, flt, params, paginate_rv0=False):
    limit = _parse_rv(params.get("limit") or "0")
    token = params.get("continue") or ""
    rv_text = params.get("resourceVersion") or ""
    match = params.get("resourceVersionMatch") or ""
    if rv_text == "0" and not token and not paginate_rv0:
        limit = 0   # served from the watch cache, which ignores limit (kube-apiserver <= 1.32)
    start = ""
    if token:
        if rv_text:
            raise errors.bad_request("specifying resource version is not allowed when using "
                                     "continue")
        token_rv, start = decode_continue(token)
    elif rv_text not in ("", "0"):
        want = _parse_rv(rv_text)
        store.wait_for_rv(want)
    exact = bool(token and token_rv > 0) or match == "Exact" or \
        (not match and limit and rv_text not in ("", "0"))
    with store.cond:
        if not exact:
            state, read_rv = store.table(rt), store.rv
        else:
            read_rv = token_rv if token else _parse_rv(rv_text)
            state = store.state_at(rt, read_rv)
            if state is None:
                if token:
                    raise errors.ApiError(410, errors.CONTINUE_EXPIRED, "Expired",
                                          continue_=encode_continue(-1, start))
                raise errors.expired(f"too old resource version: {read_rv} "
                                     f"({store.compacted_rv + 1})")
        prefix = f"{flt.namespace}/" if flt.namespace is not None and rt.namespaced else ""
        keys = store.sorted_keys(rt) if state is store.table(rt) else sorted(state)
        # The keys after `start` with `prefix` ("ns/": the next one past it is "ns0").
        lo, hi = bisect.bisect_right(keys, start), len(keys)
        if prefix:
            lo = max(lo, bisect.bisect_left(keys, prefix))
            hi = bisect.bisect_left(keys, prefix[:-1] + "0")
        total = max(0, hi - lo)
        items, last, n = [], None, 0
        for n, i in enumerate(range(lo, hi), 1):
            obj = state[keys[i]]
            if flt.matches(obj):
                items.append(obj)
                last = keys[i]
                if limit and len(items) >= limit:
                    break
        else:
            n = total
        meta = {"resourceVersion": str(read_rv)}
        if limit and n < total:
            meta["continue"] = encode_continue(read_rv, last + "\x00")
            if not flt.selective:
                meta["remainingItemCount"] = total - n
        return {"kind": f"{rt.kind}List", "apiVersion": rt.group_version, "metadata": meta,
                "items": items}
