#!/usr/bin/env bash
# tests/deploy/check.sh: checks of the deployment files in deploy/ that run
# without a Docker engine or a Kubernetes cluster.
#
#   1. Dockerfile: lint (dockerfile-utils from npm, when npm is there) and
#      structure (two debian:bookworm-slim stages, no "latest", non-root USER,
#      HEALTHCHECK, STOPSIGNAL, EXPOSE, OCI labels, runtime libraries only).
#   2. The build stage on this host: the build context is assembled from the
#      repository with .dockerignore's rules and the build stage's COPY lines,
#      deploy/build-in-container.sh runs in it as the Dockerfile's RUN does, and
#      the result is checked: files, `recs --help`, hardening (PIE, RELRO,
#      BIND_NOW, stack protector, FORTIFY), and that each shared library the
#      binary needs comes from a package the runtime stage installs.
#   3. The runtime stage on this host: the installed binary started as the
#      Dockerfile's ENTRYPOINT, with its ENV, as its USER (uid 10001, as root),
#      on a read-only root filesystem (a private mount namespace, as root),
#      against a throwaway PostgreSQL with the demo catalog: /healthz, /readyz,
#      a recommendation, /metrics (with the version build argument), the
#      HEALTHCHECK command itself, JSON log lines, SIGTERM -> exit status 0.
#      PORT is a free port instead of 8080 (the host may be using 8080).
#   4. YAML: yamllint --strict (config: .yamllint) over deploy/, and the
#      fields that matter in the Kubernetes manifests, the compose file (with
#      its Prometheus rules and Grafana provisioning) and prometheus.yml
#      (promtool check config, when promtool is there).
#   5. Alerting rules and dashboard: promtool check rules and test rules,
#      every rule tested firing and quiet, the Grafana dashboard's structure,
#      and every metric and label that a rule, a rule test or a panel names
#      against a scrape of build/recs (built if missing) on a throwaway
#      PostgreSQL; then the real Prometheus (when installed) with
#      deploy/prometheus.yml scraping that build/recs: the rules evaluate,
#      every panel query answers, a database outage makes an alert pending.
#   6. `docker compose config` when the docker CLI has the compose plugin,
#      else skipped (the compose file is still checked by 4).
#   7. systemd unit: systemd-analyze verify and security (when available).
#
# As root, missing Debian packages (yamllint python3-yaml) are installed with
# apt-get. The dockerfile-utils linter is installed with npm into
# build/deploy-tools, the PromQL grammar with npm ci into
# tests/deploy/node_modules (both ignored by git). Prints "deploy: N passed, N failed"
# last; the exit status is non-zero when a check failed. VERBOSE=1 shows the
# output of the checks that passed too.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

DOCKERFILE_UTILS_VERSION=0.16.3
PACKAGES=(yamllint python3-yaml)

passed=0 failed=0 skipped=0
tmp=$(mktemp -d /tmp/recs-deploy-check.XXXXXX)
chmod 0755 "$tmp" # the service runs as uid 10001 from here
cleanup() {
  if [[ -f $tmp/recs.pid ]]; then
    kill -KILL "$(cat "$tmp/recs.pid")" 2>/dev/null || true
  fi
  if [[ -d $tmp/pg ]]; then
    scripts/pg.sh destroy "$tmp/pg" >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# check NAME FUNCTION [ARGS...]: runs the function in a subshell of its own
# (so that `set -e` holds inside it), prints its output indented on failure.
# A function exits 77 to say "skipped" (its last line says why).
check() {
  local name=$1 log status
  shift
  log=$tmp/log.$((passed + failed + skipped))
  ("$@") >"$log" 2>&1 &
  if wait $!; then status=0; else status=$?; fi
  if ((status == 0)); then
    passed=$((passed + 1))
    echo "ok   $name"
    [[ -z ${VERBOSE:-} ]] || sed 's/^/     /' "$log"
  elif ((status == 77)); then
    skipped=$((skipped + 1))
    echo "skip $name: $(tail -n 1 "$log")"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    tail -n 60 "$log" | sed 's/^/     /'
  fi
}
skip() { echo "$*"; exit 77; }
die() { echo "$*" >&2; exit 1; }

# --- setup ------------------------------------------------------------------

missing=()
for p in "${PACKAGES[@]}"; do
  [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]]; then
    echo "check.sh: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
  else
    echo "check.sh: missing packages: ${missing[*]} (sudo apt-get install -y ${missing[*]})" >&2
  fi
fi

# A Python with PyYAML: Debian's python3-yaml is for /usr/bin/python3, which
# another python3 earlier on PATH may not see.
PY=
for candidate in /usr/bin/python3 python3; do
  if "$candidate" -c 'import yaml' 2>/dev/null; then PY=$candidate; break; fi
done

# The Python half of the checks: `pyhelp COMMAND ARGS...`.
IFS= read -r -d '' PYCODE <<'PYEOF' || true
import fnmatch, glob, json, math, os, re, shlex, shutil, sys

def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)

# ---- Dockerfile ----
def dockerfile_parse(path):
    lines, cur = [], ""
    for raw in open(path, encoding="utf-8"):
        line = raw.rstrip("\n")
        if line.lstrip().startswith("#"):
            continue
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        cur += line
        if cur.strip():
            lines.append(cur.strip())
        cur = ""
    if cur.strip():
        lines.append(cur.strip())
    stages = []
    for line in lines:
        word, _, rest = line.partition(" ")
        word, rest = word.upper(), rest.strip()
        if word == "FROM":
            toks = rest.split()
            toks = [t for t in toks if not t.startswith("--")]
            stages.append({"from": toks[0],
                           "name": toks[2] if len(toks) >= 3 and toks[1].upper() == "AS" else None,
                           "ins": []})
        elif stages:
            stages[-1]["ins"].append((word, rest))
        else:
            stages.append({"from": None, "name": "(global)", "ins": [(word, rest)]})
    return [s for s in stages if s["from"]]

def exec_form(rest):
    rest = rest.strip()
    if rest.startswith("["):
        return json.loads(rest), True
    return ["/bin/sh", "-c", rest], False

def kv_pairs(rest):
    toks = shlex.split(rest)
    if toks and "=" not in toks[0]:
        return {toks[0]: " ".join(toks[1:])}
    return dict(t.split("=", 1) for t in toks)

def stage_info(stage):
    info = {"from": stage["from"], "name": stage["name"], "env": {}, "labels": {},
            "args": {}, "copy": [], "run": [], "user": None, "expose": [],
            "entrypoint": None, "cmd": None, "healthcheck": None,
            "stopsignal": None, "workdir": "/"}
    for word, rest in stage["ins"]:
        if word == "ENV":
            info["env"].update(kv_pairs(rest))
        elif word == "LABEL":
            info["labels"].update(kv_pairs(rest))
        elif word == "ARG":
            k, _, v = rest.partition("=")
            info["args"][k] = v.strip('"')
        elif word in ("COPY", "ADD"):
            toks = shlex.split(rest) if not rest.startswith("[") else json.loads(rest)
            opts = [t for t in toks if t.startswith("--")]
            paths = [t for t in toks if not t.startswith("--")]
            info["copy"].append({"op": word, "opts": opts, "src": paths[:-1],
                                 "dest": paths[-1], "workdir": info["workdir"]})
        elif word == "RUN":
            info["run"].append({"cmd": rest, "workdir": info["workdir"], "env": dict(info["env"])})
        elif word == "WORKDIR":
            info["workdir"] = os.path.join(info["workdir"], rest)
        elif word == "USER":
            info["user"] = rest
        elif word == "EXPOSE":
            info["expose"] += rest.split()
        elif word == "ENTRYPOINT":
            info["entrypoint"] = exec_form(rest)[0]
        elif word == "CMD":
            info["cmd"] = exec_form(rest)[0]
        elif word == "HEALTHCHECK":
            toks = rest.split(None)
            opts = {}
            while toks and toks[0].startswith("--"):
                k, _, v = toks.pop(0)[2:].partition("=")
                opts[k] = v
            if toks and toks[0].upper() == "CMD":
                cmdtext = rest.split(None, len(opts) + 1)[len(opts) + 1]
                info["healthcheck"] = {"opts": opts, "cmd": exec_form(cmdtext)[0]}
            else:
                info["healthcheck"] = {"opts": opts, "cmd": None}
        elif word == "STOPSIGNAL":
            info["stopsignal"] = rest
    return info

