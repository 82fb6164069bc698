"""Server-side printing (meta.k8s.io/v1 Table), which kubectl asks for on `get`.

Columns follow kube-apiserver's printers for the served types; types without a printer get
"Name" and "Created At", as on the real server.
"""

import datetime

from . import objects

TABLE_MEDIA = {
    "v1": "application/json;as=Table;v=v1;g=meta.k8s.io",
    "v1beta1": "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
}


def wanted(accept):
    """The Table version to answer with, when the Accept header prefers a Table."""
    for offer in (o.strip().replace(" ", "") for o in (accept or "").split(",")):
        for version, media in TABLE_MEDIA.items():
            if offer == media:
                return version
        if offer.split(";")[0] in ("application/json", "*/*", "application/*"):
            return None
    return None


def human_duration(seconds):
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    years, days = hours // 24 // 365, hours // 24 % 365
    if hours < 24 * 365 * 8:
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{years}y"


def _age(obj):
    ts = obj.get("metadata", {}).get("creationTimestamp")
    if not ts:
        return "<unknown>"
    created = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)
    return human_duration((datetime.datetime.now(datetime.timezone.utc) - created)
                          .total_seconds())


def _more(items, limit=3):
    if not items:
        return None
    text = ",".join(items[:limit])
    if len(items) > limit:
        text += f" + {len(items) - limit} more..."
    return text


def _lb(status):
    out = []
    for ing in ((status or {}).get("loadBalancer") or {}).get("ingress") or []:
        out += [v for v in (ing.get("ip"), ing.get("hostname")) if v]
    return ",".join(out)


def _ingress(o):
    spec = o.get("spec") or {}
    hosts = [r.get("host") for r in spec.get("rules") or [] if r.get("host")]
    return [spec.get("ingressClassName") or "<none>", _more(hosts, 4) or "*",
            _lb(o.get("status")), "80, 443" if spec.get("tls") else "80"]


def _service(o):
    spec = o.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    ext = spec.get("externalIPs") or []
    if kind == "LoadBalancer":
        ext = _lb(o.get("status")).split(",") if _lb(o.get("status")) else ["<pending>"]
    elif kind == "ExternalName":
        ext = [spec.get("externalName", "")]
    ports = []
    for p in spec.get("ports") or []:
        node = f":{p['nodePort']}" if p.get("nodePort") else ""
        ports.append(f"{p.get('port')}{node}/{p.get('protocol', 'TCP')}")
    sel = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items()))
    return [kind, spec.get("clusterIP") or "<none>", ",".join(ext) or "<none>",
            ",".join(ports) or "<none>", None, sel or "<none>"]


def _slice(o):
    ports = [str(p["port"]) if p.get("port") is not None else "<unset>"
             for p in o.get("ports") or []]
    addrs = [a for e in o.get("endpoints") or [] for a in e.get("addresses") or []]
    return [o.get("addressType", ""), ",".join(ports) or "<unset>", _more(addrs) or "<none>"]


def _endpoints(o):
    eps = []
    for sub in o.get("subsets") or []:
        for a in sub.get("addresses") or []:
            for p in sub.get("ports") or [{}]:
                eps.append(f"{a.get('ip')}:{p['port']}" if p.get("port") else a.get("ip"))
    return [_more(eps) or "<none>"]


def _selector(o):
    """metav1.FormatLabelSelector of spec.podSelector (matchLabels only)."""
    labels = ((o.get("spec") or {}).get("podSelector") or {}).get("matchLabels") or {}
    return [",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>"]


def _deployment(o):
    st, want = o.get("status") or {}, (o.get("spec") or {}).get("replicas", 1)
    return [f"{st.get('readyReplicas', 0)}/{want}", st.get("updatedReplicas", 0),
            st.get("availableReplicas", 0)]


def _daemonset(o):
    st = o.get("status") or {}
    sel = (((o.get("spec") or {}).get("template") or {}).get("spec") or {}).get("nodeSelector")
    return [st.get("desiredNumberScheduled", 0), st.get("currentNumberScheduled", 0),
            st.get("numberReady", 0), st.get("updatedNumberScheduled", 0),
            st.get("numberAvailable", 0),
            ",".join(f"{k}={v}" for k, v in sorted((sel or {}).items())) or "<none>"]


def _binding(o):
    ref = o.get("roleRef") or {}
    return [f"{ref.get('kind', '')}/{ref.get('name', '')}"]


def _pod(o):
    containers = (o.get("spec") or {}).get("containers") or []
    st = o.get("status") or {}
    ready = sum(1 for c in st.get("containerStatuses") or [] if c.get("ready"))
    return [f"{ready}/{len(containers)}", st.get("phase", "Pending"), "0"]


