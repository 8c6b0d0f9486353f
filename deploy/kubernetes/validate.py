#!/usr/bin/env python3
"""Validate rendered smc-exporter manifests (multi-document YAML files).

Every document is checked against a schema, strictly (unknown fields are
errors); a kind without a schema is an error too, so nothing passes
unchecked:
  * Kubernetes' own kinds: kubernetes-validate's schemas for --kubernetes-version;
  * ServiceMonitor / PrometheusRule: the JSON Schemas in schemas/ (see
    schemas/README.md), with jsonschema.

Then the deployment policy, on the rendered objects:
  * the pods are hardened as the Debian/systemd unit is: non-root, read-only
    root file system, no privilege escalation, all capabilities dropped,
    seccomp RuntimeDefault, no service account token;
  * the image is the one the Dockerfile builds, smc-exporter:<workspace version>
    (or the name set with --image-name);
  * the API key comes from the Secret named in --secret-env, mounted as a file;
    no Secret object is rendered (nothing applies a placeholder key);
  * the pods run as the Dockerfile's USER;
  * a StatefulSet's replicas equal its --total-shards.

Usage: validate.py [--kubernetes-version 1.37] --version 0.1.0 \
           --secret-env base/pod/secret.env --dockerfile Dockerfile FILE...
Prints one line per resource; exits 1 on any problem.
"""

import argparse
import functools
import json
import sys
from pathlib import Path

import jsonschema
import yaml
from kubernetes_validate import utils as kv

# kubernetes-validate reads its (large) definitions file again for every
# object; read each schema file once.
kv.schema_contents = functools.lru_cache(maxsize=None)(kv.schema_contents)
HERE = Path(__file__).resolve().parent
CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring-v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule-monitoring-v1.json",
}
WORKLOADS = ("Deployment", "StatefulSet")


def kn(doc):
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def path_of(err_path):
    return ".".join(str(p) for p in err_path) or "(top)"


def schema_problems(doc, k8s_version):
    """Schema errors of one document, as strings; plus the schema's name."""
    key = (doc.get("apiVersion"), doc.get("kind"))
    if key in CRD_SCHEMAS:
        name = CRD_SCHEMAS[key]
        schema = json.loads((HERE / "schemas" / name).read_text())
        validator = jsonschema.Draft202012Validator(schema)
        errs = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        return [f"{path_of(e.absolute_path)}: {e.message}" for e in errs], f"schemas/{name}"
    try:
        version = kv.validate(doc, k8s_version, strict=True)
    except kv.ValidationError as e:
        return [f"{path_of(e.path)}: {e.message}"], f"kubernetes {e.version} (strict)"
    except kv.SchemaNotFoundError as e:
        return [f"no schema: {e.message}"], "none"
    return [], f"kubernetes {version} (strict)"


def env_file(path):
    out = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip()
    return out


def container_problems(c, image):
    p = []
    sc = c.get("securityContext") or {}
    want = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "runAsNonRoot": True,
    }
    for k, v in want.items():
        if sc.get(k) is not v:
            p.append(f"container {c.get('name')}: securityContext.{k} must be {str(v).lower()}")
    if (sc.get("capabilities") or {}).get("drop") != ["ALL"]:
        p.append(f"container {c.get('name')}: securityContext.capabilities.drop must be [ALL]")
    if (sc.get("capabilities") or {}).get("add"):
        p.append(f"container {c.get('name')}: adds capabilities")
    if c.get("image") != image:
        p.append(f"container {c.get('name')}: image {c.get('image')!r}, want {image!r} (the Dockerfile's)")
    for e in c.get("env") or []:
        if "secretKeyRef" in (e.get("valueFrom") or {}):
            p.append(f"container {c.get('name')}: secret in env {e.get('name')} (mount it as a file)")
    return p


def dockerfile_user(path):
    """The final stage's USER of the Dockerfile, as (uid, gid) integers."""
    users = [l.split()[1] for l in Path(path).read_text().splitlines() if l.startswith("USER ")]
    uid, _, gid = users[-1].partition(":")
    return int(uid), int(gid or uid)


def workload_problems(doc, image, secret, user):
    p = []
    pod = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
    psc = pod.get("securityContext") or {}
    if psc.get("runAsNonRoot") is not True or not psc.get("runAsUser"):
        p.append("pod: securityContext.runAsNonRoot must be true with a non-zero runAsUser")
    if (psc.get("runAsUser"), psc.get("runAsGroup")) != user:
        p.append(f"pod: runAsUser/runAsGroup {psc.get('runAsUser')}/{psc.get('runAsGroup')}, "
                 f"the Dockerfile's USER is {user[0]}:{user[1]}")
    if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        p.append("pod: securityContext.seccompProfile.type must be RuntimeDefault")
    if pod.get("automountServiceAccountToken") is not False:
        p.append("pod: automountServiceAccountToken must be false")
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            p.append(f"pod: {field} must be off")
    containers = (pod.get("initContainers") or []) + (pod.get("containers") or [])
    if not containers:
        p.append("pod: no containers")
    for c in containers:
        p.extend(container_problems(c, image))
    secrets = [v["secret"] for v in pod.get("volumes") or [] if "secret" in v]
    names = [s.get("secretName") for s in secrets]
    if names != [secret["name"]]:
        p.append(f"pod: secret volumes {names}, want [{secret['name']!r}] (from secret.env)")
    elif [i.get("key") for i in secrets[0].get("items") or []] != [secret["key"]]:
        p.append(f"pod: the secret volume must project key {secret['key']!r} (from secret.env)")
    if doc.get("kind") == "StatefulSet":
        args = next((c.get("args") or [] for c in pod.get("containers") or []
                     if c.get("name") == "smc-exporter"), [])
        total = args[args.index("--total-shards") + 1] if "--total-shards" in args[:-1] else None
        if total is None or str(doc["spec"].get("replicas")) != str(total):
            p.append(f"replicas {doc['spec'].get('replicas')} != --total-shards {total}")
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kubernetes-version", default="1.37")
    ap.add_argument("--version", required=True, help="the image tag: the workspace version")
    ap.add_argument("--image-name", default="smc-exporter")
    ap.add_argument("--secret-env", required=True, help="the file naming the API key's Secret")
    ap.add_argument("--dockerfile", required=True, help="the Dockerfile whose USER the pods run as")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    image = f"{a.image_name}:{a.version}"
    secret = env_file(a.secret_env)
    user = dockerfile_user(a.dockerfile)
    bad = 0
    for f in a.files:
        docs = [d for d in yaml.safe_load_all(Path(f).read_text()) if d]
        kinds = [d.get("kind") for d in docs]
        file_problems = []
        if sum(k in WORKLOADS for k in kinds) != 1:
            file_problems.append(f"want exactly one Deployment or StatefulSet, got {kinds}")
        if "Secret" in kinds:
            file_problems.append("renders a Secret: the API key's Secret is created out of band")
        for d in docs:
            problems, schema = schema_problems(d, a.kubernetes_version)
            if d.get("kind") in WORKLOADS:
                problems += workload_problems(d, image, secret, user)
            status = "ok" if not problems else "FAIL"
            print(f"{status} {f}: {kn(d)} [{schema}]")
            for q in problems:
                print(f"    {kn(d)}: {q}")
            bad += len(problems)
        for q in file_problems:
            print(f"FAIL {f}: {q}")
        bad += len(file_problems)
    print(f"validate: {bad} problem(s) in {len(a.files)} file(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