def apt_installs(info):
    pkgs = []
    for run in info["run"]:
        for m in re.finditer(r"apt-get\s+install\s+(.*?)(?:&&|;|$)", run["cmd"]):
            pkgs += [t for t in m.group(1).split() if not t.startswith("-")]
    return pkgs

def cmd_dockerfile(path):
    stages = [stage_info(s) for s in dockerfile_parse(path)]
    json.dump(stages, sys.stdout, indent=1)

def cmd_dockerfile_structure(path):
    errors = []
    stages = [stage_info(s) for s in dockerfile_parse(path)]
    if len(stages) != 2:
        errors.append(f"expected 2 stages (build, runtime), found {len(stages)}")
    for s in stages:
        if s["from"] != "debian:bookworm-slim" and not s["from"].startswith("debian:bookworm-slim@sha256:"):
            errors.append(f"stage {s['name']}: FROM {s['from']}, expected debian:bookworm-slim")
    if len(stages) == 2:
        build, run = stages
        for p in ("build-essential", "pkg-config", "libmicrohttpd-dev", "libjansson-dev", "libpq-dev"):
            if p not in apt_installs(build):
                errors.append(f"build stage does not install {p}")
        if not any("deploy/build-in-container.sh" in r["cmd"] for r in build["run"]):
            errors.append("build stage does not run deploy/build-in-container.sh")
        rpk = apt_installs(run)
        for p in ("libmicrohttpd12", "libjansson4", "libpq5", "libgomp1", "ca-certificates"):
            if p not in rpk:
                errors.append(f"runtime stage does not install {p}")
        for p in rpk:
            if p.endswith("-dev") or p in ("build-essential", "gcc", "make", "pkg-config"):
                errors.append(f"runtime stage installs build package {p}")
        if not any("--no-install-recommends" in r["cmd"] for r in run["run"] if "apt-get install" in r["cmd"]):
            errors.append("runtime apt-get install without --no-install-recommends")
        if not any("rm -rf /var/lib/apt/lists" in r["cmd"] for r in run["run"]):
            errors.append("runtime stage keeps the apt lists")
        user = (run["user"] or "").split(":")
        if not user[0] or user[0] in ("root", "0") or (len(user) > 1 and user[1] in ("root", "0")):
            errors.append(f"runtime USER {run['user']!r} is root or unset")
        if not user[0].isdigit():
            errors.append("runtime USER should be numeric (Kubernetes runAsNonRoot checks it)")
        if "8080" not in [e.split("/")[0] for e in run["expose"]]:
            errors.append("runtime stage does not EXPOSE 8080")
        hc = run["healthcheck"]
        if not hc or not hc["cmd"] or "/healthz" not in " ".join(hc["cmd"]):
            errors.append("no HEALTHCHECK on /healthz")
        if run["stopsignal"] != "SIGTERM":
            errors.append(f"STOPSIGNAL is {run['stopsignal']}, expected SIGTERM")
        if run["entrypoint"] != ["/usr/local/bin/recs"]:
            errors.append(f"ENTRYPOINT is {run['entrypoint']}, expected exec form [\"/usr/local/bin/recs\"]")
        env = run["env"]
        for k, v in (("PORT", "8080"), ("OMP_WAIT_POLICY", "passive")):
            if env.get(k) != v:
                errors.append(f"ENV {k}={env.get(k)}, expected {v}")
        for k in ("RECS_HTTP_THREADS", "RECS_SCORE_THREADS"):
            if env.get(k, "0") != "0":
                errors.append(f"image default {k}={env[k]}: leave 0 (= cores), set it per deployment")
        if any(k in env for k in ("DATABASE_URL", "PGPASSWORD")):
            errors.append("credentials in the image ENV")
        for k in ("title", "description", "source", "licenses", "version"):
            if "org.opencontainers.image." + k not in run["labels"]:
                errors.append(f"no label org.opencontainers.image.{k}")
        if not any("--from=build" in c["opts"] for c in run["copy"]):
            errors.append("runtime stage does not COPY --from=build")
    text = open(path, encoding="utf-8").read()
    if re.search(r":latest\b", text):
        errors.append("an image tagged latest")
    if "march=native" in text:
        errors.append("-march=native")
    if errors:
        fail("\n".join(errors))
    print("2 stages on debian:bookworm-slim, USER %s, EXPOSE %s, STOPSIGNAL %s" %
          (stages[1]["user"], " ".join(stages[1]["expose"]), stages[1]["stopsignal"]))

# ---- build context (.dockerignore) ----
def ignore_patterns(path):
    pats = []
    if os.path.exists(path):
        for line in open(path, encoding="utf-8"):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            neg = line.startswith("!")
            if neg:
                line = line[1:].strip()
            line = os.path.normpath(line.lstrip("/"))
            pats.append((neg, line, re.compile("^" + glob_regex(line) + "$")))
    return pats

def glob_regex(p):
    out, i = "", 0
    while i < len(p):
        c = p[i]
        if p.startswith("**", i):
            i += 2
            if i < len(p) and p[i] == "/":
                out += "(.*/)?"
                i += 1
            else:
                out += ".*"
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            j = p.find("]", i)
            out += p[i:j + 1] if j > 0 else re.escape(c)
            i = j if j > 0 else i
        elif c == "\\" and i + 1 < len(p):
            i += 1
            out += re.escape(p[i])
        else:
            out += re.escape(c)
        i += 1
    return out

def excluded(rel, pats):
    # moby/patternmatcher MatchesOrParentMatches: last matching pattern wins;
    # a pattern matching a parent directory matches the file.
    parts = rel.split("/")
    parents = ["/".join(parts[:i]) for i in range(1, len(parts))]
    result = False
    for neg, _, rx in pats:
        if rx.match(rel) or any(rx.match(d) for d in parents):
            result = not neg
    return result

def context_files(ctx):
    pats = ignore_patterns(os.path.join(ctx, ".dockerignore"))
    negs = [p for neg, p, _ in pats if neg]
    files = []
    for dirpath, dirs, names in os.walk(ctx):
        reldir = os.path.relpath(dirpath, ctx)
        keep = []
        for d in dirs:
            rel = os.path.normpath(os.path.join(reldir, d))
            if excluded(rel, pats) and not any(n.startswith(rel + "/") for n in negs):
                continue
            keep.append(d)
        dirs[:] = keep
        for n in names:
            rel = os.path.normpath(os.path.join(reldir, n))
            if not excluded(rel, pats):
                files.append(rel)
    return sorted(files)

def cmd_context(ctx, dockerfile, fsroot):
    """Builds the build stage's file system (its COPY lines) under fsroot;
    prints the workdir and the RUN command that runs build-in-container.sh."""
    files = context_files(ctx)
    for must_not in (".git", "build", "tests", ".ci", "deploy/k8s"):
        leaked = [f for f in files if f == must_not or f.startswith(must_not + "/")]
        if leaked:
            fail(f".dockerignore lets {must_not} into the build context: {leaked[:3]}")
    build = stage_info(dockerfile_parse(dockerfile)[0])
    for c in build["copy"]:
        if any(o.startswith("--from") for o in c["opts"]):
            continue
        dest = os.path.join(c["workdir"], c["dest"])
        for src in c["src"]:
            src = os.path.normpath(src)
            matched = [f for f in files if fnmatch.fnmatch(f, src)]
            under = [f for f in files if f.startswith(src.rstrip("/") + "/") or src == "."]
            if under:
                for f in under:
                    rel = os.path.relpath(f, src) if src != "." else f
                    place(os.path.join(ctx, f), fsroot, os.path.join(dest, rel))
            elif matched:
                for f in matched:
                    target = os.path.join(dest, os.path.basename(f)) if c["dest"].endswith("/") or len(matched) > 1 else dest
                    place(os.path.join(ctx, f), fsroot, target)
            else:
                fail(f"COPY {src}: nothing in the build context (.dockerignore?)")
    runs = [r for r in build["run"] if "build-in-container.sh" in r["cmd"]]
    if len(runs) != 1:
        fail("expected one RUN of build-in-container.sh in the build stage")
    m = re.search(r"(\S*build-in-container\.sh)\s+(\S+)", runs[0]["cmd"])
    print(json.dumps({"workdir": runs[0]["workdir"], "script": m.group(1), "destdir": m.group(2),
                      "run": runs[0]["cmd"], "files": len(files)}))

