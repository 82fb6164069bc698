"""The table of resource types the test API server serves, and the discovery documents.

Every type is stored by the same generic store; what differs between types is only what
this table says (scope, verbs, short names, status subresource, generation, defaults).
"""

import base64
import hashlib

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
STATUS_VERBS = ["get", "patch", "update"]


class ResourceType:
    def __init__(self, group, version, plural, kind, namespaced, short_names=(),
                 status=False, generation=False, categories=(), empty_status=None,
                 create_on_update=False, field_labels=()):
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.singular = kind.lower()
        self.namespaced = namespaced
        self.short_names = list(short_names)
        self.status = status                  # has a /status subresource
        self.generation = generation          # metadata.generation tracks spec changes
        self.categories = list(categories)
        self.empty_status = empty_status      # status an object gets on create (None: keep)
        self.create_on_update = create_on_update
        self.field_labels = ["metadata.name", "metadata.namespace"] + list(field_labels)

    @property
    def group_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self):
        """`ingresses.networking.k8s.io` or `services`, as used in error messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def kind_qualified(self):
        """`Ingress.networking.k8s.io` or `Service`, as used in Invalid messages."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def storage_hash(self):
        digest = hashlib.sha256(f"{self.group_version}/{self.kind}".encode()).digest()
        return base64.b64encode(digest[:8]).decode()


def _types():
    lb = {"loadBalancer": {}}
    return [
        ResourceType("", "v1", "namespaces", "Namespace", False, ["ns"], status=True,
                     empty_status={"phase": "Active"}, field_labels=["status.phase"]),
        ResourceType("", "v1", "services", "Service", True, ["svc"], status=True,
                     categories=["all"], empty_status=lb,
                     field_labels=["spec.clusterIP", "spec.type"]),
        ResourceType("", "v1", "endpoints", "Endpoints", True, ["ep"], create_on_update=True),
        ResourceType("", "v1", "secrets", "Secret", True, field_labels=["type"]),
        ResourceType("", "v1", "configmaps", "ConfigMap", True, ["cm"]),
        ResourceType("", "v1", "pods", "Pod", True, ["po"], status=True, categories=["all"],
                     field_labels=["spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                                   "spec.serviceAccountName", "spec.hostNetwork",
                                   "status.phase", "status.podIP", "status.nominatedNodeName"]),
        ResourceType("", "v1", "nodes", "Node", False, ["no"], status=True,
                     field_labels=["spec.unschedulable"]),
        ResourceType("", "v1", "serviceaccounts", "ServiceAccount", True, ["sa"]),
        ResourceType("", "v1", "events", "Event", True, ["ev"],
                     field_labels=["involvedObject.kind", "involvedObject.namespace",
                                   "involvedObject.name", "involvedObject.uid",
                                   "involvedObject.apiVersion", "involvedObject.resourceVersion",
                                   "involvedObject.fieldPath", "reason", "reportingComponent",
                                   "source", "type"]),
        ResourceType("networking.k8s.io", "v1", "ingresses", "Ingress", True, ["ing"],
                     status=True, generation=True, empty_status=lb),
        ResourceType("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False,
                     generation=True),
        ResourceType("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True,
                     ["netpol"], generation=True),
        ResourceType("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True,
                     generation=True),
        ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True),
        ResourceType("events.k8s.io", "v1", "events", "Event", True),
        ResourceType("apps", "v1", "daemonsets", "DaemonSet", True, ["ds"], status=True,
                     generation=True, categories=["all"], empty_status={}),
        ResourceType("apps", "v1", "deployments", "Deployment", True, ["deploy"], status=True,
                     generation=True, categories=["all"], empty_status={}),
        ResourceType("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
        ResourceType("rbac.authorization.k8s.io", "v1", "clusterrolebindings",
                     "ClusterRoleBinding", False),
        ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
        ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    ]


GATEWAY_GROUP = "gateway.networking.k8s.io"


def _pending(*types):
    """The status a Gateway API CRD's schema defaults a new object to."""
    return {"conditions": [{"type": t, "status": "Unknown", "reason": "Pending",
                            "message": "Waiting for controller",
                            "lastTransitionTime": "1970-01-01T00:00:00Z"} for t in types]}


