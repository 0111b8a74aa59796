#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`cmake --install` into a throwaway prefix, and what an installed lamd is used for.

  install_test.py tree BUILD PREFIX          install components daemon, runtime, dev; check layout
  install_test.py consumers PREFIX WORK SRC MODEL SENTENCES CMAKE CC
                                             build embed_text.c through pkg-config and through
                                             find_package(lam); run them and the installed lamctl
                                             against the installed lamd; outputs identical
  install_test.py systemd PREFIX             systemd-analyze verify + security on the units
  install_test.py client_only WORK SRC CMAKE CC CXX
                                             configure and build with -DLAM_BUILD_DAEMON=OFF: no
                                             daemon dependency is looked for; installs the client only
Exit 77: a tool the step needs is missing (skip).
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

SKIP = 77


def run(cmd, **kw):
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def clean_env(**extra):
    """The environment without the build tree's library path: installed files must find their own."""
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "LAMD_SOCKET", "PKG_CONFIG_PATH")}
    env.update(extra)
    return env


def tree(build, prefix):
    shutil.rmtree(prefix, ignore_errors=True)
    for component in ("daemon", "runtime", "dev"):
        run(["cmake", "--install", build, "--prefix", prefix, "--component", component], stdout=subprocess.DEVNULL)
    expected = [
        "sbin/lamd", "bin/lamctl", "lib/lamd/liblamctl_engine.so",
        "lib/liblamclient.so", "lib/liblamclient.so.0", "lib/liblamclient.so.0.1.0",
        "include/lam/lam.h", "include/lam/lam_status.h", "include/lam/lam_version.h", "include/lam/lam.hpp",
        "lib/pkgconfig/lamclient.pc",
        "lib/cmake/lam/lamConfig.cmake", "lib/cmake/lam/lamConfigVersion.cmake", "lib/cmake/lam/lamTargets.cmake",
        "lib/systemd/system/lamd.service", "lib/systemd/system/lamd@.service",
        "lib/sysusers.d/lamd.conf", "lib/tmpfiles.d/lamd.conf", "etc/lamd/lamd.conf",
        "share/man/man8/lamd.8.gz", "share/man/man1/lamctl.1.gz", "share/man/man5/lamd.conf.5.gz",
        "share/bash-completion/completions/lamctl", "share/bash-completion/completions/lamd",
    ]
    missing = [p for p in expected if not os.path.exists(os.path.join(prefix, p))]
    assert not missing, f"not installed: {missing}"
    assert os.readlink(os.path.join(prefix, "lib/liblamclient.so")) == "liblamclient.so.0"
    assert os.readlink(os.path.join(prefix, "lib/liblamclient.so.0")) == "liblamclient.so.0.1.0"
    # Everything the build wrote goes under the prefix, and the units name the installed lamd.
    unit = open(os.path.join(prefix, "lib/systemd/system/lamd.service")).read()
    assert f"ExecStart={prefix}/sbin/lamd --config {prefix}/etc/lamd/lamd.conf" in unit, unit
    pc = open(os.path.join(prefix, "lib/pkgconfig/lamclient.pc")).read()
    assert f"prefix={prefix}\n" in pc, pc
    # The installed lamctl starts with nothing but its RUNPATH, and loads the installed library.
    lamctl = os.path.join(prefix, "bin/lamctl")
    out = subprocess.run(["ldd", lamctl], env=clean_env(), capture_output=True, text=True, check=True).stdout
    lib_line = [line for line in out.splitlines() if "liblamclient.so.0" in line]
    assert lib_line and os.path.realpath(os.path.join(prefix, "lib")) in os.path.realpath(lib_line[0].split("=>")[1].split()[0]), out
    run([lamctl, "--help"], env=clean_env(), stdout=subprocess.DEVNULL)
    # Man pages render without warnings.
    if shutil.which("man"):
        for page in ("man8/lamd.8.gz", "man1/lamctl.1.gz", "man5/lamd.conf.5.gz"):
            r = subprocess.run(["man", "--warnings", "-l", os.path.join(prefix, "share/man", page)],
                               capture_output=True, text=True, env=clean_env(MANWIDTH="80", LC_ALL="C.UTF-8"))
            assert r.returncode == 0 and r.stderr.strip() == "" and "SYNOPSIS" in r.stdout, (page, r.stderr)
    # bash completion loads and completes lamctl's commands.
    comp = os.path.join(prefix, "share/bash-completion/completions/lamctl")
    r = subprocess.run(["bash", "-c", f'source "{comp}"; COMP_WORDS=(lamctl st); COMP_CWORD=1; _lamctl; echo "${{COMPREPLY[@]}}"'],
                       capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["status"], r.stdout
    print(f"installed tree complete under {prefix}")


class Lamd:
    def __init__(self, prefix, model, sock, log):
        self.sock = sock
        self.proc = subprocess.Popen([os.path.join(prefix, "sbin/lamd"), "--model", model, "--socket", sock,
                                      "--backend", "cpu", "--cache-dir", "none", "--buckets", "16,32,64,128",
                                      "--threads", "2", "--log-level", "warning"],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=clean_env())
        lamctl = os.path.join(prefix, "bin/lamctl")
        deadline = time.monotonic() + 120
        while subprocess.run([lamctl, "ping", "--socket", sock, "-c", "1"], env=clean_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
            assert self.proc.poll() is None, f"installed lamd exited with {self.proc.returncode}"
            assert time.monotonic() < deadline, "installed lamd did not answer within 120 s"
            time.sleep(0.05)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


def consumers(prefix, work, src, model, sentences, cmake, cc):
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    source = os.path.join(src, "tests/install/embed_text.c")
    programs = {}
    # 1. pkg-config (what cgo and build.rs use).
    if shutil.which("pkg-config"):
        env = clean_env(PKG_CONFIG_PATH=os.path.join(prefix, "lib/pkgconfig"))
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "lamclient"], env=env, capture_output=True,
                               text=True, check=True).stdout.split()
        assert subprocess.run(["pkg-config", "--modversion", "lamclient"], env=env, capture_output=True,
                              text=True).stdout.strip() == "0.1.0"
        exe = os.path.join(work, "embed_text_pkgconfig")
        run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", source, "-o", exe, *flags,
             f"-Wl,-rpath,{prefix}/lib"], env=env)
        programs["pkg-config"] = exe
    # 2. find_package(lam) in a downstream CMake project.
    bdir = os.path.join(work, "consumer-build")
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    run([cmake, "-S", os.path.join(src, "tests/install/consumer"), "-B", bdir, *gen, f"-DCMAKE_C_COMPILER={cc}",
         f"-DCMAKE_PREFIX_PATH={prefix}", f"-DEMBED_TEXT_SOURCE={source}", "-DCMAKE_BUILD_TYPE=Release"],
        env=clean_env(), stdout=subprocess.DEVNULL)
    run([cmake, "--build", bdir], env=clean_env(), stdout=subprocess.DEVNULL)
    cache = open(os.path.join(bdir, "CMakeCache.txt")).read()
    assert f"lam_DIR:PATH={prefix}/lib/cmake/lam" in cache, "find_package(lam) did not find the installed package"
    programs["find_package"] = os.path.join(bdir, "embed_text")

    # With no daemon, a clean failure.
    for how, exe in programs.items():
        r = subprocess.run([exe, os.path.join(work, "absent.sock")], env=clean_env(), input=b"x\n", capture_output=True)
        assert r.returncode == 1 and b"daemon unavailable" in r.stderr, (how, r.returncode, r.stderr)

    if not os.path.exists(os.path.join(model, "config.json")):
        model = os.path.join(work, "bert-model")
        mkmodel = os.environ["LAM_MKMODEL"]
        run([mkmodel, "--variant", "bert", "--seed", "1", "--layers", "2", "--out", model], stdout=subprocess.DEVNULL)
    with open(os.path.join(work, "lamd.log"), "wb") as log:
        lamd = Lamd(prefix, model, os.path.join(work, "lamd.sock"), log)
        try:
            data = open(sentences, "rb").read()
            want = subprocess.run([os.path.join(prefix, "bin/lamctl"), "embed", "--text", "--socket", lamd.sock],
                                  input=data, capture_output=True, env=clean_env(), check=True).stdout
            assert want.count(b"[") == data.count(b"\n") and want.startswith(b"["), want[:200]
            # The in-process engine, from the installed engine module: the same bytes.
            local = subprocess.run([os.path.join(prefix, "bin/lamctl"), "embed", "--text", "--model", model],
                                   input=data, capture_output=True, env=clean_env(), check=True).stdout
            assert local == want, "the installed lamctl's in-process embeddings differ from lamd's"
            for how, exe in programs.items():
                got = subprocess.run([exe, lamd.sock], input=data, capture_output=True, env=clean_env(), check=True).stdout
                assert got == want, f"{how}: the C program's embeddings differ from the installed lamctl's"
                print(f"{how}: {want.count(b'[')} embeddings identical to lamctl embed --text")
        finally:
            rc = lamd.stop()
    assert rc == 0, f"installed lamd exited with {rc} after SIGTERM"


