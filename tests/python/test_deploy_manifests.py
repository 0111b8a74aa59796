#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""deploy/kubernetes/lamd-daemonset.yaml: the documents agree with each other and with lamd.

Parsed with PyYAML (python3-yaml). Checks that the DaemonSet's selector matches its template,
every volumeMount names a volume, the probes, the client and the config use the same socket,
the containers are unprivileged (non-root, no capabilities, read-only root, no privilege
escalation; only the init container chowns), the client's uid is allowed and its groups give it
the socket's group; then lamd is started with the ConfigMap's lamd.conf itself (model, socket
and cache overridden by flags) and must answer, so that every key in it is one lamd accepts.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import yaml

SRC = os.environ.get("LAM_SOURCE_DIR", ".")
BIN = os.environ.get("LAM_BIN_DIR", "build/bin")


def conf_value(conf, key):
    m = re.search(rf"^{key}\s*=\s*(\S+)", conf, re.M)
    assert m, f"lamd.conf has no {key}"
    return m.group(1)


def check_pod_spec(spec, kind):
    volumes = {v["name"] for v in spec.get("volumes", [])}
    assert spec.get("automountServiceAccountToken") is False, kind
    psc = spec["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["seccompProfile"]["type"] == "RuntimeDefault", kind
    for c in spec.get("initContainers", []) + spec["containers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True, c["name"]
        assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
        for m in c.get("volumeMounts", []):
            assert m["name"] in volumes, f"{kind}/{c['name']}: mount of unknown volume {m['name']}"
    for c in spec["containers"]:  # only an init container may be root, with CHOWN/FOWNER alone
        assert "runAsUser" not in c["securityContext"] or c["securityContext"]["runAsUser"] != 0, c["name"]
        assert "add" not in c["securityContext"]["capabilities"], c["name"]
    for c in spec.get("initContainers", []):
        assert set(c["securityContext"]["capabilities"].get("add", [])) <= {"CHOWN", "FOWNER"}, c["name"]
    return psc


def main():
    docs = list(yaml.safe_load_all(open(os.path.join(SRC, "deploy/kubernetes/lamd-daemonset.yaml"))))
    by_kind = {d["kind"]: d for d in docs}
    assert sorted(by_kind) == ["ConfigMap", "DaemonSet", "Pod"], sorted(by_kind)
    cm, ds, pod = by_kind["ConfigMap"], by_kind["DaemonSet"], by_kind["Pod"]
    assert ds["apiVersion"] == "apps/v1" and cm["apiVersion"] == "v1" and pod["apiVersion"] == "v1"
    conf = cm["data"]["lamd.conf"]
    socket = conf_value(conf, "socket")

    tmpl = ds["spec"]["template"]
    labels = tmpl["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in ds["spec"]["selector"]["matchLabels"].items()), "selector"
    spec = tmpl["spec"]
    lamd_sc = check_pod_spec(spec, "DaemonSet")
    (lamd,) = spec["containers"]
    assert lamd["command"][:3] == ["/usr/sbin/lamd", "--config", "/etc/lamd/lamd.conf"], lamd["command"]
    mounts = {m["mountPath"]: m for m in lamd["volumeMounts"]}
    vols = {v["name"]: v for v in spec["volumes"]}
    assert vols[mounts["/etc/lamd"]["name"]]["configMap"]["name"] == cm["metadata"]["name"]
    assert mounts[os.path.dirname(socket)]["name"] in vols, "the socket's directory is not a volume"
    assert conf_value(conf, "model").startswith("/var/lib/lamd") and mounts["/var/lib/lamd"]["readOnly"] is True
    assert conf_value(conf, "cache_dir") in mounts
    assert lamd["resources"]["limits"]["nvidia.com/gpu"] == 1
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        cmd = lamd[probe]["exec"]["command"]
        assert cmd[:2] == ["/usr/bin/lamctl", "ping"] and cmd[cmd.index("--socket") + 1] == socket, probe
        # Liveness must not fail during a long warm-up; startup and readiness wait for it.
        assert ("--live" in cmd) == (probe == "livenessProbe"), probe
    # SIGTERM drains within shutdown_timeout_ms: it must fit in the grace period.
    assert int(conf_value(conf, "shutdown_timeout_ms")) < 1000 * spec["terminationGracePeriodSeconds"]
    host_run = vols[mounts[os.path.dirname(socket)]["name"]]["hostPath"]["path"]

    # The client reaches the same socket with a uid lamd allows and the socket's group.
    psc = check_pod_spec(pod["spec"], "Pod")
    (client,) = pod["spec"]["containers"]
    env = {e["name"]: e["value"] for e in client["env"]}
    assert env["LAMD_SOCKET"] == socket
    cvols = {v["name"]: v for v in pod["spec"]["volumes"]}
    cmounts = {m["mountPath"]: m for m in client["volumeMounts"]}
    assert cvols[cmounts[os.path.dirname(socket)]["name"]]["hostPath"]["path"] == host_run
    allowed = [int(u) for u in conf_value(conf, "allow_uids").split(",")]
    assert psc["runAsUser"] in allowed, (psc["runAsUser"], allowed)
    assert lamd_sc["runAsGroup"] in psc["supplementalGroups"] and conf_value(conf, "socket_mode") == "0660"

    # lamd accepts the ConfigMap's lamd.conf as it is.
    with tempfile.TemporaryDirectory(prefix="lam-deploy-") as work:
        path = os.path.join(work, "lamd.conf")
        open(path, "w").write(conf)
        model = os.path.join(work, "model")
        subprocess.run([os.path.join(BIN, "lam-mkmodel"), "--variant", "bert", "--seed", "1", "--layers", "1",
                        "--vocab-size", "1000", "--out", model], check=True, stdout=subprocess.DEVNULL)
        sock = os.path.join(work, "lamd.sock")
        log = open(os.path.join(work, "lamd.log"), "w+")
        proc = subprocess.Popen([os.path.join(BIN, "lamd"), "--config", path, "--model", model, "--socket", sock,
                                 "--cache-dir", "none", "--backend", "cpu", "--buckets", "16", "--threads", "1"],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while subprocess.run([os.path.join(BIN, "lamctl"), "ping", "--socket", sock, "-c", "1"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    sys.exit(f"lamd did not start with the ConfigMap's lamd.conf:\n{log.read()}")
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=60)
        assert rc == 0, rc
    print("deploy/kubernetes/lamd-daemonset.yaml: consistent, and lamd accepts its lamd.conf")


if __name__ == "__main__":
    main()
