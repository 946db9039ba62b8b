//! The real binary on the embedded default: `dudao serve` reading a piped script on standard
//! input, as the README's demo does.

use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn piped_script_binds_an_account_and_gets_role_appropriate_help() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("e2e.sqlite");
    let bin = env!("CARGO_BIN_EXE_dudao");
    let env = |c: &mut Command| {
        c.env("DUDAO_DATABASE__PATH", &db).env("DUDAO_HTTP__BIND", "127.0.0.1:0").env("DUDAO_LOG", "warn");
    };
    let mut codes = Command::new(bin);
    codes.args(["roster", "codes", "D005"]);
    env(&mut codes);
    let out = codes.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let code = stdout.lines().find(|l| l.starts_with("D005")).and_then(|l| l.split('\t').nth(2)).unwrap().to_string();

    let mut serve = Command::new(bin);
    serve.arg("serve").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    env(&mut serve);
    let mut child = serve.spawn().unwrap();
    let script = format!("wang: 你好\nwang: 绑定 {code}\nwang: 帮助\nwang@g1: 登记群 督导室群\n");
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "serve failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("尚未绑定"), "{stdout}");
    assert!(stdout.contains("绑定成功！您好，张兰英（责任督学）"), "{stdout}");
    assert!(stdout.contains("请假") && stdout.contains("周报：周报"), "inspector help: {stdout}");
    assert!(!stdout.contains("绑定码 <编号或姓名>"), "supervisor commands hidden from an inspector: {stdout}");
    assert!(stdout.contains("不能使用“登记群”"), "{stdout}");
}
