#!/usr/bin/env python3
"""The input of the offline check benchmark (webhook/scripts/check-side-by-side.sh).

    generate.py OUT_DIR [--apps 2000] [--routes 10000] [--middlewares 5000] [--namespaces 100]

Writes one multi-document YAML file per namespace into OUT_DIR (Applications, Ingresses of
class traefik, IngressRoutes, HTTPRoutes to a traefik Gateway, forwardAuth Middlewares and
the Gateway), and OUT_DIR/../expected.json: how many objects break each rule, which is
what every tool must find. The objects are as the repository's examples/good write them.
A few in every hundred break exactly one rule each, so that each tool's count of failing
objects can be compared with the truth:
  OT001  an app whose component has a gateway trait and no identity rule;
  OT002  an app whose identity names an issuer outside allowedIssuers;
  OT003  an app whose identity asks for a wildcard scope;
  OT006  a route with no middleware reference at all (Ingress, IngressRoute or HTTPRoute).
Deterministic: the same arguments write the same bytes.
"""

import argparse
import json
import os
import sys


def app(ns, i, broken):
    components = []
    for c in range(2):
        identity = {
            "type": "identity",
            "properties": {
                "version": "v1",
                "provider": "oidc",
                "issuer": "https://login.example.com/realms/prod",
                "audiences": [f"app-{i}"],
                "scopes": [f"app-{i}:read", f"app-{i}:write"],
                "groups": [f"team-{i % 17}"],
            },
        }
        if c == 0 and broken == "OT002":
            identity["properties"]["issuer"] = "https://login.example.net/realms/prod"
        if c == 0 and broken == "OT003":
            identity["properties"]["scopes"] = [f"app-{i}:*"]
        traits = [
            {
                "type": "gateway",
                "properties": {
                    "domain": f"app-{i}-{c}.{ns}.example.com",
                    "class": "traefik",
                    "classInSpec": True,
                    "http": {"/": 8080},
                },
            }
        ]
        if not (c == 0 and broken == "OT001"):
            traits.append(identity)
        components.append(
            {
                "name": f"part-{c}",
                "type": "webservice",
                "properties": {
                    "image": f"ghcr.io/example/app-{i}:1.0.{c}",
                    "ports": [{"port": 8080, "expose": True}],
                },
                "traits": traits,
            }
        )
    return {
        "apiVersion": "core.oam.dev/v1beta1",
        "kind": "Application",
        "metadata": {"name": f"app-{i}", "namespace": ns},
        "spec": {"components": components},
    }


def middleware(ns, m):
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "Middleware",
        "metadata": {"name": f"sso-{m}", "namespace": ns},
        "spec": {
            "forwardAuth": {
                "address": "http://oam-traefik-auth.auth.svc.cluster.local:8080/verify",
                "authResponseHeaders": ["X-Forwarded-User"],
            }
        },
    }


def ingress(ns, r, m, broken):
    annotations = {} if broken else {
        "traefik.ingress.kubernetes.io/router.middlewares": f"{ns}-sso-{m}@kubernetescrd"
    }
    host = f"route-{r}.{ns}.example.com"
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": f"route-{r}", "namespace": ns, "annotations": annotations},
        "spec": {
            "ingressClassName": "traefik",
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": f"svc-{r}", "port": {"number": 8080}}},
                            }
                        ]
                    },
                }
            ],
        },
    }


def ingressroute(ns, r, m, broken):
    route = {
        "match": f"Host(`route-{r}.{ns}.example.com`) && PathPrefix(`/`)",
        "kind": "Rule",
        "services": [{"name": f"svc-{r}", "port": 80}],
    }
    if not broken:
        route["middlewares"] = [{"name": f"sso-{m}"}]
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "IngressRoute",
        "metadata": {"name": f"route-{r}", "namespace": ns},
        "spec": {"entryPoints": ["websecure"], "routes": [route]},
    }


def httproute(ns, r, m, broken):
    rule = {
        "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
        "backendRefs": [{"name": f"svc-{r}", "port": 8080}],
    }
    if not broken:
        rule["filters"] = [
            {
                "type": "ExtensionRef",
                "extensionRef": {"group": "traefik.io", "kind": "Middleware", "name": f"sso-{m}"},
            }
        ]
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": f"route-{r}", "namespace": ns},
        "spec": {
            "parentRefs": [{"name": "traefik-gateway"}],
            "hostnames": [f"route-{r}.{ns}.example.com"],
            "rules": [rule],
        },
    }


def gateway(ns):
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "traefik-gateway", "namespace": ns},
        "spec": {
            "gatewayClassName": "traefik",
            "listeners": [{"name": "http", "protocol": "HTTP", "port": 8000}],
        },
    }


def block(value, indent):
    """Lines of `value` in block-style YAML, as people write manifests (scalars quoted as
    JSON strings, which YAML reads as double-quoted strings)."""
    pad = " " * indent
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                yield f"{pad}{k}:\n"
                yield from block(v, indent + 2)
            else:
                yield f"{pad}{k}: {scalar(v)}\n"
    else:
        for v in value:
            if isinstance(v, (dict, list)) and v:
                lines = list(block(v, indent + 2))
                yield f"{pad}- {lines[0][indent + 2:]}"
                yield from lines[1:]
            else:
                yield f"{pad}- {scalar(v)}\n"


def scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (dict, list)):
        return "{}" if isinstance(v, dict) else "[]"
    return json.dumps(v)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--apps", type=int, default=2000)
    p.add_argument("--routes", type=int, default=10000)
    p.add_argument("--middlewares", type=int, default=5000)
    p.add_argument("--namespaces", type=int, default=100)
    a = p.parse_args()
    if min(a.apps, a.routes, a.middlewares, a.namespaces) < 1 or a.middlewares < a.namespaces:
        sys.exit("generate.py: every count must be at least 1, and middlewares at least namespaces")

    expected = {"OT001": 0, "OT002": 0, "OT003": 0, "OT006": 0}
    docs = {n: [] for n in range(a.namespaces)}
    ns_of = lambda n: f"team-{n:03d}"
    for n in range(a.namespaces):
        docs[n].append(gateway(ns_of(n)))
    for m in range(a.middlewares):
        n = m % a.namespaces
        docs[n].append(middleware(ns_of(n), m // a.namespaces))
    per_ns_mw = a.middlewares // a.namespaces
    for i in range(a.apps):
        n = i % a.namespaces
        broken = {25: "OT001", 50: "OT002", 75: "OT003"}.get(i % 100)
        if broken:
            expected[broken] += 1
        docs[n].append(app(ns_of(n), i, broken))
    kinds = (ingress, ingressroute, httproute)
    for r in range(a.routes):
        n = r % a.namespaces
        broken = r % 50 == 7
        expected["OT006"] += broken
        docs[n].append(kinds[r % 3](ns_of(n), r, (r // a.namespaces) % per_ns_mw, broken))

    os.makedirs(a.out, exist_ok=True)
    for n, objects in docs.items():
        with open(os.path.join(a.out, f"{ns_of(n)}.yaml"), "w") as f:
            f.write("".join("---\n" + "".join(block(o, 0)) for o in objects))
    counts = {
        "applications": a.apps,
        "routes": a.routes,
        "middlewares": a.middlewares,
        "gateways": a.namespaces,
        "failing": expected,
    }
    with open(os.path.join(os.path.dirname(os.path.abspath(a.out)), "expected.json"), "w") as f:
        json.dump(counts, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
