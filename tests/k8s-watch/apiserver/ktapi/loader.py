"""Reading objects from JSON or YAML text (files given with --load, /_test/load bodies)."""

import json
import os

from . import errors


def parse_documents(text):
    """A JSON document, JSON lines, or (with PyYAML) multi-document YAML. Lists are expanded."""
    docs = None
    try:
        docs = [json.loads(text)]
    except ValueError:
        try:
            docs = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError:
            try:
                import yaml  # PyYAML (python3-yaml); JSON needs nothing
            except ImportError:
                raise errors.bad_request("YAML input needs PyYAML (python3-yaml); use JSON")
            docs = list(yaml.safe_load_all(text))
    out = []
    for doc in docs:
        if not doc:
            continue
        if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") \
                and isinstance(doc.get("items"), list):
            out.extend(i for i in doc["items"] if i)
        elif isinstance(doc, list):
            out.extend(i for i in doc if i)
        else:
            out.append(doc)
    return out


def load_into(store, text, replace=True):
    """Creates (or, with replace, updates) every object. Missing namespaces are created."""
    count = 0
    for obj in parse_documents(text):
        rt = store.registry.for_kind(obj.get("apiVersion"), obj.get("kind"))
        if rt is None:
            raise errors.bad_request(f"no resource type for {obj.get('apiVersion')} "
                                     f"{obj.get('kind')}")
        meta = obj.setdefault("metadata", {})
        namespace = None
        if rt.namespaced:
            namespace = meta.get("namespace") or "default"
            store.ensure_namespace(namespace)
        for k in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
            meta.pop(k, None)
        try:
            store.create(rt, namespace, obj, manager="loader")
        except errors.ApiError as e:
            if e.code != 409 or not replace:
                raise
            store.update(rt, namespace, meta["name"], obj, manager="loader")
            if rt.status and "status" in obj:
                store.update(rt, namespace, meta["name"], obj, "status", manager="loader")
            count += 1
            continue
        if rt.status and obj.get("status"):
            store.update(rt, namespace, meta["name"], obj, "status", manager="loader")
        count += 1
    return count


def load_file(store, path):
    with open(path, encoding="utf-8") as f:
        return load_into(store, f.read())


def write_json(path, doc):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, separators=(",", ":"))
    os.replace(tmp, path)
