//! Code layout rules that keep the storage seam in one place (issue 15): every SQL statement
//! lives in `src/store/`, so a second backend is a new module, not a rewrite of workflows.
//! `src/db.rs` may keep its connection and migration plumbing.

use std::path::{Path, PathBuf};

/// Files under `root/src` (relative, '/'-separated) that may run statements.
fn allowed(rel: &str) -> bool {
    rel.starts_with("src/store/") || rel == "src/db.rs" || rel == "src/sql.rs"
}

/// What starts a statement: the crate's SQL layer (however it is reached), sqlx, rusqlite.
const STATEMENT_MARKS: &[&str] = &["sql::query", "sql::raw_sql", "sqlx::query", "sqlx::raw_sql", "rusqlite::"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// `file:line: text` of every statement mark outside the allowed files.
fn sql_outside_store(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut offenders = Vec::new();
    for f in files {
        let rel = f.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
        if allowed(&rel) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            if STATEMENT_MARKS.iter().any(|m| line.contains(m)) {
                offenders.push(format!("{rel}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    offenders
}

#[test]
fn every_sql_statement_lives_in_store() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let offenders = sql_outside_store(root);
    assert!(
        offenders.is_empty(),
        "SQL outside src/store/ (move it into the store module of its concept):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_rule_sees_a_statement_outside_store() {
    // The check itself: a statement in a workflow file is reported with its place.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src/app")).unwrap();
    std::fs::create_dir_all(dir.path().join("src/store")).unwrap();
    std::fs::write(
        dir.path().join("src/app/weekly.rs"),
        "use crate::sql::query_as;\nfn f() {\n    crate::sql::query(\"SELECT 1\");\n}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("src/store/weekly.rs"), "fn g() { crate::sql::query(\"SELECT 1\"); }\n").unwrap();
    std::fs::write(dir.path().join("src/db.rs"), "fn h() { crate::sql::raw_sql(\"PRAGMA x\"); }\n").unwrap();
    let offenders = sql_outside_store(dir.path());
    assert_eq!(
        offenders,
        ["src/app/weekly.rs:1: use crate::sql::query_as;", "src/app/weekly.rs:3: crate::sql::query(\"SELECT 1\");",]
    );
}
