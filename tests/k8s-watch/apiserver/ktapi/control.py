"""The control API under /_test/ (not part of Kubernetes): fault injection and state."""

import json

from . import errors, loader


def _body_json(body):
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except ValueError as e:
        raise errors.bad_request(f"control body is not JSON: {e}")


def handle(h, method, path, params, body):
    app = h.server
    name = path[len("/_test/"):].strip("/")
    args = dict(params)
    if method == "POST":
        args.update(_body_json(body) if name not in ("load",) else {})
    result = _dispatch(app, method, name, args, body)
    h.send_json(200, result)


def _dispatch(app, method, name, args, body):
    if name == "state":
        return app.state()
    if name == "requests":
        return {"requests": app.requests_since(int(args.get("since", 0)))}
    if name == "watch-sent":
        rv = int(args.get("rv", 0))
        with app.watch_lock:
            sent = app.watch_sent.get(rv)
        return {"resourceVersion": str(rv), "sent": sent}
    if name == "snapshot":
        snap = app.store.snapshot()
        if args.get("path"):
            loader.write_json(args["path"], snap)
        return snap
    if method != "POST":
        raise errors.ApiError(405, f"/_test/{name} needs POST", "MethodNotAllowed")
    if name == "drop-watches":
        mode = args.get("mode", "abrupt")
        if mode not in ("abrupt", "clean", "expire"):
            raise errors.bad_request("mode is abrupt, clean or expire")
        return {"dropped": app.signal_watchers(mode, args.get("resource"))}
    if name == "bookmark":
        return {"signalled": app.signal_watchers("bookmark", args.get("resource"))}
    if name == "refuse":
        app.listener.refuse_for(float(args.get("seconds", 1)))
        return {"refusing_seconds": float(args.get("seconds", 1))}
    if name in ("fail", "stall"):
        spec = dict(args)
        if name == "fail" and spec.get("code") is None:
            spec["code"] = 500
        if name == "stall":
            spec.pop("code", None)
        return {"rule": app.faults.add(spec)}
    if name == "clear-faults":
        app.faults.clear()
        return {"rules": []}
    if name == "compact":
        return {"compacted_rv": str(app.store.compact(args.get("rv")))}
    if name == "install-gateway-api":
        from .resources import gateway_api_types
        with app.store.cond:
            added = app.registry.add(gateway_api_types())
            for rt in added:
                app.store.objects.setdefault(rt.plural + "." + rt.group, {})
        return {"added": [rt.plural for rt in added]}
    if name == "load":
        created = loader.load_into(app.store, body.decode("utf-8"), replace=True)
        return {"loaded": created, "resourceVersion": str(app.store.rv)}
    raise errors.ApiError(404, f"unknown control endpoint /_test/{name}", "NotFound")
