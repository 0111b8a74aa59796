#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`cpack -G DEB` of this build: lamd, liblamclient0 and liblamclient-dev.

  deb_test.py BUILD WORK SRC MODEL SENTENCES BUILD_LAMCTL MKMODEL CC

Builds the packages, checks their control data (dependencies, shlibs, conffiles, maintainer
scripts), unpacks them with dpkg -x into a throwaway root and runs the packaged lamd, lamctl
and liblamclient from there: the packaged lamctl's embeddings equal those of the build tree's
lamctl, and a C program compiled against the packaged headers and pkg-config file prints the
same bytes. The packaged sysusers.d/tmpfiles.d files are applied to a scratch root
(systemd-sysusers/systemd-tmpfiles --root) and lintian must report no error, where installed.
Exit 77 (skip) without dpkg-deb.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time


def run(cmd, **kw):
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def out(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def main(build, work, src, model, sentences, build_lamctl, mkmodel, cc):
    if not shutil.which("dpkg-deb") or not shutil.which("cpack"):
        print("dpkg-deb or cpack is not installed: skipped")
        return 77
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    debs = os.path.join(work, "debs")
    run(["cpack", "-G", "DEB", "-B", debs, "--config", os.path.join(build, "CPackConfig.cmake")], stdout=subprocess.DEVNULL)
    version = re.search(r'CPACK_PACKAGE_VERSION "([^"]+)"', open(os.path.join(build, "CPackConfig.cmake")).read()).group(1)
    files = {}
    for name in ("lamd", "liblamclient0", "liblamclient-dev"):
        path = os.path.join(debs, f"{name}_{version}-1_amd64.deb")
        assert os.path.exists(path), f"{path} not built: {os.listdir(debs)}"
        files[name] = path

    # Control data.
    def field(pkg, name):
        return out(["dpkg-deb", "-f", files[pkg], name]).strip()

    full = f"{version}-1"
    lamd_deps = field("lamd", "Depends")
    assert f"liblamclient0 (= {full})" in lamd_deps and "libdnnl" in lamd_deps and "libtbb" in lamd_deps, lamd_deps
    assert field("liblamclient-dev", "Depends") == f"liblamclient0 (= {full})"
    assert field("liblamclient0", "Depends").startswith("libc6"), field("liblamclient0", "Depends")
    ctl = os.path.join(work, "control")
    os.makedirs(ctl)
    for pkg in files:
        run(["dpkg-deb", "-e", files[pkg], os.path.join(ctl, pkg)])
    assert open(os.path.join(ctl, "liblamclient0/shlibs")).read().strip() == f"liblamclient 0 liblamclient0 (>= {full})"
    assert "activate-noawait ldconfig" in open(os.path.join(ctl, "liblamclient0/triggers")).read()
    assert open(os.path.join(ctl, "lamd/conffiles")).read().split() == ["/etc/lamd/lamd.conf"]
    postinst = open(os.path.join(ctl, "lamd/postinst")).read()
    assert "systemd-sysusers lamd.conf" in postinst and "systemd-tmpfiles --create lamd.conf" in postinst
    for script in ("postinst", "prerm", "postrm"):
        assert os.access(os.path.join(ctl, "lamd", script), os.X_OK), script
        run(["sh", "-n", os.path.join(ctl, "lamd", script)])

    # Unpacked into a throwaway root.
    root = os.path.join(work, "root")
    for pkg in files.values():
        run(["dpkg-deb", "-x", pkg, root])
    usr = os.path.join(root, "usr")
    lamctl, lamd_bin = os.path.join(usr, "bin/lamctl"), os.path.join(usr, "sbin/lamd")
    assert "RUNPATH" not in out(["readelf", "-d", lamctl]) and "RPATH" not in out(["readelf", "-d", lamctl]), \
        "the packaged lamctl carries a RUNPATH"
    unit = open(os.path.join(usr, "lib/systemd/system/lamd.service")).read()
    assert "ExecStart=/usr/sbin/lamd --config /etc/lamd/lamd.conf" in unit
    for path in ("etc/lamd/lamd.conf", "usr/lib/systemd/system/lamd@.service", "usr/share/man/man8/lamd.8.gz",
                 "usr/share/doc/lamd/copyright", "usr/share/doc/liblamclient0/changelog.Debian.gz",
                 "usr/include/lam/lam_version.h", "usr/lib/cmake/lam/lamConfig.cmake"):
        assert os.path.exists(os.path.join(root, path)), path
    # lamctl's engine module: private (no SONAME needed), no RUNPATH, next to nothing public.
    engine = os.path.join(usr, "lib/lamd/liblamctl_engine.so")
    assert os.path.exists(engine), "the lamd package lacks lamctl's engine module"
    assert "RUNPATH" not in out(["readelf", "-d", engine]), "the packaged engine module carries a RUNPATH"
    env = {k: v for k, v in os.environ.items() if k not in ("LAMD_SOCKET",)}
    env["LD_LIBRARY_PATH"] = os.path.join(usr, "lib")  # the root is not /: point the loader at it
    ldd = out(["ldd", lamctl], env=env)
    assert os.path.join(usr, "lib/liblamclient.so.0") in ldd, ldd

    # The packaged C development files: compile against them (sysroot-relative pkg-config).
    exe = os.path.join(work, "embed_text")
    pc_env = dict(env, PKG_CONFIG_SYSROOT_DIR=root, PKG_CONFIG_LIBDIR=os.path.join(usr, "lib/pkgconfig"))
    flags = out(["pkg-config", "--cflags", "--libs", "lamclient"], env=pc_env).split()
    assert f"-I{usr}/include" in flags, flags
    run([cc, "-std=c99", "-Wall", "-Werror", os.path.join(src, "tests/install/embed_text.c"), "-o", exe, *flags], env=env)

    # The packaged lamd, lamctl and library at work.
    if not os.path.exists(os.path.join(model, "config.json")):
        model = os.path.join(work, "bert-model")
        run([mkmodel, "--variant", "bert", "--seed", "1", "--layers", "2", "--out", model], stdout=subprocess.DEVNULL)
    sock = os.path.join(work, "lamd.sock")
    with open(os.path.join(work, "lamd.log"), "wb") as log:
        lamd = subprocess.Popen([lamd_bin, "--model", model, "--socket", sock, "--backend", "cpu", "--cache-dir", "none",
                                 "--buckets", "16,32,64,128", "--threads", "2", "--log-level", "warning"],
                                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while subprocess.run([lamctl, "ping", "--socket", sock, "-c", "1"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL).returncode != 0:
            assert lamd.poll() is None and time.monotonic() < deadline, "the packaged lamd did not come up"
            time.sleep(0.05)
        data = open(sentences, "rb").read()
        packaged = subprocess.run([lamctl, "embed", "--text", "--socket", sock], input=data, env=env,
                                  capture_output=True, check=True).stdout
        built = subprocess.run([build_lamctl, "embed", "--text", "--socket", sock], input=data,
                               capture_output=True, check=True).stdout
        assert packaged == built and packaged.count(b"[") == data.count(b"\n"), "packaged lamctl differs from the build's"
        local = subprocess.run([lamctl, "embed", "--text", "--model", model], input=data, env=env,
                               capture_output=True, check=True).stdout
        assert local == packaged, "the packaged lamctl's in-process embeddings (engine module) differ from lamd's"
        from_c = subprocess.run([exe, sock], input=data, env=env, capture_output=True, check=True).stdout
        assert from_c == packaged, "the C program built from liblamclient-dev differs from lamctl"
        print(f"packaged lamd/lamctl/liblamclient: {packaged.count(b'[')} embeddings identical")
    finally:
        lamd.send_signal(signal.SIGTERM)
        rc = lamd.wait(timeout=60)
    assert rc == 0, f"the packaged lamd exited with {rc}"

    # The maintainer scripts' sysusers.d and tmpfiles.d configuration, applied to a scratch root.
    if shutil.which("systemd-sysusers") and shutil.which("systemd-tmpfiles"):
        scratch = os.path.join(work, "scratch-root")
        os.makedirs(os.path.join(scratch, "etc"))
        run(["systemd-sysusers", f"--root={scratch}", os.path.join(usr, "lib/sysusers.d/lamd.conf")])
        passwd = open(os.path.join(scratch, "etc/passwd")).read()
        group = open(os.path.join(scratch, "etc/group")).read()
        assert re.search(r"^lam:x:\d+:\d+:LAM embedding daemon:/var/cache/lamd:/usr/sbin/nologin$", passwd, re.M), passwd
        assert re.search(r"^lam:x:\d+:", group, re.M), group
        run(["systemd-tmpfiles", f"--root={scratch}", "--create", os.path.join(usr, "lib/tmpfiles.d/lamd.conf")])
        for d in ("run/lamd", "var/cache/lamd", "var/lib/lamd"):
            mode = os.stat(os.path.join(scratch, d)).st_mode & 0o7777
            assert mode == 0o750, f"{d}: mode {oct(mode)}"
    else:
        print("systemd-sysusers/systemd-tmpfiles not installed: sysusers.d and tmpfiles.d not applied")

    if shutil.which("lintian"):
        r = subprocess.run(["lintian", "--fail-on", "error", *files.values()], capture_output=True, text=True)
        print(r.stdout, r.stderr)
        assert r.returncode == 0, "lintian reports errors"
    else:
        print("lintian not installed: not run")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 9:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
