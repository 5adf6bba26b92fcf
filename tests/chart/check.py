"""Renders, lints and schema-validates charts/scale for every values file in charts/scale/ci/.

Real Helm engine (helm-python-sdk binds Helm's Go SDK), Kubernetes schemas from
kubernetes-validate for KUBE_VERSION. Rule for kinds outside Kubernetes' own schemas (the
ServiceMonitor, monitoring.coreos.com): checked for the fields the Prometheus Operator needs,
and listed as "structural" in the summary; any other kind without a schema fails.
Also asserts least-privilege RBAC and the pod security settings. Prints a JSON summary.
Usage: check.py CHART_DIR OUT_DIR (the rendered config.toml/training.toml per values file go
to OUT_DIR/<values file>/ for the Rust side to parse with SCALE's own loaders).
"""
import copy
import json
import os
import sys
import tomllib

import helm_python as helm
import kubernetes_validate
import yaml

KUBE_VERSION = "1.33.0"
NAMESPACE = "scale-system"


def fail(msg):
    raise SystemExit(f"FAIL {msg}")


def documents(rendered):
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                yield path, doc


def check_rbac(docs, values, where):
    resize = False
    scale_rules = set()
    for _, d in docs:
        if d["kind"] not in ("ClusterRole", "Role"):
            continue
        for rule in d.get("rules", []):
            for key in ("verbs", "resources", "apiGroups"):
                if any("*" in x for x in rule.get(key, [])):
                    fail(f"{where}: {d['kind']} {d['metadata']['name']}: wildcard in {key}: {rule}")
            verbs = set(rule["verbs"])
            for r in rule["resources"]:
                groups = tuple(rule["apiGroups"])
                if r.endswith("/scale"):
                    if verbs != {"get", "patch"}:
                        fail(f"{where}: {r} verbs {sorted(verbs)} != get,patch")
                    for g in groups:
                        scale_rules.add((g, r[: -len("/scale")]))
                elif r == "pods/resize":
                    resize = True
                    if verbs != {"patch"}:
                        fail(f"{where}: pods/resize verbs {sorted(verbs)}")
                elif r == "pods":
                    if not values["vertical"]["enabled"] or verbs - {"get", "list", "watch"}:
                        fail(f"{where}: pods access {sorted(verbs)} without vertical.enabled")
                elif r == "services" and groups == ("serving.knative.dev",):
                    if not values["knative"]["enabled"] or verbs != {"get", "patch"}:
                        fail(f"{where}: knative services {sorted(verbs)}")
                elif r == "events":
                    if verbs != {"create"}:
                        fail(f"{where}: events verbs {sorted(verbs)}")
                elif r == "leases":
                    if d["kind"] != "Role" or verbs - {"create", "get", "update", "patch"}:
                        fail(f"{where}: leases in {d['kind']} with {sorted(verbs)}")
                    if verbs & {"get", "update", "patch"} and not rule.get("resourceNames"):
                        fail(f"{where}: lease updates not limited by resourceNames")
                elif r == "forecastscalers":
                    if groups != ("scale.dev",) or verbs != {"get", "list", "watch"}:
                        fail(f"{where}: forecastscalers {groups} {sorted(verbs)}")
                elif r == "forecastscalers/status":
                    if groups != ("scale.dev",) or verbs - {"update", "patch"}:
                        fail(f"{where}: forecastscalers/status {sorted(verbs)}")
                else:
                    fail(f"{where}: unexpected resource {r} in {groups}")
    want = {(g, r) for t in values["scaleTargets"] for g in t["apiGroups"] for r in t["resources"]}
    if values["rbac"]["create"] and scale_rules != want:
        fail(f"{where}: */scale rules {sorted(scale_rules)} != configured {sorted(want)}")
    if resize != bool(values["vertical"]["enabled"] and values["rbac"]["create"]):
        fail(f"{where}: pods/resize present={resize} but vertical.enabled={values['vertical']['enabled']}")
    return sorted(f"{g or 'core'}/{r}/scale" for g, r in scale_rules)


