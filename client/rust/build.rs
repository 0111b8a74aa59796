// SPDX-License-Identifier: MIT
// Links liblamclient: LAM_LIB_DIR if set, else the directory pkg-config gives for lamclient
// (liblamclient-dev or `cmake --install`), else the linker's default path.
use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=LAM_LIB_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    if let Ok(dir) = env::var("LAM_LIB_DIR") {
        println!("cargo:rustc-link-search=native={}", dir);
    } else if let Ok(out) = Command::new("pkg-config").args(["--libs-only-L", "lamclient"]).output() {
        if out.status.success() {
            for flag in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Some(dir) = flag.strip_prefix("-L") {
                    println!("cargo:rustc-link-search=native={}", dir);
                }
            }
        }
    }
    println!("cargo:rustc-link-lib=dylib=lamclient");
}
