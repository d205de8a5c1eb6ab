#!/usr/bin/env python3
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# Checks the manifests of contrib/kubernetes without a cluster: every
# YAML document parses and has the fields the API requires for its kind;
# the base and each overlay (kustomize's resources and JSON 6902 patches,
# applied here) hang together: the files tokenreviewd.conf names are
# mounted from the ConfigMap and Secret keys that exist (in the Secrets of
# "tokenreviewctl init", or in a Secret an overlay tells the operator to
# create), listen ports match container ports, probes, Service targets and
# the NetworkPolicy, selectors match the pod labels, the image is the one
# contrib/container/build.sh tags, and the webhook kubeconfig dials the
# Service.  Prints one line per problem and exits 1 if there is any.
#
# usage: check-manifests.py SRCDIR SECRETS.yaml

import configparser
import copy
import ipaddress
import os
import re
import sys

import yaml

API = {
    "Namespace": "v1", "ServiceAccount": "v1", "ConfigMap": "v1",
    "Secret": "v1", "Service": "v1", "Pod": "v1",
    "Deployment": "apps/v1", "PodDisruptionBudget": "policy/v1",
    "NetworkPolicy": "networking.k8s.io/v1",
}
PATH_KEYS = {"tls_cert", "tls_key", "client_ca", "client_token_file", "file",
             "fingerprint_key_file", "ca", "cert", "key",
             "bind_password_file", "jwks_file", "public_key_file", "path"}
UID = 65532
problems = []


def bad(where, msg):
    problems.append("%s: %s" % (where, msg))


def get(obj, *path):
    for p in path:
        if isinstance(obj, dict) and p in obj:
            obj = obj[p]
        elif isinstance(obj, list) and isinstance(p, int) and p < len(obj):
            obj = obj[p]
        else:
            return None
    return obj


def load(path):
    try:
        with open(path) as f:
            return [d for d in yaml.safe_load_all(f) if d is not None]
    except (OSError, yaml.YAMLError) as e:
        bad(path, "does not parse: %s" % str(e).replace("\n", " "))
        return []


# ------------------------------------------------------------ kustomize

def pointer(doc, path):
    parts = [p.replace("~1", "/").replace("~0", "~")
             for p in path.split("/")[1:]]
    parent = doc
    for p in parts[:-1]:
        parent = parent[int(p)] if isinstance(parent, list) else parent[p]
    return parent, parts[-1]


def apply_op(doc, op, where):
    try:
        parent, last = pointer(doc, op["path"])
        if isinstance(parent, list):
            if last == "-":
                parent.append(op["value"])
            elif op["op"] == "add":
                parent.insert(int(last), op["value"])
            else:
                parent[int(last)] = op["value"]
        elif op["op"] == "replace" and last not in parent:
            bad(where, "replace of %s, which is not there" % op["path"])
        else:
            parent[last] = op["value"]
    except (KeyError, IndexError, ValueError, TypeError):
        bad(where, "patch path %s does not apply" % op.get("path"))


def kustomize(kdir):
    """The documents of a kustomization, with its Secrets to create."""
    kfile = os.path.join(kdir, "kustomization.yaml")
    docs = load(kfile)
    if not docs:
        bad(kfile, "missing")
        return [], {}
    k = docs[0]
    external = secrets_in_comments(kfile)
    out = []
    for r in k.get("resources") or []:
        p = os.path.normpath(os.path.join(kdir, r))
        if os.path.isdir(p):
            sub, ext = kustomize(p)
            out += sub
            external.update(ext)
        elif os.path.isfile(p):
            out += load(p)
        else:
            bad(kfile, "resource %s does not exist" % r)
    for d in out:
        if k.get("namespace") and d.get("kind") != "Namespace":
            d.setdefault("metadata", {})["namespace"] = k["namespace"]
    for pt in k.get("patches") or []:
        p = os.path.join(kdir, pt.get("path", ""))
        ops = load(p)
        ops = ops[0] if ops and isinstance(ops[0], list) else []
        t = pt.get("target") or {}
        hits = [d for d in out if d.get("kind") == t.get("kind") and
                get(d, "metadata", "name") == t.get("name")]
        if not hits:
            bad(p, "patch target %s/%s not found" %
                (t.get("kind"), t.get("name")))
        for d in hits:
            for op in ops:
                apply_op(d, op, p)
    return out, external


def secrets_in_comments(path):
    """Secrets a kustomization tells the operator to create, with keys."""
    found = {}
    try:
        text = open(path).read()
    except OSError:
        return found
    text = re.sub(r"\\\n#\s*", " ", text)
    for m in re.finditer(r"create secret generic (\S+)((?: +--from-\S+)+)",
                         text):
        keys = re.findall(r"--from-(?:file|literal)=([^=\s]+)", m.group(2))
        found.setdefault(m.group(1), set()).update(keys)
    return found