def serve_access(docs, where):
    """What serve's ServiceAccount may do, through the roles bound to it: sorted
    "group/resource:verb[@resourceName][ in namespace]" strings; and the serve container's env
    (name -> downward-API fieldPath) and args."""
    serve = [d for _, d in docs if d["kind"] == "Deployment"
             and d["metadata"]["labels"].get("app.kubernetes.io/component") == "serve"]
    if len(serve) != 1:
        fail(f"{where}: {len(serve)} serve Deployments")
    pod = serve[0]["spec"]["template"]["spec"]
    sa = pod["serviceAccountName"]
    roles = {(d["kind"], d["metadata"]["name"]): d for _, d in docs if d["kind"] in ("ClusterRole", "Role")}
    access = set()
    for _, b in docs:
        if b["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        if not any(s["kind"] == "ServiceAccount" and s["name"] == sa and s.get("namespace") == NAMESPACE
                   for s in b["subjects"]):
            continue
        role = roles.get((b["roleRef"]["kind"], b["roleRef"]["name"]))
        if role is None:
            fail(f"{where}: {b['kind']} {b['metadata']['name']} binds a missing {b['roleRef']}")
        scope = "" if b["kind"] == "ClusterRoleBinding" else f" in {b['metadata']['namespace']}"
        for rule in role["rules"]:
            names = rule.get("resourceNames") or [None]
            for g in rule["apiGroups"]:
                for r in rule["resources"]:
                    for v in rule["verbs"]:
                        for n in names:
                            access.add(f"{g or 'core'}/{r}:{v}{'@' + n if n else ''}{scope}")
    c = next(c for c in pod["containers"] if c["name"] == "scale")
    env = {e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for e in c.get("env", [])}
    return sorted(access), env, c["args"]


def pod_specs(d):
    spec = d.get("spec", {})
    if d["kind"] == "Deployment":
        yield spec["template"]["spec"]
    elif d["kind"] == "CronJob":
        yield spec["jobTemplate"]["spec"]["template"]["spec"]


def check_pods(docs, values, where):
    serve = None
    for _, d in docs:
        for ps in pod_specs(d):
            if not ps.get("securityContext", {}).get("runAsNonRoot"):
                fail(f"{where}: {d['metadata']['name']}: pod runAsNonRoot not set")
            for c in ps.get("initContainers", []) + ps["containers"]:
                sc = c.get("securityContext", {})
                ok = (sc.get("readOnlyRootFilesystem") is True and sc.get("runAsNonRoot") is True
                      and sc.get("allowPrivilegeEscalation") is False
                      and "ALL" in sc.get("capabilities", {}).get("drop", []))
                if not ok:
                    fail(f"{where}: {d['metadata']['name']}/{c['name']}: securityContext {sc}")
                if "resources" not in c:
                    fail(f"{where}: {d['metadata']['name']}/{c['name']}: no resources")
            for c in ps["containers"]:
                if c["name"] == "scale":
                    serve = (d, c)
    if serve is None:
        fail(f"{where}: no serve container")
    d, c = serve
    if c["livenessProbe"]["httpGet"]["path"] != "/healthz" or c["readinessProbe"]["httpGet"]["path"] != "/readyz":
        fail(f"{where}: probes {c['livenessProbe']} {c['readinessProbe']}")
    if c["args"][:3] != ["serve", "--config", "/etc/scale/config.toml"]:
        fail(f"{where}: serve args {c['args']}")
    if ("--leader-elect" in c["args"]) != values["leaderElection"]["enabled"]:
        fail(f"{where}: leader election args {c['args']}")
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    if mounts.get("config") != "/etc/scale":
        fail(f"{where}: config mount {mounts}")


