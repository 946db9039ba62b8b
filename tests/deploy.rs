//! The deployment recipes in `deploy/` hold together: the compose file parses and wires NapCat's
//! reverse WebSocket to the path and token Dudao expects, the settings the recipes pass are ones
//! the binary accepts, the image runs as non-root with a data volume, and the systemd unit passes
//! `systemd-analyze verify` where that tool exists.

use std::path::{Path, PathBuf};
use std::process::Command;
use yaml_rust2::{Yaml, YamlLoader};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn compose() -> Yaml {
    let docs = YamlLoader::load_from_str(&read("deploy/compose.yaml")).expect("deploy/compose.yaml is YAML");
    assert_eq!(docs.len(), 1);
    docs.into_iter().next().unwrap()
}

/// `migrate --check` with these settings: the binary reads them (an unknown or mistyped key
/// stops it) without touching a database that does not exist.
fn settings_accepted(dir: &Path, config: Option<&Path>, env: &[(String, String)]) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dudao"));
    c.arg("migrate").arg("--check").env_remove("DUDAO_CONFIG");
    if let Some(f) = config {
        c.arg("--config").arg(f);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    // The database path of the recipe is replaced by a temporary one.
    c.env("DUDAO_DATABASE__PATH", dir.join("dudao.sqlite"));
    let out = c.output().unwrap();
    assert!(out.status.success(), "settings {env:?} {config:?} refused: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("还不存在"), "nothing was created");
}

#[test]
fn compose_wires_napcat_to_dudao_with_one_token() {
    let doc = compose();
    let services = &doc["services"];
    let dudao = &services["dudao"];
    let napcat = &services["napcat"];
    assert!(!dudao.is_badvalue() && !napcat.is_badvalue(), "both services are declared");

    // Dudao builds from this repository's Dockerfile and keeps its data in a named volume.
    let context = root().join("deploy").join(dudao["build"]["context"].as_str().unwrap());
    assert!(context.join(dudao["build"]["dockerfile"].as_str().unwrap()).is_file());
    let volumes: Vec<&str> = dudao["volumes"].as_vec().unwrap().iter().filter_map(Yaml::as_str).collect();
    let data = volumes.iter().find(|v| v.ends_with(":/data")).expect("a volume on /data");
    let name = data.split(':').next().unwrap();
    assert!(!doc["volumes"][name].is_badvalue(), "volume {name} is declared");

    // The token comes from the env file, to both ends.
    let env = dudao["environment"].as_hash().unwrap();
    let get = |k: &str| env.get(&Yaml::String(k.into())).and_then(Yaml::as_str).unwrap_or_default().to_string();
    assert!(get("DUDAO_CHANNELS__ONEBOT__ACCESS_TOKEN").starts_with("${ONEBOT_TOKEN"));
    let config_name = napcat["configs"][0]["source"].as_str().unwrap();
    let content = doc["configs"][config_name]["content"].as_str().unwrap();
    let rendered = content.replace("${ONEBOT_TOKEN}", "令牌-test-123");
    let onebot: serde_json::Value = serde_json::from_str(&rendered).expect("NapCat's config is JSON");
    let client = &onebot["network"]["websocketClients"][0];
    assert_eq!(client["enable"], true);
    assert_eq!(client["token"], "令牌-test-123");
    let url = client["url"].as_str().unwrap();
    let (host_port, path) = url.strip_prefix("ws://").unwrap().split_once('/').unwrap();
    assert_eq!(host_port, "dudao:8080", "NapCat reaches the dudao service on its port");
    assert!(dudao::chat::onebot::REVERSE_PATHS.contains(&format!("/{path}").as_str()), "{url}");
    let env_example = read("deploy/compose.env.example");
    assert!(env_example.lines().any(|l| l.starts_with("ONEBOT_TOKEN=")));

    // What the image and compose set is accepted by the binary, token included.
    let dir = tempfile::tempdir().unwrap();
    let mut vars: Vec<(String, String)> = dockerfile_env();
    for (k, v) in env {
        let (k, v) = (k.as_str().unwrap().to_string(), v.as_str().unwrap().to_string());
        vars.push((k, if v.starts_with("${") { "令牌-test-123".into() } else { v }));
    }
    settings_accepted(dir.path(), None, &vars);
}

/// `ENV` of the image's final stage, as (key, value).
fn dockerfile_env() -> Vec<(String, String)> {
    let text = read("deploy/Dockerfile");
    let last_stage = text.rsplit("\nFROM ").next().unwrap();
    let joined = last_stage.replace("\\\n", " ");
    joined
        .lines()
        .filter_map(|l| l.strip_prefix("ENV "))
        .flat_map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

#[test]
fn the_image_is_multi_stage_runs_as_non_root_and_keeps_data_in_a_volume() {
    let text = read("deploy/Dockerfile");
    assert!(text.matches("\nFROM ").count() + usize::from(text.starts_with("FROM ")) >= 2, "multi-stage");
    let last_stage = text.rsplit("\nFROM ").next().unwrap();
    let user = last_stage.lines().find_map(|l| l.strip_prefix("USER ")).expect("a USER in the final stage");
    assert!(!user.starts_with("root") && !user.starts_with('0'), "non-root: {user}");
    assert!(last_stage.contains("VOLUME [\"/data\"]"));
    let env = dockerfile_env();
    assert!(env.iter().any(|(k, v)| k == "DUDAO_DATABASE__PATH" && v.starts_with("/data/")), "{env:?}");
    // Without standard input the console would end the service at once.
    assert!(env.iter().any(|(k, v)| k == "DUDAO_CHANNELS__CONSOLE__ENABLED" && v == "false"));
    // Every file the build copies exists.
    for l in text.lines().filter(|l| l.starts_with("COPY ") && !l.contains("--from")) {
        let parts: Vec<&str> = l.split_whitespace().collect();
        for src in &parts[1..parts.len() - 1] {
            assert!(root().join(src).exists(), "COPY source {src} exists");
        }
    }
    assert!(read(".dockerignore").lines().any(|l| l.trim() == "target"));
}

#[test]
fn the_systemd_unit_is_hardened_and_verifies() {
    let unit = read("deploy/dudao.service");
    for line in [
        "User=dudao",
        "StateDirectory=dudao",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "Restart=on-failure",
        "CapabilityBoundingSet=",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing from deploy/dudao.service");
    }
    let exec = unit.lines().find_map(|l| l.strip_prefix("ExecStart=")).unwrap();
    let binary = exec.split_whitespace().next().unwrap();

    // The example configuration it points to, with its environment, is accepted.
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("Environment="))
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .chain([("DUDAO_CHANNELS__ONEBOT__ACCESS_TOKEN".to_string(), "令牌-test-123".to_string())])
        .collect();
    settings_accepted(dir.path(), Some(&root().join("deploy/dudao.toml.example")), &env);

    let has_tool = Command::new("systemd-analyze").arg("--version").output().is_ok_and(|o| o.status.success());
    if !has_tool {
        eprintln!("systemd-analyze is not installed: unit verification skipped");
        return;
    }
    // verify checks that ExecStart's binary exists: point it at the one just built.
    let copy = dir.path().join("dudao.service");
    std::fs::write(&copy, unit.replace(binary, env!("CARGO_BIN_EXE_dudao"))).unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&copy).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "systemd-analyze verify: {said}");
    assert!(!said.contains("dudao.service:"), "no warning about the unit: {said}");
}