# ------------------------------------------------------------ per kind

def check_fields(d, where):
    kind = d.get("kind")
    if kind not in API:
        bad(where, "unexpected kind %r" % kind)
        return
    if d.get("apiVersion") != API[kind]:
        bad(where, "%s has apiVersion %r, not %s" %
            (kind, d.get("apiVersion"), API[kind]))
    name = get(d, "metadata", "name")
    if not name:
        bad(where, "%s without metadata.name" % kind)
    where = "%s %s/%s" % (where, kind, name)
    if kind != "Namespace" and not get(d, "metadata", "namespace"):
        bad(where, "no namespace")
    required = {
        "Deployment": [("spec", "selector"), ("spec", "template", "spec",
                                              "containers")],
        "Service": [("spec", "ports"), ("spec", "selector")],
        "PodDisruptionBudget": [("spec", "selector")],
        "NetworkPolicy": [("spec", "podSelector")],
        "Pod": [("spec", "containers")],
        "ConfigMap": [("data",)],
        "Secret": [("data",)],
    }
    for path in required.get(kind, []):
        if get(d, *path) is None:
            bad(where, "no %s" % ".".join(path))
    if kind == "ServiceAccount" and \
            d.get("automountServiceAccountToken") is not False:
        bad(where, "automountServiceAccountToken is not false")


def check_security(pod, where):
    sc = pod.get("securityContext") or {}
    if sc.get("runAsNonRoot") is not True or sc.get("runAsUser") != UID:
        bad(where, "pod does not run as non-root uid %d" % UID)
    if get(sc, "seccompProfile", "type") != "RuntimeDefault":
        bad(where, "no RuntimeDefault seccomp profile")
    for c in pod.get("containers") or []:
        csc = c.get("securityContext") or {}
        if csc.get("readOnlyRootFilesystem") is not True:
            bad(where, "container %s: root not read-only" % c.get("name"))
        if csc.get("allowPrivilegeEscalation") is not False:
            bad(where, "container %s: privilege escalation allowed" %
                c.get("name"))
        if get(csc, "capabilities", "drop") != ["ALL"]:
            bad(where, "container %s: capabilities not all dropped" %
                c.get("name"))
        if not get(c, "resources", "requests", "memory"):
            bad(where, "container %s: no memory request" % c.get("name"))


# ------------------------------------------------------------ references

def listen_port(value):
    return int(value.split()[0].rsplit(":", 1)[1])


def parse_conf(text, where):
    cp = configparser.ConfigParser(interpolation=None,
                                   comment_prefixes=(";", "#"),
                                   strict=False)
    try:
        cp.read_string(text)
    except configparser.Error as e:
        bad(where, "tokenreviewd.conf does not parse: %s" % e)
    return cp


def mounted_files(pod, docs, secrets, external, where):
    """{path in the container: description} from projected volumes."""
    files = {}
    vols = {v.get("name"): v for v in pod.get("volumes") or []}
    cms = {get(d, "metadata", "name"): d for d in docs
           if d.get("kind") == "ConfigMap"}
    for c in pod.get("containers") or []:
        for m in c.get("volumeMounts") or []:
            v = vols.get(m.get("name"))
            if v is None:
                bad(where, "volumeMount %s has no volume" % m.get("name"))
                continue
            if "hostPath" in v:
                files[m["mountPath"] + "/*"] = "host"
                continue
            for src in get(v, "projected", "sources") or []:
                for kind in ("configMap", "secret"):
                    if kind not in src:
                        continue
                    name = src[kind].get("name")
                    if kind == "configMap":
                        keys = set((get(cms.get(name), "data") or {}).keys())
                        if name not in cms:
                            bad(where, "ConfigMap %s does not exist" % name)
                    elif name in secrets:
                        keys = set(secrets[name])
                    elif name in external:
                        keys = external[name]
                    else:
                        bad(where, "Secret %s is neither made by init nor "
                            "created as the kustomization says" % name)
                        keys = set()
                    for it in src[kind].get("items") or []:
                        if it.get("key") not in keys and (
                                kind == "configMap" or name in secrets or
                                name in external):
                            bad(where, "%s %s has no key %s" %
                                (kind, name, it.get("key")))
                        files[m["mountPath"] + "/" + it["path"]] = \
                            "%s %s" % (kind, name)
    return files


def check_env(pod, secrets, external, where):
    for c in pod.get("containers") or []:
        for e in c.get("env") or []:
            ref = get(e, "valueFrom", "secretKeyRef")
            if not ref:
                continue
            keys = secrets.get(ref.get("name"),
                               external.get(ref.get("name")))
            if keys is None:
                bad(where, "env %s: Secret %s not created anywhere" %
                    (e.get("name"), ref.get("name")))
            elif ref.get("key") not in keys:
                bad(where, "env %s: Secret %s has no key %s" %
                    (e.get("name"), ref.get("name"), ref.get("key")))