def systemd(prefix):
    if not shutil.which("systemd-analyze"):
        print("systemd-analyze is not installed: skipped")
        return SKIP
    units = os.path.join(prefix, "lib/systemd/system")
    env = clean_env(MANPATH=os.path.join(prefix, "share/man"))
    # Documentation=man:lamd(8) is checked with man(1) where it is installed.
    man = [] if shutil.which("man") else ["--man=no"]
    # verify: syntax, ExecStart present and executable, Documentation=man: pages found.
    for unit in ("lamd.service", "lamd@.service"):
        r = subprocess.run(["systemd-analyze", "verify", *man, os.path.join(units, unit)], env=env, capture_output=True, text=True)
        assert r.returncode == 0 and r.stderr.strip() == "", (unit, r.returncode, r.stderr)
    # An instance of the template, as systemd would load lamd@0.service.
    inst = os.path.join(os.path.dirname(prefix), "lamd@0.service")
    shutil.copy(os.path.join(units, "lamd@.service"), inst)
    r = subprocess.run(["systemd-analyze", "verify", *man, inst], env=env, capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr.strip() == "", ("lamd@0.service", r.stderr)
    for path in (os.path.join(units, "lamd.service"), inst):
        r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", path], env=env,
                           capture_output=True, text=True)
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
        assert m, r.stdout + r.stderr
        print(f"{os.path.basename(path)}: exposure {m.group(1)}")
        assert float(m.group(1)) <= 2.5, f"{path}: exposure {m.group(1)} > 2.5\n{r.stdout}"
    return 0