def gateway_api_types():
    """The Gateway API standard-channel kinds, as their CRDs define them (one served version
    each here: v1, and v1beta1 for ReferenceGrant). Every custom resource has a generation."""
    g = GATEWAY_GROUP
    return [
        ResourceType(g, "v1", "gatewayclasses", "GatewayClass", False, ["gc"], status=True,
                     generation=True, categories=["gateway-api"],
                     empty_status=_pending("Accepted")),
        ResourceType(g, "v1", "gateways", "Gateway", True, ["gtw"], status=True,
                     generation=True, categories=["gateway-api"],
                     empty_status=_pending("Accepted", "Programmed")),
        ResourceType(g, "v1", "httproutes", "HTTPRoute", True, status=True, generation=True,
                     categories=["gateway-api"]),
        ResourceType(g, "v1", "grpcroutes", "GRPCRoute", True, status=True, generation=True,
                     categories=["gateway-api"]),
        ResourceType(g, "v1beta1", "referencegrants", "ReferenceGrant", True, ["refgrant"],
                     generation=True, categories=["gateway-api"]),
    ]


class Registry:
    def __init__(self, gateway_api=True):
        self.types = []
        self.by_path = {}
        self.by_kind = {}
        self.groups = []  # in discovery order: core first, then by first appearance
        self.add(_types())
        if gateway_api:
            self.add(gateway_api_types())

    def add(self, types):
        """Serves more types from now on (as installing CRDs does); returns the new ones."""
        added = [t for t in types if (t.group, t.version, t.plural) not in self.by_path]
        for t in added:
            self.types.append(t)
            self.by_path[(t.group, t.version, t.plural)] = t
            self.by_kind[(t.group_version, t.kind)] = t
            if t.group not in self.groups:
                self.groups.append(t.group)
        return added

    def lookup(self, group, version, plural):
        return self.by_path.get((group, version, plural))

    def for_kind(self, api_version, kind):
        return self.by_kind.get((api_version, kind))

    def versions_of(self, group):
        seen = []
        for t in self.types:
            if t.group == group and t.version not in seen:
                seen.append(t.version)
        return seen

    def has_group_version(self, group, version):
        return any(t.group == group and t.version == version for t in self.types)

    # ---- legacy discovery -------------------------------------------------------------
    def api_versions(self, server_address):
        return {"kind": "APIVersions", "versions": self.versions_of(""),
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}

    def api_group(self, group):
        versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in self.versions_of(group)]
        return {"name": group, "versions": versions, "preferredVersion": versions[0]}

    def api_group_list(self):
        groups = [self.api_group(g) for g in self.groups if g]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def resource_list(self, group, version):
        resources = []
        for t in self.types:
            if t.group != group or t.version != version:
                continue
            entry = {"name": t.plural, "singularName": t.singular, "namespaced": t.namespaced,
                     "kind": t.kind, "verbs": ALL_VERBS}
            if t.short_names:
                entry["shortNames"] = t.short_names
            if t.categories:
                entry["categories"] = t.categories
            entry["storageVersionHash"] = t.storage_hash()
            resources.append(entry)
            if t.status:
                resources.append({"name": f"{t.plural}/status", "singularName": "",
                                  "namespaced": t.namespaced, "kind": t.kind,
                                  "verbs": STATUS_VERBS})
        doc = {"kind": "APIResourceList", "groupVersion": t_gv(group, version),
               "resources": resources}
        if group:
            doc = {"kind": "APIResourceList", "apiVersion": "v1",
                   "groupVersion": t_gv(group, version), "resources": resources}
        return doc

    # ---- aggregated discovery (apidiscovery.k8s.io/v2 and v2beta1) --------------------
    def aggregated(self, core, api_version):
        items = []
        for group in self.groups:
            if bool(group) == core:
                continue
            versions = []
            for version in self.versions_of(group):
                versions.append({"version": version,
                                 "resources": self._aggregated_resources(group, version),
                                 "freshness": "Current"})
            items.append({"metadata": {"name": group, "creationTimestamp": None},
                          "versions": versions})
        return {"kind": "APIGroupDiscoveryList", "apiVersion": api_version,
                "metadata": {}, "items": items}

    def _aggregated_resources(self, group, version):
        out = []
        for t in self.types:
            if t.group != group or t.version != version:
                continue
            kind = {"group": group, "version": version, "kind": t.kind}
            entry = {"resource": t.plural, "responseKind": kind,
                     "scope": "Namespaced" if t.namespaced else "Cluster",
                     "singularResource": t.singular, "verbs": ALL_VERBS}
            if t.short_names:
                entry["shortNames"] = t.short_names
            if t.categories:
                entry["categories"] = t.categories
            if t.status:
                entry["subresources"] = [{"subresource": "status", "responseKind": kind,
                                          "verbs": STATUS_VERBS}]
            out.append(entry)
        return out


def t_gv(group, version):
    return f"{group}/{version}" if group else version