def check_config(pod, conf, files, where):
    for sec in conf.sections():
        for key, val in conf.items(sec):
            if key not in PATH_KEYS or sec == "tokendb":
                continue
            d = os.path.dirname(val)
            if val not in files and d + "/*" not in files:
                bad(where, "[%s] %s = %s is not a mounted file" %
                    (sec, key, val))
    used = {v for s in conf.sections() for k, v in conf.items(s)}
    for f in files:
        if not f.endswith("/*") and f not in used and \
                not f.endswith("/tokenreviewd.conf"):
            bad(where, "%s is mounted but the config does not use it" % f)


def container_ports(c):
    return {p.get("name"): p.get("containerPort")
            for p in c.get("ports") or []}


def check_ports(pod, conf, where):
    c = (pod.get("containers") or [{}])[0]
    ports = container_ports(c)
    try:
        review = listen_port(conf.get("server", "listen"))
        health = listen_port(conf.get("server", "health_listen"))
    except (configparser.Error, ValueError, IndexError):
        bad(where, "config has no listen and health_listen ports")
        return None, None
    if ports.get("https") != review:
        bad(where, "containerPort https %s is not listen's %d" %
            (ports.get("https"), review))
    if ports.get("health") != health:
        bad(where, "containerPort health %s is not health_listen's %d" %
            (ports.get("health"), health))
    for probe, path in (("readinessProbe", "/readyz"),
                        ("livenessProbe", "/healthz")):
        g = get(c, probe, "httpGet") or {}
        p = g.get("port")
        if p != "health" and p != health:
            bad(where, "%s port %r is not the health port" % (probe, p))
        if g.get("path") != path:
            bad(where, "%s path %r is not %s" % (probe, g.get("path"), path))
    args = c.get("args") or []
    if "-c" not in args:
        bad(where, "no -c argument")
    return review, health


def selects(selector, labels, where, what):
    for k, v in (selector or {}).items():
        if (labels or {}).get(k) != v:
            bad(where, "%s selector %s=%s matches no pod label" %
                (what, k, v))


def check_service(svc, pod_labels, ports, review, health, where):
    selects(get(svc, "spec", "selector"), pod_labels, where, "Service")
    for p in get(svc, "spec", "ports") or []:
        t = p.get("targetPort")
        if t not in ports and t not in ports.values():
            bad(where, "Service targetPort %r is no container port" % t)
    try:
        ipaddress.ip_address(get(svc, "spec", "clusterIP"))
    except ValueError:
        bad(where, "Service clusterIP is not a fixed address")


def check_netpol(np, pod_labels, review, health, where):
    selects(get(np, "spec", "podSelector", "matchLabels"), pod_labels,
            where, "NetworkPolicy")
    seen = {}
    for rule in get(np, "spec", "ingress") or []:
        for p in rule.get("ports") or []:
            seen[p.get("port")] = bool(rule.get("from"))
    if seen.get(review) is not True:
        bad(where, "NetworkPolicy does not restrict the review port %d" %
            review)
    if health not in seen:
        bad(where, "NetworkPolicy does not open the health port %d" % health)


def check_kubeconfig(path, svc, review_path, where):
    kc = (load(path) or [{}])[0]
    url = get(kc, "clusters", 0, "cluster", "server") or ""
    m = re.match(r"https://([^/:]+):(\d+)(/.*)$", url)
    port = [p.get("port") for p in get(svc, "spec", "ports") or []
            if p.get("name") == "https"]
    if not m or m.group(1) != get(svc, "spec", "clusterIP") or \
            [int(m.group(2))] != port or m.group(3) != review_path:
        bad(where, "webhook kubeconfig server %s is not the Service's "
            "https://%s:%s%s" % (url, get(svc, "spec", "clusterIP"),
                                 port[0] if port else "?", review_path))


# ------------------------------------------------------------ main

def image_name(src):
    build = open(os.path.join(src, "contrib/container/build.sh")).read()
    m = re.search(r"^tag=(\S+):\$\(tr_container_version", build, re.M)
    ac = open(os.path.join(src, "configure.ac")).read()
    v = re.search(r"AC_INIT\(\[tokenreviewd\], \[([^]]+)\]", ac)
    if not m or not v:
        bad("build.sh", "cannot find the image tag")
        return None
    return "%s:%s" % (m.group(1), v.group(1))


