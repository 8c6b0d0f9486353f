#!/usr/bin/env python3
"""Compare two renderings of smc-exporter (kustomize overlay vs Helm chart).

Both must hold the same kinds and names, and the same content where it
matters: the pod spec (containers, hardening, volumes, the Secret), replicas
and strategy, the config, the Service's ports, the NetworkPolicy's rules, the
scrape endpoints and the rules. Labels and selectors may differ (Helm adds
its release labels). Usage: compare.py A.yaml B.yaml; exits 1 on a difference.
"""

import sys
from pathlib import Path

import yaml


def drop(d, *keys):
    return {k: v for k, v in (d or {}).items() if k not in keys}


def payload(doc):
    kind, spec = doc["kind"], doc.get("spec") or {}
    if kind in ("Deployment", "StatefulSet"):
        return {
            "spec": drop(spec, "selector", "template"),
            "pod": spec["template"]["spec"],
            "annotations": drop(spec["template"]["metadata"].get("annotations"), "checksum/config"),
        }
    if kind == "ConfigMap":
        return {k: v.rstrip(" \n") + "\n" for k, v in (doc.get("data") or {}).items()}
    if kind == "Service":
        return drop(spec, "selector")
    if kind == "NetworkPolicy":
        return drop(spec, "podSelector")
    if kind == "ServiceMonitor":
        return drop(spec, "selector")
    if kind == "PrometheusRule":
        return spec
    return drop(doc, "metadata")


def first_difference(a, b, path="$"):
    if type(a) is not type(b):
        return f"{path}: {a!r} != {b!r}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                return f"{path}.{k}: only in {'B' if k not in a else 'A'}"
            d = first_difference(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"


def load(f):
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(Path(f).read_text()) if d}


def main():
    a_file, b_file = sys.argv[1:3]
    a, b = load(a_file), load(b_file)
    problems = []
    for key in sorted(set(a) ^ set(b)):
        problems.append(f"{key[0]}/{key[1]}: only in {a_file if key in a else b_file}")
    for key in sorted(set(a) & set(b)):
        d = first_difference(payload(a[key]), payload(b[key]))
        if d:
            problems.append(f"{key[0]}/{key[1]}: {d}")
    for p in problems:
        print(f"DIFF {p}")
    print(f"compare {a_file} {b_file}: {len(set(a) & set(b))} objects, {len(problems)} difference(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