def place(src, fsroot, target):
    path = os.path.join(fsroot, target.lstrip("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    shutil.copy2(src, path)

# ---- YAML ----
def load_yaml(path):
    import yaml
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]

def cpu(q):
    q = str(q)
    return float(q[:-1]) / 1000 if q.endswith("m") else float(q)

def mem(q):
    q = str(q)
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    for u in sorted(units, key=len, reverse=True):
        if q.endswith(u):
            return float(q[:-len(u)]) * units[u]
    return float(q)

def cmd_k8s(kdir, dockerfile):
    errors = []
    def need(cond, msg):
        if not cond:
            errors.append(msg)
    kust = load_yaml(os.path.join(kdir, "kustomization.yaml"))[0]
    res = kust.get("resources", [])
    need(set(res) == {"deployment.yaml", "service.yaml", "hpa.yaml", "pdb.yaml"},
         f"kustomization resources {res}")
    need("secret.example.yaml" not in res, "kustomization includes the example Secret")
    docs = {}
    for r in res:
        need(os.path.exists(os.path.join(kdir, r)), f"kustomization lists missing {r}")
        for d in load_yaml(os.path.join(kdir, r)):
            docs[d.get("kind")] = d
    for k in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        need(k in docs, f"no {k}")
    if errors:
        fail("\n".join(errors))
    dep, svc, hpa, pdb = (docs[k] for k in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"))
    need(dep["apiVersion"] == "apps/v1", "Deployment apiVersion")
    need(dep["spec"].get("replicas", 1) >= 2, "Deployment replicas < 2")
    sel = dep["spec"]["selector"]["matchLabels"]
    tmpl = dep["spec"]["template"]
    labels = tmpl["metadata"]["labels"]
    need(all(labels.get(k) == v for k, v in sel.items()), "Deployment selector does not match the pod labels")
    pod = tmpl["spec"]
    cs = pod["containers"]
    need(len(cs) == 1, "one container expected")
    c = cs[0]
    images = {i["name"]: i for i in kust.get("images", [])}
    image = c["image"]
    tag = images[image].get("newTag") if image in images else (image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else None)
    need(tag and tag != "latest", f"image {image} has no tag or 'latest' (kustomization images)")
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    need(8080 in ports.values(), "no containerPort 8080")
    def probe(name, path):
        p = c.get(name)
        need(p is not None, f"no {name}")
        if p:
            hg = p.get("httpGet", {})
            need(hg.get("path") == path, f"{name} path {hg.get('path')}, expected {path}")
            port = hg.get("port")
            need(ports.get(port, port) == 8080, f"{name} port {port} is not 8080")
    probe("livenessProbe", "/healthz")
    probe("readinessProbe", "/readyz")
    if "startupProbe" in c:
        probe("startupProbe", "/readyz")
    r = c.get("resources", {})
    for kind in ("requests", "limits"):
        for res_ in ("cpu", "memory"):
            need(res_ in r.get(kind, {}), f"no resources.{kind}.{res_}")
    if not errors:
        need(cpu(r["requests"]["cpu"]) <= cpu(r["limits"]["cpu"]), "cpu request > limit")
        need(mem(r["requests"]["memory"]) <= mem(r["limits"]["memory"]), "memory request > limit")
    env = {e["name"]: e for e in c.get("env", [])}
    db = env.get("DATABASE_URL", {})
    ref = db.get("valueFrom", {}).get("secretKeyRef")
    need(ref is not None and "value" not in db, "DATABASE_URL does not come from a secretKeyRef")
    val = lambda k: env.get(k, {}).get("value")
    need(val("OMP_WAIT_POLICY") == "passive", "OMP_WAIT_POLICY is not passive")
    if "limits" in r and "cpu" in r["limits"]:
        # The defaults on a machine with limits.cpu cores: scoring threads =
        # cores, HTTP workers = 2 x cores (at least cores).
        lim = max(1, math.ceil(cpu(r["limits"]["cpu"])))
        need(val("RECS_SCORE_THREADS") == str(lim),
             f"RECS_SCORE_THREADS={val('RECS_SCORE_THREADS')}, expected {lim} (= limits.cpu)")
        http = int(val("RECS_HTTP_THREADS") or 0)
        need(lim <= http <= 2 * lim, f"RECS_HTTP_THREADS={http}, expected {lim}..{2 * lim} (limits.cpu..2 x limits.cpu)")
        pool = val("RECS_DB_POOL_SIZE")
        need(pool is None or int(pool) >= http, f"RECS_DB_POOL_SIZE={pool} < RECS_HTTP_THREADS={http}")
    psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
    sc = lambda k: csc.get(k, psc.get(k))
    need(csc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem is not true")
    need(sc("runAsNonRoot") is True, "runAsNonRoot is not true")
    df_user = stage_info(dockerfile_parse(dockerfile)[-1])["user"].split(":")[0]
    need(str(sc("runAsUser")) == df_user, f"runAsUser {sc('runAsUser')} differs from the Dockerfile USER {df_user}")
    need(csc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation is not false")
    need("ALL" in csc.get("capabilities", {}).get("drop", []), "capabilities do not drop ALL")
    need((sc("seccompProfile") or {}).get("type") == "RuntimeDefault", "seccompProfile is not RuntimeDefault")
    grace = pod.get("terminationGracePeriodSeconds")
    pre = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    sleep = int(pre[1]) if len(pre) == 2 and pre[0].endswith("/sleep") else 0
    need(sleep > 0, "no preStop sleep")
    drain = int(val("RECS_SHUTDOWN_TIMEOUT") or 10)
    need(grace is not None and grace > sleep + drain,
         f"terminationGracePeriodSeconds {grace} <= preStop {sleep} + RECS_SHUTDOWN_TIMEOUT {drain}")
    ann = tmpl["metadata"].get("annotations", {})
    need(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == "8080",
         "prometheus.io annotations")
    need(svc.get("spec", {}).get("type", "ClusterIP") == "ClusterIP", "Service is not ClusterIP")
    sp = svc["spec"]["ports"][0]
    need(sp["port"] == 80 and ports.get(sp.get("targetPort"), sp.get("targetPort")) == 8080, "Service is not 80 -> 8080")
    need(all(labels.get(k) == v for k, v in svc["spec"]["selector"].items()), "Service selector does not match the pods")
    need(hpa["apiVersion"] == "autoscaling/v2", "HPA is not autoscaling/v2")
    need(hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": dep["metadata"]["name"]},
         "HPA scaleTargetRef")
    need(hpa["spec"].get("minReplicas", 1) >= 2, "HPA minReplicas < 2")
    m = hpa["spec"]["metrics"][0]
    need(m["type"] == "Resource" and m["resource"]["name"] == "cpu" and m["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70},
         "HPA cpu 70% target")
    need(pdb["apiVersion"] == "policy/v1" and pdb["spec"].get("minAvailable") == 1, "PDB policy/v1 minAvailable 1")
    need(all(labels.get(k) == v for k, v in pdb["spec"]["selector"]["matchLabels"].items()), "PDB selector")
    sec = load_yaml(os.path.join(kdir, "secret.example.yaml"))[0]
    need(sec["kind"] == "Secret" and ref is not None and sec["metadata"]["name"] == ref["name"]
         and ref["key"] in sec.get("stringData", {}), "secret.example.yaml does not match the secretKeyRef")
    if errors:
        fail("\n".join(errors))
    print(f"Deployment ({dep['spec']['replicas']} replicas, cpu {r['requests']['cpu']}..{r['limits']['cpu']}, "
          f"threads http {val('RECS_HTTP_THREADS')} score {val('RECS_SCORE_THREADS')}), Service, HPA, PDB, Secret example")

def cmd_compose(path, dockerfile):
    errors = []
    def need(cond, msg):
        if not cond:
            errors.append(msg)
    base = os.path.dirname(os.path.abspath(path))
    doc = load_yaml(path)[0]
    svcs = doc.get("services", {})
    for name in ("db", "recs", "prometheus"):
        need(name in svcs, f"no service {name}")
    if errors:
        fail("\n".join(errors))
    db, recs, prom = svcs["db"], svcs["recs"], svcs["prometheus"]
    for n, s in svcs.items():
        img = s.get("image", "")
        need(":" in img and not img.endswith(":latest"), f"service {n}: image {img!r} untagged or latest")
    need(db["image"].startswith("postgres:15"), "db is not postgres:15")
    init = [v for v in db.get("volumes", []) if isinstance(v, str) and ":/docker-entrypoint-initdb.d" in v]
    need(len(init) == 1 and init[0].endswith(":ro"), "db: no read-only mount on /docker-entrypoint-initdb.d")
    if init:
        sqldir = os.path.normpath(os.path.join(base, init[0].split(":")[0]))
        sql = sorted(os.path.basename(f) for f in glob.glob(os.path.join(sqldir, "*.sql")))
        need(sql[:2] == ["001_catalog.sql", "002_catalog_changes.sql"] and "100_demo_catalog.sql" in sql,
             f"init scripts in {sqldir}: {sql}")
    hc = " ".join(db.get("healthcheck", {}).get("test", []))
    need("pg_isready" in hc, "db healthcheck without pg_isready")
    b = recs.get("build", {})
    need(os.path.normpath(os.path.join(base, b.get("context", "."), b.get("dockerfile", "Dockerfile")))
         == os.path.abspath(dockerfile), "recs build is not deploy/Dockerfile with the repo as context")
    need(recs.get("depends_on", {}).get("db", {}).get("condition") == "service_healthy",
         "recs does not wait for db service_healthy")
    env = recs.get("environment", {})
    need("@db:" in str(env.get("DATABASE_URL", "")), "recs DATABASE_URL does not point at db")
    need(env.get("OMP_WAIT_POLICY") == "passive", "recs OMP_WAIT_POLICY")
    need(any(str(p).endswith(":8080") for p in recs.get("ports", [])), "recs does not publish 8080")
    need(recs.get("read_only") is True, "recs is not read_only")
    user = str(recs.get("user", "")).split(":")[0]
    need(user not in ("", "0", "root"), "recs user is root or unset")
    grace = str(recs.get("stop_grace_period", "10s"))
    need(grace.endswith("s") and int(grace[:-1]) > int(env.get("RECS_SHUTDOWN_TIMEOUT", 10)),
         "stop_grace_period not above RECS_SHUTDOWN_TIMEOUT")
    need(prom.get("profiles") == ["metrics"], "prometheus is not under profiles: [metrics]")
    mounts = [v for v in prom.get("volumes", []) if "prometheus.yml" in v]
    need(mounts and os.path.exists(os.path.join(base, mounts[0].split(":")[0])), "prometheus.yml not mounted")
    pcfg = load_yaml(os.path.join(base, "prometheus.yml"))[0]
    targets = [t for sc in pcfg.get("scrape_configs", []) for st in sc.get("static_configs", []) for t in st.get("targets", [])]
    need("recs:8080" in targets, "prometheus.yml does not scrape recs:8080")
    # Rule files are relative to the configuration: each must be mounted at
    # the same place relative to the container's configuration file.
    def mounts(svc):
        out = {}
        for v in svc.get("volumes", []):
            parts = str(v).split(":")
            if len(parts) >= 2:
                out[os.path.normpath(parts[1])] = os.path.normpath(os.path.join(base, parts[0]))
        return out
    pm = mounts(prom)
    config_flags = [c for c in prom.get("command", []) if str(c).startswith("--config.file=")]
    config_in = config_flags[0].split("=", 1)[1] if config_flags else "/etc/prometheus/prometheus.yml"
    need(pm.get(config_in) == os.path.join(base, "prometheus.yml"), f"prometheus.yml not mounted at {config_in}")
    rule_files = pcfg.get("rule_files", [])
    need("prometheus/alerts.yml" in rule_files, "prometheus.yml does not load prometheus/alerts.yml")
    for rf in rule_files:
        inside = os.path.normpath(os.path.join(os.path.dirname(config_in), rf))
        need(pm.get(inside) == os.path.normpath(os.path.join(base, rf)),
             f"rule file {rf} is not mounted at {inside}")
    graf = svcs.get("grafana")
    need(graf is not None, "no service grafana")
    if errors:
        fail("\n".join(errors))
    need(graf.get("profiles") == ["metrics"], "grafana is not under profiles: [metrics]")
    need("prometheus" in graf.get("depends_on", []), "grafana does not depend on prometheus")
    need(any(str(p).endswith(":3000") for p in graf.get("ports", [])), "grafana does not publish 3000")
    gm = mounts(graf)
    prov = gm.get("/etc/grafana/provisioning")
    need(prov == os.path.join(base, "grafana", "provisioning"), "grafana/provisioning not mounted at /etc/grafana/provisioning")
    prov = prov or os.path.join(base, "grafana", "provisioning")
    sources = [d for f in sorted(glob.glob(os.path.join(prov, "datasources", "*.y*ml")))
               for d in load_yaml(f)[0].get("datasources", [])]
    prometheus_sources = [d for d in sources if d.get("type") == "prometheus"]
    need(len(prometheus_sources) == 1, f"{len(prometheus_sources)} Prometheus data sources provisioned, expected 1")
    for d in prometheus_sources:
        need(d.get("url") == "http://prometheus:9090", f"data source url {d.get('url')}: not the prometheus service")
        need(d.get("isDefault") is True, "the Prometheus data source is not the default")
        need(d.get("jsonData", {}).get("timeInterval") == pcfg.get("global", {}).get("scrape_interval"),
             "data source timeInterval differs from prometheus.yml's scrape_interval")
    providers = [d for f in sorted(glob.glob(os.path.join(prov, "dashboards", "*.y*ml")))
                 for d in load_yaml(f)[0].get("providers", [])]
    need(len(providers) == 1 and providers[0].get("type") == "file", "expected one file dashboard provider")
    folder = os.path.normpath(providers[0].get("options", {}).get("path", "/nonexistent")) if providers else "/nonexistent"
    dashboards = [inside for inside, host in gm.items()
                  if host == os.path.join(base, "grafana", "recs.json") and os.path.dirname(inside) == folder]
    need(len(dashboards) == 1, f"grafana/recs.json is not mounted in the provider's folder {folder}")
    home = graf.get("environment", {}).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    need(home is None or home in dashboards, f"home dashboard {home} is not the mounted recs.json")
    if errors:
        fail("\n".join(errors))
    print("services " + ", ".join(sorted(svcs)) + f"; rule files {', '.join(rule_files)}; Grafana: "
          f"{len(sources)} data source, dashboards from {folder}")

# ---- alerting rules, dashboard, metric names ----
GRAFANA_DS = {"type": "prometheus", "uid": "${datasource}"}
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms"}
PANEL_TYPES = {"row", "timeseries", "stat", "table", "gauge", "bargauge", "text"}

def dashboard_variables(text):
    return set(re.findall(r"\$\{?(\w+)", text))

def cmd_alert_tests(rules_path, tests_path):
    rules = [r["alert"] for g in load_yaml(rules_path)[0]["groups"] for r in g["rules"] if "alert" in r]
    fired, quiet = set(), set()
    for t in load_yaml(tests_path)[0].get("tests", []):
        for a in t.get("alert_rule_test", []):
            (fired if a.get("exp_alerts") else quiet).add(a["alertname"])
    errors = [f"{r}: no test where it fires" for r in rules if r not in fired]
    errors += [f"{r}: no test where it stays quiet" for r in rules if r not in quiet]
    errors += [f"tests name {r}, which alerts.yml does not define" for r in sorted((fired | quiet) - set(rules))]
    if errors:
        fail("\n".join(errors))
    print(f"{len(rules)} alerts, each tested firing and quiet: {', '.join(rules)}")

def cmd_dashboard(path):
    errors = []
    def need(cond, msg):
        if not cond:
            errors.append(msg)
    d = json.load(open(path, encoding="utf-8"))
    need(isinstance(d.get("title"), str) and d["title"], "no title")
    need(re.fullmatch(r"[A-Za-z0-9_-]{1,40}", str(d.get("uid", ""))) is not None, f"uid {d.get('uid')!r}: 1-40 of A-Z a-z 0-9 - _")
    need(d.get("id") is None, "id is set: an import would overwrite another dashboard's")
    need(isinstance(d.get("schemaVersion"), int) and d["schemaVersion"] >= 36,
         f"schemaVersion {d.get('schemaVersion')}: datasource references as objects need 36 or later")
    need(isinstance(d.get("time"), dict) and {"from", "to"} <= set(d["time"]), "no time range")
    need("__inputs" not in d, "__inputs: Grafana would ask for inputs on import instead of using the variable")
    variables = d.get("templating", {}).get("list", [])
    names = {v.get("name") for v in variables}
    ds = [v for v in variables if v.get("type") == "datasource"]
    need(len(ds) == 1 and ds[0].get("name") == "datasource" and ds[0].get("query") == "prometheus",
         "no datasource variable named datasource of type prometheus")
    for v in variables:
        if v.get("type") == "query":
            need(v.get("datasource") == GRAFANA_DS, f"variable {v.get('name')}: datasource is not ${{datasource}}")
            need(str(v.get("query", "")).startswith("label_values("), f"variable {v.get('name')}: not a label_values() query")
            need(v.get("definition") == v.get("query"), f"variable {v.get('name')}: definition differs from query")
    panels = d.get("panels", [])
    need(isinstance(panels, list) and panels, "no panels")
    ids, cells, queries = set(), {}, 0
    for p in panels:
        title = p.get("title")
        where = f"panel {p.get('id')} {title!r}"
        need(isinstance(p.get("id"), int) and p["id"] not in ids, f"{where}: id missing or not unique")
        ids.add(p.get("id"))
        need(p.get("type") in PANEL_TYPES, f"{where}: type {p.get('type')!r}")
        need(isinstance(title, str) and title, f"{where}: no title")
        g = p.get("gridPos", {})
        if not all(isinstance(g.get(k), int) for k in "hwxy"):
            errors.append(f"{where}: gridPos needs integer h, w, x, y")
            continue
        need(g["w"] >= 1 and g["h"] >= 1 and g["x"] >= 0 and g["x"] + g["w"] <= 24, f"{where}: gridPos outside the 24 columns")
        cover = [(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])]
        overlapped = sorted({cells[c] for c in cover if c in cells})
        need(not overlapped, f"{where}: overlaps panels {overlapped}")
        cells.update((c, p.get("id")) for c in cover)
        if p.get("type") == "row":
            need(p.get("collapsed") is False and p.get("panels") == [], f"{where}: rows hold no panels of their own here")
            continue
        need(p.get("datasource") == GRAFANA_DS, f"{where}: datasource is not ${{datasource}}")
        targets = p.get("targets", [])
        need(isinstance(targets, list) and targets, f"{where}: no targets")
        refs = [t.get("refId") for t in targets]
        need(len(set(refs)) == len(refs) and all(refs), f"{where}: refIds missing or repeated")
        for t in targets:
            queries += 1
            need(t.get("datasource") == GRAFANA_DS, f"{where} {t.get('refId')}: datasource is not ${{datasource}}")
            need(isinstance(t.get("expr"), str) and t["expr"].strip(), f"{where} {t.get('refId')}: no expr")
            unknown = dashboard_variables(str(t.get("expr", ""))) - names - GRAFANA_BUILTINS
            need(not unknown, f"{where} {t.get('refId')}: unknown variables {sorted(unknown)}")
    if errors:
        fail("\n".join(errors))
    print(f"{d['title']!r} (uid {d['uid']}): {len(panels)} panels, {queries} queries, variables {', '.join(sorted(names))}")

def cmd_promql_inputs(rules_path, tests_path, dashboard_path):
    """The expressions to parse, as JSON for promql-selectors.mjs."""
    out = []
    for g in load_yaml(rules_path)[0]["groups"]:
        for r in g["rules"]:
            out.append({"where": f"alerts.yml {r.get('alert') or r.get('record')}", "expr": r["expr"]})
    for i, t in enumerate(load_yaml(tests_path)[0].get("tests", [])):
        for s in t.get("input_series", []):
            out.append({"where": f"alerts.test.yml test {i + 1} series", "expr": s["series"]})
    d = json.load(open(dashboard_path, encoding="utf-8"))
    def grafana(expr):
        # Grafana's interval variables stand where PromQL wants a duration.
        return re.sub(r"\$\{?__(rate_interval|interval|range)\}?", "5m", expr)
    for p in d.get("panels", []):
        for t in p.get("targets", []):
            out.append({"where": f"recs.json panel {p.get('title')!r} {t.get('refId')}", "expr": grafana(t["expr"])})
    for v in d.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", v["query"].strip())
            if not m:
                fail(f"variable {v.get('name')}: cannot read {v['query']!r}")
            # The same question in PromQL, so that the label is checked too.
            out.append({"where": f"recs.json variable {v['name']}", "expr": f"count by ({m.group(2)}) ({m.group(1)})"})
    json.dump(out, sys.stdout)

def prometheus_api(url, path, **params):
    import urllib.parse, urllib.request
    query = ("?" + urllib.parse.urlencode(params)) if params else ""
    with urllib.request.urlopen(url + path + query, timeout=10) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{path}: {body.get('errorType')}: {body.get('error')}")
    return body["data"]

def cmd_prometheus_local(config, target):
    """deploy/prometheus.yml for a Prometheus on this host: absolute rule
    files, target on 127.0.0.1, one scrape and one evaluation a second."""
    import yaml
    cfg = load_yaml(config)[0]
    base = os.path.dirname(os.path.abspath(config))
    cfg["global"]["scrape_interval"] = cfg["global"]["evaluation_interval"] = "1s"
    cfg["rule_files"] = [os.path.join(base, f) for f in cfg.get("rule_files", [])]
    for sc in cfg["scrape_configs"]:
        for st in sc.get("static_configs", []):
            st["targets"] = [target]
    yaml.safe_dump(cfg, sys.stdout)

def cmd_prometheus_live(url, rules_path, dashboard_path, pending_alert):
    import time
    want = [r["alert"] for g in load_yaml(rules_path)[0]["groups"] for r in g["rules"] if "alert" in r]
    job = "recs"
    deadline = time.time() + 30
    def until(what, probe):
        while True:
            try:
                got = probe()
            except OSError:
                got = None  # not listening yet
            if got:
                return got
            if time.time() > deadline:
                fail(f"{what}: not within 30 s")
            time.sleep(0.25)
    # 1. Every rule loaded from prometheus.yml's rule_files and evaluated,
    #    none with an error.
    def evaluated():
        rules = [r for g in prometheus_api(url, "/api/v1/rules")["groups"] for r in g["rules"]]
        if sorted(r["name"] for r in rules) != sorted(want):
            return None
        bad = [f"{r['name']}: {r.get('lastError')}" for r in rules if r.get("health") == "err"]
        if bad:
            fail("rules fail to evaluate:\n" + "\n".join(bad))
        return rules if all(r.get("health") == "ok" for r in rules) else None
    rules = until("every rule of alerts.yml evaluated", evaluated)
    print(f"{len(rules)} rules loaded and evaluated without error")
    # 2. Every panel and variable query answers, with data.
    d = json.load(open(dashboard_path, encoding="utf-8"))
    def grafana(expr):
        expr = re.sub(r"\$\{?__(rate_interval|interval|range)\}?", "1m", expr)
        return expr.replace("$job", job).replace("$instance", ".*")
    queries = [(f"panel {p['title']!r} {t['refId']}", grafana(t["expr"]))
               for p in d.get("panels", []) for t in p.get("targets", [])]
    for v in d.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", v["query"].strip())
            queries.append((f"variable {v['name']}", grafana(f"count by ({m.group(2)}) ({m.group(1)})")))
    for where, q in queries:
        try:
            until(f"{where}: {q}: data", lambda: prometheus_api(url, "/api/v1/query", query=q)["result"])
        except RuntimeError as e:
            fail(f"{where}: {q}: {e}")
    print(f"{len(queries)} dashboard queries answered with data")
    # 3. The outage makes the database alert pending (its for: is a minute).
    def pending():
        return [a for a in prometheus_api(url, "/api/v1/alerts")["alerts"]
                if a["labels"].get("alertname") == pending_alert and a["state"] in ("pending", "firing")]
    alert = until(f"{pending_alert} pending", pending)[0]
    print(f"{pending_alert} {alert['state']} on {alert['labels'].get('instance')}")

# Series that Prometheus itself writes for every target.
PROMETHEUS_SERIES = {"up": {"job", "instance"}}
TARGET_LABELS = {"job", "instance"}
# Labels whose values show in a scrape only once they happened: a code
# appears with the first response of that status.
SPARSE_LABELS = {"code"}

def parse_scrape(path):
    types, labels, values = {}, {}, {}
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ", line)
        if not m:
            fail(f"scrape: cannot read {line!r}")
        name = m.group(1)
        labels.setdefault(name, set())
        for k, v in re.findall(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""):
            labels[name].add(k)
            values.setdefault((name, k), set()).add(v)
    names = set(labels)
    for name, kind in types.items():
        if kind in ("counter", "gauge", "untyped"):
            names.add(name)
        elif kind == "histogram":
            names |= {name + "_bucket", name + "_sum", name + "_count"}
        elif kind == "summary":
            names |= {name, name + "_sum", name + "_count"}
    return names, labels, values

def cmd_metric_names(scrape_path, parsed_path):
    names, labels, values = parse_scrape(scrape_path)
    errors, used = [], set()
    parsed = json.load(open(parsed_path, encoding="utf-8"))
    for e in parsed:
        where = e["where"]
        if e["error"]:
            errors.append(f"{where}: {e['error']}")
            continue
        if not e["selectors"]:
            errors.append(f"{where}: names no metric")
        known = set(TARGET_LABELS)
        for s in e["selectors"]:
            n = s["name"]
            if n is None:
                errors.append(f"{where}: a selector without a metric name")
                continue
            used.add(n)
            if n in PROMETHEUS_SERIES:
                have = PROMETHEUS_SERIES[n]
            elif n in names:
                have = labels.get(n, set()) | TARGET_LABELS
            else:
                errors.append(f"{where}: {n} is not exported by recs")
                continue
            known |= have
            for m in s["matchers"]:
                if m["label"] not in have:
                    errors.append(f"{where}: {n} has no label {m['label']}")
                elif (m["op"] == "=" and "$" not in m["value"] and m["label"] not in SPARSE_LABELS | TARGET_LABELS
                      and n not in PROMETHEUS_SERIES and m["value"] not in values.get((n, m["label"]), set())):
                    errors.append(f"{where}: {n}{{{m['label']}={m['value']!r}}}: recs exports no such value "
                                  f"(it has {sorted(values.get((n, m['label']), set()))})")
        for g in e["grouping"]:
            if g not in known:
                errors.append(f"{where}: groups by {g}, a label none of its metrics has")
    if errors:
        fail("\n".join(sorted(set(errors))))
    print(f"{len(parsed)} expressions name {len(used)} metrics, all of them in the scrape: {', '.join(sorted(used))}")
    unused = sorted(n for n in names if n not in used and not n.endswith(("_sum", "_count")))
    if unused:
        print("exported, used by no rule or panel: " + ", ".join(unused))

if __name__ == "__main__":
    globals()["cmd_" + sys.argv[1].replace("-", "_")](*sys.argv[2:])
PYEOF
pyhelp() {
  [[ -n $PY ]] || die "no python3 with PyYAML (apt-get install python3-yaml)"
  "$PY" -c "$PYCODE" "$@"
}

# --- 1. Dockerfile ----------------------------------------------------------

dockerfile_lint() {
  command -v npm >/dev/null || skip "npm not installed: no Dockerfile linter"
  local tools=$root/build/deploy-tools bin
  bin=$tools/node_modules/.bin/dockerfile-utils
  if [[ ! -x $bin ]] || ! grep -q "\"version\": \"$DOCKERFILE_UTILS_VERSION\"" "$tools/node_modules/dockerfile-utils/package.json"; then
    mkdir -p "$tools"
    npm install --prefix "$tools" --no-save --no-audit --no-fund --loglevel=error \
      "dockerfile-utils@$DOCKERFILE_UTILS_VERSION" >/dev/null
  fi
  # Any diagnostic fails, warnings included.
  local out
  out=$("$bin" lint --json deploy/Dockerfile) || true
  if [[ $out != "[]" ]]; then "$bin" lint deploy/Dockerfile || true; die "dockerfile-utils lint: $out"; fi
  echo "dockerfile-utils $DOCKERFILE_UTILS_VERSION: no diagnostics"
}
check "Dockerfile lint (dockerfile-utils)" dockerfile_lint
check "Dockerfile structure" pyhelp dockerfile-structure deploy/Dockerfile

# --- 2. build stage on the host --------------------------------------------

build_stage() {
  local info workdir destdir
  mkdir -p "$tmp/buildfs"
  info=$(pyhelp context "$root" deploy/Dockerfile "$tmp/buildfs")
  echo "$info"
  workdir=$tmp/buildfs$(pyhelp_json "$info" workdir)
  destdir=$(pyhelp_json "$info" destdir)
  # The RUN line: RECS_VERSION="$VERSION" deploy/build-in-container.sh /out,
  # with /out under the emulated file system.
  (cd "$workdir" && RECS_VERSION=$BUILD_VERSION "./$(pyhelp_json "$info" script)" "$tmp/buildfs$destdir")
  ln -s "$tmp/buildfs$destdir" "$tmp/out"
  local bin=$tmp/out/usr/local/bin/recs
  [[ -x $bin ]] || die "no usr/local/bin/recs in $destdir"
  "$bin" --help >/dev/null || die "recs --help failed"
  local got want
  got=$(cd "$tmp/out" && find . -type f | sort | tr '\n' ' ')
  want=$(cd sql && for f in *.sql; do printf './usr/share/recs/sql/%s\n' "$f"; done
    for f in index.html app.js style.css; do printf './usr/share/recs/demo/%s\n' "$f"; done
    echo ./usr/local/bin/recs)
  want=$(sort <<<"$want" | tr '\n' ' ')
  [[ $got == "$want" ]] || die "installed files: $got; expected: $want"
  echo "installed: $got"
}
pyhelp_json() { "$PY" -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
BUILD_VERSION=deploy-check-$$
check "build stage on the host (deploy/build-in-container.sh)" build_stage

binary_checks() {
  local bin=$tmp/out/usr/local/bin/recs
  [[ -x $bin ]] || die "no binary (build stage failed)"
  # Whole outputs in variables: `readelf | grep -q` would fail under pipefail
  # when grep stops reading early.
  local header segments dynamic symbols
  header=$(readelf -hW "$bin") segments=$(readelf -lW "$bin")
  dynamic=$(readelf -dW "$bin") symbols=$(readelf --dyn-syms -W "$bin")
  grep -q 'Type:.*DYN' <<<"$header" || die "not PIE"
  grep -q GNU_RELRO <<<"$segments" || die "no RELRO"
  grep -Eq 'BIND_NOW|FLAGS_1.*NOW' <<<"$dynamic" || die "no BIND_NOW (full RELRO)"
  [[ $(grep GNU_STACK <<<"$segments") == *RWE* ]] && die "executable stack"
  grep -q __stack_chk_fail <<<"$symbols" || die "no stack protector"
  grep -Eq '__[a-z]+_chk@' <<<"$symbols" || die "no _FORTIFY_SOURCE"
  echo "PIE, full RELRO, non-executable stack, stack protector, FORTIFY"
  # Each NEEDED library must come from a package the runtime stage installs
  # (or from libc6, which the base image has).
  local runtime_pkgs needed lib path pkg
  runtime_pkgs=" libc6 $(pyhelp dockerfile deploy/Dockerfile | "$PY" -c '
import json, re, sys
s = json.load(sys.stdin)[-1]
for r in s["run"]:
    for m in re.finditer(r"apt-get\s+install\s+(.*?)(?:&&|;|$)", r["cmd"]):
        print(" ".join(t for t in m.group(1).split() if not t.startswith("-")))
' | tr '\n' ' ') "
  needed=$(readelf -dW "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  for lib in $needed; do
    path=$(ldd "$bin" | awk -v l="$lib" '$1 == l { print $3 }')
    [[ -n $path ]] || die "ldd cannot find $lib"
    pkg=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$(realpath "$path")" 2>/dev/null ||
      dpkg -S "${path/#\/lib\//\/usr\/lib\/}" 2>/dev/null || dpkg -S "${path/#\/usr\/lib\//\/lib\/}" 2>/dev/null || true)
    pkg=${pkg%%:*}
    [[ -n $pkg ]] || die "no package owns $path"
    [[ $runtime_pkgs == *" $pkg "* ]] || die "$lib comes from $pkg, which the runtime stage does not install"
    echo "$lib <- $pkg"
  done
}
check "binary: hardening, runtime libraries installed by the runtime stage" binary_checks

# --- 3. runtime stage on the host ------------------------------------------

# Remounts every file system but /proc, /sys and /dev read-only, in a private
# mount namespace (as `docker run --read-only` and readOnlyRootFilesystem do),
# then runs "$@".
IFS= read -r -d '' RO_WRAPPER <<'SH' || true
set -e
awk '{ print $5 }' /proc/self/mountinfo | while read -r mp; do
  case $mp in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) continue ;; esac
  mount -o remount,bind,ro "$mp" 2>/dev/null || true
done
if (: >/.recs-rw-probe) 2>/dev/null; then rm -f /.recs-rw-probe; echo "root file system still writable" >&2; exit 97; fi
exec "$@"
SH

runtime_stage() {
  local bin=$tmp/out/usr/local/bin/recs
  [[ -x $bin ]] || die "no binary (build stage failed)"
  local stage
  stage=$(pyhelp dockerfile deploy/Dockerfile)
  # ENTRYPOINT + CMD of the runtime stage, mapped into the installed tree.
  local -a argv envs
  mapfile -t argv < <("$PY" -c '
import json, sys
s = json.load(sys.stdin)[-1]
for a in (s["entrypoint"] or []) + (s["cmd"] or []):
    print(a)' <<<"$stage")
  [[ ${argv[0]} == /* && -x $tmp/out${argv[0]} ]] || die "ENTRYPOINT ${argv[0]} is not in the installed tree"
  argv[0]=$tmp/out${argv[0]}
  mapfile -t envs < <("$PY" -c '
import json, sys
s = json.load(sys.stdin)[-1]
for k, v in s["env"].items():
    print(f"{k}={v}")' <<<"$stage")
  local user
  user=$("$PY" -c 'import json,sys; print(json.load(sys.stdin)[-1]["user"])' <<<"$stage")

  scripts/pg.sh start "$tmp/pg" sql/100_demo_catalog.sql
  local DATABASE_URL port
  # shellcheck disable=SC1091
  DATABASE_URL=$(. "$tmp/pg/env" && echo "$DATABASE_URL")
  # below the ephemeral ports, where a client socket could hold it
  port=$(scripts/free-port.sh)
  # The container's environment: the image ENV, nothing from this shell.
  local -a run_env=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    HOSTNAME=recs-check "${envs[@]}" PORT="$port" DATABASE_URL="$DATABASE_URL")
  local -a as_user=() wrap=()
  if [[ $(id -u) == 0 ]]; then
    as_user=(setpriv --reuid="${user%%:*}" --regid="${user##*:}" --clear-groups --no-new-privs)
    if unshare --mount --propagation private true 2>/dev/null; then
      wrap=(unshare --mount --propagation private sh -c "$RO_WRAPPER" ro-root)
      echo "root file system: read-only (private mount namespace)"
    else
      echo "root file system: writable (unshare --mount not permitted here)"
    fi
    echo "user: $user (setpriv)"
  else
    echo "user: $(id -un) (not root: USER $user and the read-only root are not emulated)"
  fi
  (cd / && exec "${wrap[@]}" "${as_user[@]}" "${run_env[@]}" "${argv[@]}") \
    >"$tmp/recs.stdout" 2>"$tmp/recs.stderr" &
  local pid=$!
  echo "$pid" >"$tmp/recs.pid"
  local base=http://127.0.0.1:$port ok=0
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/recs.stderr"; die "recs exited at start"; }
    if [[ $(curl -s -o /dev/null -w '%{http_code}' "$base/healthz") == 200 ]]; then ok=1; break; fi
    sleep 0.1
  done
  ((ok)) || { cat "$tmp/recs.stderr"; die "/healthz not 200 within 10 s"; }
  # ready once the first snapshot is loaded, as a readiness probe waits
  ok=0
  for _ in $(seq 100); do
    if [[ $(curl -s -o /dev/null -w '%{http_code}' "$base/readyz") == 200 ]]; then ok=1; break; fi
    sleep 0.1
  done
  ((ok)) || { cat "$tmp/recs.stderr"; die "/readyz not 200 within 10 s"; }
  if [[ $(id -u) == 0 ]]; then
    local uid
    uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
    [[ $uid == "${user%%:*}" ]] || die "runs as uid $uid, expected ${user%%:*}"
  fi
  local code
  for path in /healthz /readyz '/products/aeroglide-running-shoes/recommendations?limit=3' /metrics; do
    code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$base$path")
    [[ $code == 200 ]] || die "GET $path: $code $(cat "$tmp/body")"
    echo "GET $path: 200"
  done
  grep -q '"slug":"womens-aeroglide-running-shoes"' <(curl -s "$base/products/aeroglide-running-shoes/recommendations?limit=3") ||
    die "unexpected recommendations"
  [[ $(curl -s "$base/metrics") == *"recs_build_info{version=\"$BUILD_VERSION\""* ]] ||
    die "/metrics does not carry the VERSION build argument ($BUILD_VERSION)"
  echo "recs_build_info version: $BUILD_VERSION"
  # The HEALTHCHECK command, as Docker runs it: in the container's
  # environment, as its user.
  local -a hc
  mapfile -d '' -t hc < <("$PY" -c '
import json, sys
for a in json.load(sys.stdin)[-1]["healthcheck"]["cmd"]:
    sys.stdout.write(a + "\0")' <<<"$stage")
  "${as_user[@]}" "${run_env[@]}" "${hc[@]}" || die "HEALTHCHECK command failed: ${hc[*]}"
  echo "HEALTHCHECK: exit 0"
  # STOPSIGNAL SIGTERM: drains and exits 0.
  kill -TERM "$pid"
  local status=0 t=0
  while kill -0 "$pid" 2>/dev/null && ((t < 150)); do sleep 0.1; t=$((t + 1)); done
  kill -0 "$pid" 2>/dev/null && die "still running 15 s after SIGTERM"
  wait "$pid" || status=$?
  rm -f "$tmp/recs.pid"
  [[ $status == 0 ]] || { cat "$tmp/recs.stderr"; die "exit status $status after SIGTERM"; }
  echo "SIGTERM: exit 0"
  if "${as_user[@]}" "${run_env[@]}" "${hc[@]}" >/dev/null 2>&1; then
    die "HEALTHCHECK command succeeds with the service stopped"
  fi
  echo "HEALTHCHECK with the service stopped: fails, as it should"
  # Logs: JSON lines only, on both streams.
  "$PY" - "$tmp/recs.stdout" "$tmp/recs.stderr" <<'PY'
import json, sys
for path in sys.argv[1:]:
    lines = open(path, encoding="utf-8").read().splitlines()
    assert lines, f"{path}: empty"
    for line in lines:
        json.loads(line)
print("logs: JSON lines")
PY
}
check "runtime stage on the host (ENTRYPOINT, ENV, USER, read-only root, PostgreSQL)" runtime_stage

# --- 4. YAML ----------------------------------------------------------------

yaml_lint() {
  command -v yamllint >/dev/null || die "yamllint not installed (apt-get install yamllint)"
  yamllint --strict -c .yamllint deploy/
  echo "$(find deploy -name '*.y*ml' | wc -l) files"
}
check "yamllint deploy/" yaml_lint
check "Kubernetes manifests (deploy/k8s)" pyhelp k8s deploy/k8s deploy/Dockerfile
check "compose file fields (deploy/docker-compose.yml)" pyhelp compose deploy/docker-compose.yml deploy/Dockerfile

prometheus_config() {
  command -v promtool >/dev/null || skip "promtool not installed (Debian package prometheus)"
  promtool check config deploy/prometheus.yml
}
check "promtool check config deploy/prometheus.yml" prometheus_config

# --- 5. alerting rules and dashboard ----------------------------------------

alert_rules() {
  command -v promtool >/dev/null || skip "promtool not installed (Debian package prometheus)"
  promtool check rules deploy/prometheus/alerts.yml
  promtool test rules deploy/prometheus/alerts.test.yml
}
check "promtool check rules, test rules (deploy/prometheus/alerts*.yml)" alert_rules
check "alert tests: every rule fires in one and stays quiet in another" \
  pyhelp alert-tests deploy/prometheus/alerts.yml deploy/prometheus/alerts.test.yml
check "Grafana dashboard deploy/grafana/recs.json (importable: panels, datasource, targets)" \
  pyhelp dashboard deploy/grafana/recs.json

# stop_job PID: SIGTERM to a background job of this shell, then reap it
# quietly (nothing to do for an empty PID).
stop_job() {
  [[ -n $1 ]] || return 0
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# build/recs (built if missing) on a throwaway PostgreSQL with the demo
# catalog in $tmp/$1, on a free port of 127.0.0.1: sets demo_url, demo_pid
# and demo_pgdir; the EXIT trap of the calling check's subshell stops both.
demo_service() {
  [[ -x build/recs ]] || make -s build/recs
  demo_pgdir=$tmp/$1 demo_pid=""
  trap 'stop_job "$demo_pid"; scripts/pg.sh destroy "$demo_pgdir" >/dev/null 2>&1 || true' EXIT
  scripts/pg.sh start "$demo_pgdir" sql/100_demo_catalog.sql
  local port ready=0
  port=$(scripts/free-port.sh) demo_url=http://127.0.0.1:$port
  # shellcheck disable=SC1091
  DATABASE_URL=$(. "$demo_pgdir/env" && echo "$DATABASE_URL") PORT=$port RECS_LISTEN_ADDRESS=127.0.0.1 \
    RECS_ACCESS_LOG=off OMP_WAIT_POLICY=passive build/recs >"$demo_pgdir.log" 2>&1 &
  demo_pid=$!
  for _ in $(seq 100); do
    kill -0 "$demo_pid" 2>/dev/null || { cat "$demo_pgdir.log"; die "build/recs exited at start"; }
    if [[ $(curl -s -o /dev/null -w '%{http_code}' "$demo_url/readyz") == 200 ]]; then ready=1; break; fi
    sleep 0.1
  done
  ((ready)) || { cat "$demo_pgdir.log"; die "/readyz not 200 within 10 s"; }
}

# demo_requests STATUS:PATH...: each request must get its status.
demo_requests() {
  local request code
  for request in "$@"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$demo_url${request#*:}")
    [[ $code == "${request%%:*}" ]] || die "GET ${request#*:}: $code, expected ${request%%:*}"
  done
}

# Every metric that a rule, a rule test or a panel names, with its labels,
# against a scrape of the real service, after requests that make each route
# and status the rules read show up. PromQL is parsed with Prometheus's own
# grammar (npm package @prometheus-io/lezer-promql,
# tests/deploy/package-lock.json).
metric_names() {
  command -v node >/dev/null || die "node not installed: Node.js 20 or newer parses the PromQL"
  if [[ ! -f tests/deploy/node_modules/.package-lock.json ||
    tests/deploy/package-lock.json -nt tests/deploy/node_modules/.package-lock.json ]]; then
    npm ci --prefix tests/deploy --no-audit --no-fund --loglevel=error >/dev/null
  fi
  demo_service pg-metrics
  demo_requests '200:/products/aeroglide-running-shoes/recommendations?limit=3' \
    '404:/products/no-such-thing/recommendations' 200:/healthz 200:/readyz 200:/metrics
  curl -sf "$demo_url/metrics" >"$tmp/scrape.txt" || die "GET /metrics failed"
  if command -v promtool >/dev/null; then
    promtool check metrics <"$tmp/scrape.txt" || die "promtool check metrics: the scrape does not pass"
  fi
  pyhelp promql-inputs deploy/prometheus/alerts.yml deploy/prometheus/alerts.test.yml \
    deploy/grafana/recs.json >"$tmp/promql.json"
  node tests/deploy/promql-selectors.mjs <"$tmp/promql.json" >"$tmp/promql-parsed.json"
  pyhelp metric-names "$tmp/scrape.txt" "$tmp/promql-parsed.json"
}
check "metric names in alerts and dashboard against a scrape of build/recs" metric_names

# The real Prometheus with deploy/prometheus.yml (its rule_files, scraping
# build/recs instead of recs:8080, every second instead of every 15): every
# rule evaluates without error, every panel and variable query of the
# dashboard answers with data, and stopping PostgreSQL makes
# RecsDatabaseUnavailable pending.
prometheus_live() {
  command -v prometheus >/dev/null || skip "prometheus not installed (Debian package prometheus)"
  demo_service pg-prometheus
  local pport purl
  pport=$(scripts/free-port.sh) purl=http://127.0.0.1:$pport
  pyhelp prometheus-local deploy/prometheus.yml "${demo_url#http://}" >"$tmp/prometheus.yml"
  prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prometheus-data" \
    --web.listen-address="127.0.0.1:$pport" --log.level=warn >"$tmp/prometheus.log" 2>&1 &
  prometheus_pid=$!
  trap 'stop_job "$prometheus_pid"; stop_job "$demo_pid"
    scripts/pg.sh destroy "$demo_pgdir" >/dev/null 2>&1 || true' EXIT
  # Traffic over a few scrapes, then an outage: requests and readiness
  # checks fail and recs_db_up turns 0, so every panel has a series to show.
  for _ in $(seq 6); do
    demo_requests '200:/products/aeroglide-running-shoes/recommendations?limit=3' \
      '404:/products/no-such-thing/recommendations' 200:/readyz
    sleep 0.5
  done
  scripts/pg.sh stop "$demo_pgdir" immediate
  for _ in $(seq 6); do
    demo_requests '503:/products/aeroglide-running-shoes/recommendations?limit=3' 503:/readyz
    sleep 0.5
  done
  pyhelp prometheus-live "$purl" deploy/prometheus/alerts.yml deploy/grafana/recs.json \
    RecsDatabaseUnavailable || { tail -n 20 "$tmp/prometheus.log"; exit 1; }
}
check "Prometheus with deploy/prometheus.yml on build/recs: rules, panel queries, an outage" prometheus_live

# --- 6. docker compose config -----------------------------------------------

compose_config() {
  command -v docker >/dev/null || skip "no docker CLI"
  docker compose version >/dev/null 2>&1 || skip "the docker CLI has no compose plugin"
  docker compose -f deploy/docker-compose.yml config -q
  docker compose -f deploy/docker-compose.yml --profile metrics config -q
}
check "docker compose config" compose_config

# --- 7. systemd -------------------------------------------------------------

systemd_unit() {
  command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed"
  local unit=deploy/systemd/recs.service key
  for key in DynamicUser=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes \
    NoNewPrivileges=yes 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' MemoryDenyWriteExecute=yes \
    SystemCallFilter=@system-service CapabilityBoundingSet= LockPersonality=yes RestrictNamespaces=yes \
    ProtectKernelTunables=yes ProtectKernelModules=yes ProtectKernelLogs=yes \
    EnvironmentFile=-/etc/recs/recs.env ExecStart=/usr/local/bin/recs Restart=on-failure \
    KillSignal=SIGTERM TimeoutStopSec=20; do
    grep -qxF "$key" "$unit" || die "$unit: no line $key"
  done
  grep -Eq '^Environment=.*OMP_WAIT_POLICY=passive' "$unit" || die "$unit: OMP_WAIT_POLICY=passive not set"
  # verify needs ExecStart to exist: point it at the binary built above.
  local bin=$tmp/out/usr/local/bin/recs out
  [[ -x $bin ]] || bin=$(command -v true)
  mkdir -p "$tmp/systemd"
  sed "s#^ExecStart=/usr/local/bin/recs#ExecStart=$bin#" "$unit" >"$tmp/systemd/recs.service"
  out=$(systemd-analyze verify "$tmp/systemd/recs.service" 2>&1) || die "systemd-analyze verify: $out"
  [[ -z $out ]] || die "systemd-analyze verify: $out"
  echo "systemd-analyze verify: clean"
  if [[ $(systemd-analyze security --help 2>/dev/null) == *--offline* ]]; then
    out=$(systemd-analyze security --offline=yes --threshold=20 "$tmp/systemd/recs.service" 2>&1) ||
      die "systemd-analyze security: exposure above 2.0: $(tail -n 1 <<<"$out")"
    tail -n 1 <<<"$out"
  fi
}
check "systemd unit (systemd-analyze verify, security)" systemd_unit

echo "deploy: $passed passed, $failed failed$( ((skipped)) && echo ", $skipped skipped")"
((failed == 0))