def check_config(docs, values, where, out):
    cms = [d for _, d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-config")]
    if len(cms) != 1:
        fail(f"{where}: {len(cms)} config ConfigMaps")
    os.makedirs(out, exist_ok=True)
    for key, text in cms[0]["data"].items():
        with open(os.path.join(out, key), "w") as f:
            f.write(text)
    cfg = tomllib.loads(cms[0]["data"]["config.toml"])
    # Exact types too: an integer field must not come out as 3.0.
    if json.dumps(cfg, sort_keys=True) != json.dumps(values["config"], sort_keys=True):
        fail(f"{where}: config.toml {cfg} != values.config {values['config']}")
    if values["retrain"]["enabled"]:
        train = tomllib.loads(cms[0]["data"]["training.toml"])
        want = dict(values["retrain"]["config"], models_dir=values["models"]["mountPath"])
        if json.dumps(train, sort_keys=True) != json.dumps(want, sort_keys=True):
            fail(f"{where}: training.toml {train}")


def check_dashboard(docs, values, where):
    dash = [d for _, d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard")]
    if values["grafanaDashboard"]["enabled"]:
        if len(dash) != 1 or dash[0]["metadata"]["labels"].get(values["grafanaDashboard"]["label"]) is None:
            fail(f"{where}: dashboard ConfigMap missing or unlabelled")
        json.loads(dash[0]["data"]["scale.json"])


def check_servicemonitor(d, where):
    spec = d.get("spec", {})
    eps = spec.get("endpoints") or []
    if not spec.get("selector", {}).get("matchLabels") or not eps or any(e.get("port") != "http" or e.get("path") != "/metrics" for e in eps):
        fail(f"{where}: ServiceMonitor spec {spec}")


def validate_all(docs, where):
    validated, structural = [], []
    for path, d in docs:
        kind = f"{d['apiVersion']}/{d['kind']}"
        if d["apiVersion"].startswith("monitoring.coreos.com/"):
            check_servicemonitor(d, where)
            structural.append(kind)
            continue
        try:
            kubernetes_validate.validate(d, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            fail(f"{where}: {path}: {kind} {d['metadata'].get('name')}: {'.'.join(map(str, e.path))}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            fail(f"{where}: {path}: {e.message}")
        validated.append(kind)
    return validated, structural


def self_checks(chart):
    """The checks can fail: a bad manifest and bad values are rejected."""
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
           "spec": {"replicas": "two", "selector": {}, "template": {}}}
    try:
        kubernetes_validate.validate(bad, KUBE_VERSION, strict=True)
        fail("kubernetes-validate accepted replicas: 'two'")
    except kubernetes_validate.ValidationError:
        pass
    for bad_values in (
        {"securityContext": {"runAsNonRoot": True, "readOnlyRootFilesystem": False,
                             "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}},
        {"scaleTargets": [{"apiGroups": ["*"], "resources": ["deployments"]}]},
        {"config": {"server": {"listen": "0.0.0.0:8080"}, "defaults": {"mode": "yolo"}}},
        {"models": {"storage": "objectStore"}},
    ):
        try:
            chart.validate_schema(bad_values)
        except helm.HelmValuesError:
            continue
        fail(f"values.schema.json accepted {bad_values}")


def main():
    chart_dir = os.path.abspath(sys.argv[1])
    chart = helm.Chart.load(chart_dir)
    if chart.schema is None:
        fail("no values.schema.json")
    self_checks(chart)
    crds = [doc for c in chart.crds for doc in yaml.safe_load_all(c["data"] if "data" in c else c.get("content", ""))]
    ci = os.path.join(chart_dir, "ci")
    summary = {"helm_sdk": helm.helm_sdk_version(), "kube_version": KUBE_VERSION, "values": {}}
    for name in sorted(os.listdir(ci)):
        where = f"ci/{name}"
        with open(os.path.join(ci, name)) as f:
            overrides = yaml.safe_load(f) or {}
        chart.validate_schema(overrides)
        report = helm.lint(chart_dir, overrides, strict=True, namespace=NAMESPACE, kube_version=f"v{KUBE_VERSION}")
        problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2] + report.get("errors", [])
        if problems:
            fail(f"{where}: helm lint: {problems}")
        values = chart.merge_values(copy.deepcopy(overrides))
        rendered = chart.render(overrides, name="scale", namespace=NAMESPACE, is_install=True)
        docs = list(documents(rendered)) + [("crds", d) for d in crds if d]
        validated, structural = validate_all(docs, where)
        scale_rules = check_rbac(docs, values, where)
        access, env, args = serve_access(docs, where)
        check_pods(docs, values, where)
        check_config(docs, values, where, os.path.join(sys.argv[2], name))
        check_dashboard(docs, values, where)
        summary["values"][name] = {
            "lint_messages": len(report.get("messages", [])),
            "validated": sorted(validated),
            "structural": sorted(structural),
            "scale_rules": scale_rules,
            "serve_access": access,
            "serve_env": env,
            "serve_args": args,
            "pods_resize": any(
                "pods/resize" in r["resources"] for _, d in docs if d["kind"] == "ClusterRole" for r in d["rules"]),
        }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
