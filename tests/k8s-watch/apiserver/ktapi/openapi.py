"""A minimal OpenAPI v3 surface: the root index and, per group-version, the paths with their
operations, GVK extensions and query parameters. There are no schemas.

kubectl (1.27+) reads it to learn that the server does field validation (the
`fieldValidation` query parameter of each PATCH operation); with that it sends
`fieldValidation=Strict` instead of validating on the client against /openapi/v2, which is
not served. `kubectl apply` finds no strategic-merge schema here and computes its patch from
its built-in types, as it does against servers without OpenAPI.
"""

import hashlib
import json

QUERY = ["dryRun", "fieldManager", "fieldValidation", "pretty"]


def _param(name):
    return {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}


def _op(rt, action, params=QUERY):
    return {"tags": [rt.group_version], "operationId": f"{action}{rt.kind}",
            "parameters": [_param(p) for p in params],
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": {"group": rt.group, "version": rt.version,
                                                "kind": rt.kind}}


def gv_document(registry, group, version):
    paths = {}
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    for rt in registry.types:
        if rt.group != group or rt.version != version:
            continue
        base = f"{prefix}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced \
            else f"{prefix}/{rt.plural}"
        paths[base] = {"get": _op(rt, "list", ["labelSelector", "fieldSelector", "limit",
                                               "continue", "resourceVersion", "watch"]),
                       "post": _op(rt, "post"), "delete": _op(rt, "deletecollection")}
        paths[base + "/{name}"] = {"get": _op(rt, "get", ["pretty"]), "put": _op(rt, "put"),
                                   "patch": _op(rt, "patch", QUERY + ["force"]),
                                   "delete": _op(rt, "delete", ["dryRun"])}
        if rt.status:
            paths[base + "/{name}/status"] = {"get": _op(rt, "get", ["pretty"]),
                                              "put": _op(rt, "put"),
                                              "patch": _op(rt, "patch", QUERY + ["force"])}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.4"},
            "paths": paths, "components": {"schemas": {}}}


def _hash(doc):
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:64].upper()


def root(registry):
    paths = {}
    for group in registry.groups:
        for version in registry.versions_of(group):
            name = f"apis/{group}/{version}" if group else f"api/{version}"
            digest = _hash(gv_document(registry, group, version))
            paths[name] = {"serverRelativeURL": f"/openapi/v3/{name}?hash={digest}"}
    return {"paths": paths}


def lookup(registry, rest):
    """The document for `/openapi/v3/<rest>`, or None."""
    if not rest:
        return root(registry)
    if rest[0] == "api" and len(rest) == 2:
        group, version = "", rest[1]
    elif rest[0] == "apis" and len(rest) == 3:
        group, version = rest[1], rest[2]
    else:
        return None
    if not registry.has_group_version(group, version):
        return None
    return gv_document(registry, group, version)