def check_tree(src, kdir, secrets, image, kubeconfig):
    where = os.path.relpath(kdir, src)
    docs, external = kustomize(kdir)
    for d in docs:
        check_fields(d, where)
    byk = {}
    for d in docs:
        byk.setdefault(d.get("kind"), []).append(d)
    deps = byk.get("Deployment") or []
    if len(deps) != 1:
        bad(where, "%d Deployments, not 1" % len(deps))
        return
    dep = deps[0]
    if get(dep, "spec", "replicas") != 2:
        bad(where, "Deployment replicas is not 2")
    pod = get(dep, "spec", "template", "spec") or {}
    labels = get(dep, "spec", "template", "metadata", "labels")
    selects(get(dep, "spec", "selector", "matchLabels"), labels, where,
            "Deployment")
    if not get(pod, "affinity", "podAntiAffinity"):
        bad(where, "no pod anti-affinity")
    sas = [get(d, "metadata", "name") for d in byk.get("ServiceAccount", [])]
    if pod.get("serviceAccountName") not in sas:
        bad(where, "ServiceAccount %s does not exist" %
            pod.get("serviceAccountName"))
    check_security(pod, where)
    for c in pod.get("containers") or []:
        if image and c.get("image") != image:
            bad(where, "image %s is not build.sh's %s" %
                (c.get("image"), image))
    cms = byk.get("ConfigMap") or [{}]
    conf = parse_conf(get(cms[0], "data", "tokenreviewd.conf") or "", where)
    files = mounted_files(pod, docs, secrets, external, where)
    args = (pod.get("containers") or [{}])[0].get("args") or []
    if "-c" in args and args.index("-c") + 1 < len(args) and \
            args[args.index("-c") + 1] not in files:
        bad(where, "-c %s is not a mounted file" % args[args.index("-c") + 1])
    check_env(pod, secrets, external, where)
    check_config(pod, conf, files, where)
    review, health = check_ports(pod, conf, where)
    if review is None:
        return
    ports = container_ports((pod.get("containers") or [{}])[0])
    for svc in byk.get("Service") or []:
        check_service(svc, labels, ports, review, health, where)
        if kubeconfig:
            review_path = conf.get("server", "review_path",
                                   fallback="/tokenreview")
            check_kubeconfig(kubeconfig, svc, review_path, where)
    for pdb in byk.get("PodDisruptionBudget") or []:
        selects(get(pdb, "spec", "selector", "matchLabels"), labels, where,
                "PodDisruptionBudget")
    nps = byk.get("NetworkPolicy") or []
    if not nps:
        bad(where, "no NetworkPolicy")
    for np in nps:
        check_netpol(np, labels, review, health, where)
    if not byk.get("PodDisruptionBudget"):
        bad(where, "no PodDisruptionBudget")


def check_static_pod(src, path, image):
    where = os.path.relpath(path, src)
    for d in load(path):
        check_fields(d, where)
        pod = d.get("spec") or {}
        if pod.get("hostNetwork") is not True:
            bad(where, "static pod not on the host network")
        check_security(pod, where)
        c = (pod.get("containers") or [{}])[0]
        if image and c.get("image") != image:
            bad(where, "image %s is not build.sh's %s" %
                (c.get("image"), image))
        ports = container_ports(c)
        for probe in ("readinessProbe", "livenessProbe"):
            g = get(c, probe, "httpGet") or {}
            if g.get("host") != "127.0.0.1" or \
                    (g.get("port") not in ports and
                     g.get("port") != ports.get("health")):
                bad(where, "%s does not ask 127.0.0.1 on the health port" %
                    probe)
        files = mounted_files(pod, [], {}, {}, where)
        args = c.get("args") or []
        if "-c" in args and not any(
                args[args.index("-c") + 1].startswith(f[:-1])
                for f in files):
            bad(where, "-c is not in a mounted directory")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: check-manifests.py SRCDIR SECRETS.yaml")
    src, secrets_file = sys.argv[1], sys.argv[2]
    secrets = {}
    for d in load(secrets_file):
        check_fields(d, secrets_file)
        if d.get("kind") == "Secret":
            secrets[get(d, "metadata", "name")] = set(
                (d.get("data") or {}).keys())
    image = image_name(src)
    base = os.path.join(src, "contrib/kubernetes")
    # kubectl apply of either Namespace must not drop the other's labels.
    theirs = [d for d in load(secrets_file) if d.get("kind") == "Namespace"]
    ours = load(os.path.join(base, "namespace.yaml"))
    if theirs and ours and theirs[0] != ours[0]:
        bad(secrets_file, "its Namespace differs from namespace.yaml")
    kubeconfig = os.path.join(src, "contrib/webhook-kubeconfig.yaml")
    check_tree(src, base, secrets, image, kubeconfig)
    odir = os.path.join(base, "overlays")
    for o in sorted(os.listdir(odir)) if os.path.isdir(odir) else []:
        check_tree(src, os.path.join(odir, o), secrets, image, kubeconfig)
    sp = os.path.join(base, "static-pod")
    for f in sorted(os.listdir(sp)) if os.path.isdir(sp) else []:
        check_static_pod(src, os.path.join(sp, f), image)
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