def _node(o):
    conds = (o.get("status") or {}).get("conditions") or []
    ready = [c for c in conds if c.get("type") == "Ready"]
    status = "Ready" if ready and ready[0].get("status") == "True" else "NotReady"
    roles = sorted(k.split("/", 1)[1] for k in (o["metadata"].get("labels") or {})
                   if k.startswith("node-role.kubernetes.io/"))
    version = ((o.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "")
    return [status, ",".join(roles) or "<none>", None, version]


S, I = "string", "integer"
# kind -> (columns before Age as (name, type, priority), cells function, columns after Age)
PRINTERS = {
    "Namespace": ([("Status", S, 0)], lambda o: [(o.get("status") or {}).get("phase", "")], []),
    "Service": ([("Type", S, 0), ("Cluster-IP", S, 0), ("External-IP", S, 0),
                 ("Port(s)", S, 0)], _service, [("Selector", S, 1)]),
    "Endpoints": ([("Endpoints", S, 0)], _endpoints, []),
    "Secret": ([("Type", S, 0), ("Data", I, 0)],
               lambda o: [o.get("type", ""), len(o.get("data") or {})], []),
    "ConfigMap": ([("Data", I, 0)],
                  lambda o: [len(o.get("data") or {}) + len(o.get("binaryData") or {})], []),
    "ServiceAccount": ([("Secrets", I, 0)], lambda o: [len(o.get("secrets") or [])], []),
    "Pod": ([("Ready", S, 0), ("Status", S, 0), ("Restarts", S, 0)], _pod, []),
    "Node": ([("Status", S, 0), ("Roles", S, 0)], _node, [("Version", S, 0)]),
    "Ingress": ([("Class", S, 0), ("Hosts", S, 0), ("Address", S, 0), ("Ports", S, 0)],
                _ingress, []),
    "IngressClass": ([("Controller", S, 0), ("Parameters", S, 0)],
                     lambda o: [(o.get("spec") or {}).get("controller", ""), "<none>"], []),
    "EndpointSlice": ([("AddressType", S, 0), ("Ports", S, 0), ("Endpoints", S, 0)],
                      _slice, []),
    "NetworkPolicy": ([("Pod-Selector", S, 0)], _selector, []),
    "Lease": ([("Holder", S, 0)],
              lambda o: [(o.get("spec") or {}).get("holderIdentity", "")], []),
    "Deployment": ([("Ready", S, 0), ("Up-to-date", I, 0), ("Available", I, 0)],
                   _deployment, []),
    "DaemonSet": ([("Desired", I, 0), ("Current", I, 0), ("Ready", I, 0), ("Up-to-date", I, 0),
                   ("Available", I, 0), ("Node Selector", S, 0)], _daemonset, []),
    "ClusterRoleBinding": ([("Role", S, 0)], _binding, []),
    "RoleBinding": ([("Role", S, 0)], _binding, []),
}


def _columns(rt):
    name = {"name": "Name", "type": "string", "format": "name", "priority": 0,
            "description": "Name must be unique within a namespace."}
    if rt.kind not in PRINTERS:
        return [name, {"name": "Created At", "type": "date", "format": "", "priority": 0,
                       "description": "CreationTimestamp is a timestamp representing the "
                                      "server time when this object was created."}]
    before, _, after = PRINTERS[rt.kind]
    cols = [name] + [{"name": n, "type": t, "format": "", "description": n, "priority": p}
                     for n, t, p in before]
    cols.append({"name": "Age", "type": "string", "format": "", "priority": 0,
                 "description": "CreationTimestamp is a timestamp representing the server "
                                "time when this object was created."})
    cols += [{"name": n, "type": t, "format": "", "description": n, "priority": p}
             for n, t, p in after]
    return cols


def _cells(rt, obj):
    name = obj["metadata"]["name"]
    if rt.kind not in PRINTERS:
        return [name, obj["metadata"].get("creationTimestamp")]
    before, fn, after = PRINTERS[rt.kind]
    values = fn(obj)
    head = values[:len(before)]
    tail = [v for v in values[len(before):] if v is not None][:len(after)]
    return [name] + head + [_age(obj)] + tail


def _row_object(rt, obj, include):
    if include == "None":
        return None
    if include == "Object":
        return objects.with_type(rt, obj)
    meta = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}


def table(rt, items, list_meta, version, include="Metadata"):
    rows = []
    for obj in items:
        row = {"cells": _cells(rt, obj)}
        ro = _row_object(rt, obj, include)
        if ro is not None:
            row["object"] = ro
        rows.append(row)
    return {"kind": "Table", "apiVersion": f"meta.k8s.io/{version}", "metadata": list_meta,
            "columnDefinitions": _columns(rt), "rows": rows}
