//! Release builds of the `latchkey` binary place the functions that run at start-up
//! next to each other (link/startup.order, made by link/regenerate): the kernel maps
//! code 64 KB around every page a program touches, and start-up code is otherwise
//! spread over all 15 MB of `.text`, so an idle server kept far more code resident
//! than it ran.
//!
//! The ordering is an LLD option; LLD (Rust's own `rust-lld`) links by default on
//! x86_64 Linux since Rust 1.90, so that is where it is used. Set
//! `LATCHKEY_LINK_ORDER=0` to link without it (to measure what it does, or when a
//! different linker is configured).

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link/startup.order");
    println!("cargo:rerun-if-env-changed=LATCHKEY_LINK_ORDER");
    // `sqlx::migrate!` embeds the migrations it finds when it is compiled; a migration
    // added later must rebuild the crate (sqlx's documented build-script line).
    println!("cargo:rerun-if-changed=migrations");
    let env = |name: &str| std::env::var(name).unwrap_or_default();
    let release = env("PROFILE") == "release";
    let lld_by_default = env("TARGET") == "x86_64-unknown-linux-gnu";
    let wanted = env("LATCHKEY_LINK_ORDER") != "0";
    // The checkout being built, read when the script runs: `env!` would keep the one
    // it was compiled in, and a target directory shared by several checkouts (bench/
    // and CI share theirs) then linked without the order once that one was deleted.
    let order = Path::new(&env("CARGO_MANIFEST_DIR")).join("link/startup.order");
    if release && lld_by_default && wanted && order.exists() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        // Names from an older build that no longer exist are fine: skip them quietly.
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}
