//! The minimum Rust version declared in Cargo.toml is one the locked dependencies accept: no
//! dependency built on Linux declares a newer `rust-version` than ours.

use std::process::Command;

/// "1.89" and "1.89.0" are the same version.
fn version(v: &str) -> Vec<u32> {
    let mut parts: Vec<u32> = v.split('.').map(|p| p.parse().unwrap_or(0)).collect();
    parts.resize(3, 0);
    parts
}

#[test]
fn declared_rust_version_covers_every_locked_dependency() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline", "--filter-platform"])
        .arg("x86_64-unknown-linux-gnu")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let used: std::collections::HashSet<&str> =
        meta["resolve"]["nodes"].as_array().unwrap().iter().filter_map(|n| n["id"].as_str()).collect();
    let mut ours = None;
    let mut newest: Option<(Vec<u32>, String)> = None;
    for p in meta["packages"].as_array().unwrap() {
        let (Some(id), Some(name)) = (p["id"].as_str(), p["name"].as_str()) else { continue };
        let Some(rv) = p["rust_version"].as_str() else { continue };
        if name == "dudao" {
            ours = Some(version(rv));
        } else if used.contains(id) && newest.as_ref().is_none_or(|(v, _)| version(rv) > *v) {
            newest = Some((version(rv), format!("{name} {}", p["version"].as_str().unwrap_or(""))));
        }
    }
    let ours = ours.expect("Cargo.toml declares rust-version");
    let (needed, by) = newest.expect("dependencies declare rust-version");
    assert!(
        ours >= needed,
        "Cargo.toml says rust-version {ours:?}, but {by} needs {needed:?}: raise it (and the README)"
    );
}