# Debian packages a client-only build may take headers from: libc, the kernel's UAPI headers and
# the compilers' own (libstdc++, libgcc, clang's builtin headers).
TOOLCHAIN_PACKAGES = re.compile(r"^(libc6-dev|linux-libc-dev|libstdc\+\+-\d+-dev|libgcc-\d+-dev|gcc-\d+|g\+\+-\d+|"
                                r"cpp-\d+|libclang-common-\d+-dev|libc\+\+-\d+-dev|libc\+\+abi-\d+-dev)(:\w+)?$")


def check_toolchain_headers_only(bdir, src):
    """Every header the client-only build read (ninja's depfile record) is one of these sources,
    the build tree's generated ones, or the toolchain's: with dpkg, each outside file belongs to a
    libc/kernel/compiler package; without it, at least none is Boost's or another library's."""
    deps = subprocess.run(["ninja", "-C", bdir, "-t", "deps"], check=True, stdout=subprocess.PIPE, text=True).stdout
    roots = [os.path.realpath(src) + os.sep, os.path.realpath(bdir) + os.sep]
    outside = set()
    for line in deps.splitlines():
        if not line.startswith(" ") or not line.strip():
            continue
        path = os.path.realpath(os.path.join(bdir, line.strip()))
        if not any(path.startswith(r) for r in roots):
            outside.add(path)
    assert outside, "ninja recorded no system headers: the check would see nothing"
    assert not [p for p in outside if "/boost/" in p], "the client-only build read Boost headers"
    if shutil.which("dpkg-query"):
        owners = {}
        for path in sorted(outside):
            out = subprocess.run(["dpkg-query", "-S", path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            if out.returncode != 0:
                # dpkg records the path it shipped, which may differ from realpath (usrmerge links).
                alt = path.replace("/usr/lib/", "/lib/", 1) if path.startswith("/usr/lib/") else path
                out = subprocess.run(["dpkg-query", "-S", alt], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            pkgs = [p.strip() for p in out.stdout.split(":", 1)[0].split(",")] if out.returncode == 0 else ["(no package)"]
            owners[path] = pkgs
        foreign = {p: o for p, o in owners.items() if not any(TOOLCHAIN_PACKAGES.match(x) for x in o)}
        assert not foreign, f"the client-only build read headers from outside the toolchain: {foreign}"
    print(f"client-only build: {len(outside)} headers from outside the sources, all the toolchain's")


def client_only(work, src, cmake, cc, cxx):
    shutil.rmtree(work, ignore_errors=True)
    bdir, prefix = os.path.join(work, "build"), os.path.join(work, "prefix")
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    run([cmake, "-S", src, "-B", bdir, *gen, "-DLAM_BUILD_DAEMON=OFF", "-DCMAKE_BUILD_TYPE=Release",
         "-DLAM_FATAL_WARNINGS=ON", f"-DCMAKE_C_COMPILER={cc}", f"-DCMAKE_CXX_COMPILER={cxx}"], stdout=subprocess.DEVNULL)
    cache = open(os.path.join(bdir, "CMakeCache.txt")).read()
    looked_for = [dep for dep in ("TBB_DIR", "spdlog_DIR", "nlohmann_json_DIR", "LAM_DNNL_LIBRARY", "LIBUV_", "LIBICU_",
                                  "LIBSYSTEMD_", "LIBXXHASH_", "CMAKE_CUDA_COMPILER", "GTest_DIR", "Boost_")
                  if re.search(rf"^{dep}", cache, re.M)]
    assert not looked_for, f"a client-only configure looked for daemon dependencies: {looked_for}"
    run([cmake, "--build", bdir], stdout=subprocess.DEVNULL)
    if gen:
        check_toolchain_headers_only(bdir, src)
    for component in ("runtime", "dev"):
        run([cmake, "--install", bdir, "--prefix", prefix, "--component", component], stdout=subprocess.DEVNULL)
    for path in ("lib/liblamclient.so.0", "include/lam/lam.h", "include/lam/lam_version.h", "lib/pkgconfig/lamclient.pc",
                 "lib/cmake/lam/lamConfig.cmake"):
        assert os.path.exists(os.path.join(prefix, path)), path
    assert not os.path.exists(os.path.join(bdir, "bin", "lamd")), "lamd was built"
    print("client-only build: liblamclient and its development files, no daemon dependency")


if __name__ == "__main__":
    step, args = sys.argv[1], sys.argv[2:]
    if step == "tree" and len(args) == 2:
        tree(*args)
    elif step == "consumers" and len(args) == 7:
        consumers(*args)
    elif step == "client_only" and len(args) == 5:
        client_only(*args)
    elif step == "systemd" and len(args) == 1:
        sys.exit(systemd(*args))
    else:
        sys.exit(__doc__)
