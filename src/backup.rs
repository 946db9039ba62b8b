//! Backups and restore: a consistent copy of the database taken while the service runs, a
//! manifest of the evidence folder beside it, the scheduled copies with their retention, the
//! copy taken before migrations, and putting a copy back.
//!
//! The database is copied with `VACUUM INTO` (see [`crate::db::vacuum_into`]): one read
//! transaction, so the copy is exactly the database at one instant, and writers go on under WAL.
//! Evidence photos are not copied: they are stored once per content under their SHA-256
//! (`evidence/ab/abcd…`) and never change, so the folder is best copied incrementally
//! (`rsync -a`, `cp -an`) rather than once more into every backup; the manifest says which
//! files a backup's rows refer to may exist, with their size and hash, and `restore` checks the
//! folder against it.

use crate::config::Settings;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: String, source: std::io::Error },
    #[error("数据库文件不存在：{0}")]
    NoDatabase(String),
    #[error("目标文件已存在，不会覆盖：{0}")]
    Exists(String),
    #[error("database error on {path}: {source}")]
    Db { path: String, source: crate::sql::Error },
    #[error("{path} 未通过完整性检查（PRAGMA integrity_check）：{problems}")]
    Integrity { path: String, problems: String },
    #[error("备份 {path} 来自更新版本的 Dudao（迁移 {found}；本程序认识的最新迁移是 {known}），不能用本程序恢复")]
    Newer { path: String, found: i64, known: i64 },
    #[error(
        "备份 {path} 与其清单（.manifest.json）中的 sha256 不符：文件损坏或被改动过（用 sqlite3 等工具以读写方式打开也会改动它）"
    )]
    Checksum { path: String },
    #[error("manifest {path}: {source}")]
    Manifest { path: String, source: serde_json::Error },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError {
    let path = path.display().to_string();
    move |source| BackupError::Io { what, path, source }
}

fn db_err(path: &Path) -> impl FnOnce(crate::sql::Error) -> BackupError {
    let path = path.display().to_string();
    move |source| BackupError::Db { path, source }
}

/// A file named in a manifest: path relative to its folder (`/`-separated), size, SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// `<backup>.manifest.json`: what a backup holds and what it expects beside it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// When the copy was taken, RFC 3339 with the service's offset.
    pub created_at: String,
    /// The backup file itself (its path relative to the manifest's folder).
    pub database: FileEntry,
    /// The newest migration applied in the copy.
    pub schema_version: Option<i64>,
    /// The evidence folder as configured when the copy was taken.
    pub evidence_dir: String,
    pub evidence: Vec<FileEntry>,
}

/// The manifest's path for a backup file: `<file>.manifest.json`.
pub fn manifest_path(backup: &Path) -> PathBuf {
    with_suffix(backup, ".manifest.json")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 and size of a file, read in pieces.
pub fn hash_file(path: &Path) -> Result<(String, u64), BackupError> {
    let mut f = std::fs::File::open(path).map_err(io("cannot read", path))?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut h).map_err(io("cannot read", path))?;
    Ok((hex(&h.finalize()), n))
}

/// Flushes a file, and the directory entry naming it, to the disk.
fn sync_file_and_dir(path: &Path) -> Result<(), BackupError> {
    std::fs::File::open(path).and_then(|f| f.sync_all()).map_err(io("cannot sync", path))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Directories cannot be opened for syncing everywhere; the file itself is synced.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Every regular file under `dir`, relative and `/`-separated, sorted; half-written downloads
/// (`*.part`) left out. A missing folder has none.
fn list_files(dir: &Path) -> Result<Vec<String>, BackupError> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), BackupError> {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io("cannot list", dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io("cannot list", dir))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(io("cannot list", &path))?;
            if kind.is_dir() {
                walk(root, &path, out)?;
            } else if kind.is_file() && path.extension().is_none_or(|e| e != "part") {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                let parts: Vec<String> =
                    rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
                out.push(parts.join("/"));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// What [`take`] wrote.
#[derive(Debug, Clone)]
pub struct Taken {
    pub path: PathBuf,
    pub size: u64,
    pub manifest: PathBuf,
    pub schema_version: Option<i64>,
    pub evidence_files: usize,
    pub evidence_bytes: u64,
}

/// Copies the database at `db` to `dest` (written as `dest.partial`, checked with
/// `PRAGMA integrity_check`, then renamed) and writes the manifest of `evidence_dir` beside it.
/// Safe while the service runs.
pub fn take(
    db: &Path,
    dest: &Path,
    evidence_dir: &Path,
    busy: Duration,
    now: DateTime<chrono_tz::Tz>,
) -> Result<Taken, BackupError> {
    let path = copy_database(db, dest, busy)?;
    let (sha256, size) = hash_file(&path)?;
    let schema_version = crate::db::file_schema_status(&path).map_err(db_err(&path))?.applied.last().copied();
    let mut evidence = Vec::new();
    for rel in list_files(evidence_dir)? {
        let (sha256, size) = hash_file(&evidence_dir.join(&rel))?;
        evidence.push(FileEntry { path: rel, size, sha256 });
    }
    let manifest = Manifest {
        format: 1,
        created_at: now.to_rfc3339_opts(SecondsFormat::Secs, false),
        database: FileEntry {
            path: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            size,
            sha256,
        },
        schema_version,
        evidence_dir: std::path::absolute(evidence_dir)
            .unwrap_or_else(|_| evidence_dir.to_path_buf())
            .display()
            .to_string(),
        evidence,
    };
    let mpath = manifest_path(&path);
    let tmp = with_suffix(&mpath, ".partial");
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|source| BackupError::Manifest { path: mpath.display().to_string(), source })?;
    std::fs::write(&tmp, json).map_err(io("cannot write", &tmp))?;
    std::fs::rename(&tmp, &mpath).map_err(io("cannot rename", &tmp))?;
    sync_file_and_dir(&mpath)?;
    Ok(Taken {
        path,
        size,
        manifest: mpath,
        schema_version,
        evidence_files: manifest.evidence.len(),
        evidence_bytes: manifest.evidence.iter().map(|e| e.size).sum(),
    })
}

/// The database alone, copied to `dest` through `dest.partial` and checked.
fn copy_database(db: &Path, dest: &Path, busy: Duration) -> Result<PathBuf, BackupError> {
    if !db.is_file() {
        return Err(BackupError::NoDatabase(db.display().to_string()));
    }
    if dest.exists() {
        return Err(BackupError::Exists(dest.display().to_string()));
    }
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    }
    let tmp = with_suffix(dest, ".partial");
    // A leftover of an interrupted attempt: VACUUM INTO refuses an existing file.
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("cannot remove", &tmp)(e)),
    }
    crate::db::vacuum_into(db, &tmp, busy).map_err(db_err(db))?;
    sync_file_and_dir(&tmp)?;
    check_integrity(&tmp)?;
    std::fs::rename(&tmp, dest).map_err(io("cannot rename", &tmp))?;
    sync_file_and_dir(dest)?;
    Ok(dest.to_path_buf())
}

fn check_integrity(path: &Path) -> Result<(), BackupError> {
    let rows = crate::db::integrity_check(path).map_err(db_err(path))?;
    if rows != ["ok"] {
        return Err(BackupError::Integrity { path: path.display().to_string(), problems: rows.join("; ") });
    }
    Ok(())
}

/// The copy taken before migrating from `from` to `to`:
/// `<dir>/dudao-pre-migrate-<from>-to-<to>-<UTC time>.sqlite`. Kept until removed by hand.
pub fn before_migration(db: &Path, dir: &Path, from: i64, to: i64, busy: Duration) -> Result<PathBuf, BackupError> {
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    copy_database(db, &dir.join(format!("dudao-pre-migrate-{from}-to-{to}-{stamp}.sqlite")), busy)
}

/// A scheduled backup's file name: `dudao-YYYYMMDD-HHMMSS.sqlite`, local time.
fn scheduled_name(now: DateTime<chrono_tz::Tz>) -> String {
    format!("dudao-{}.sqlite", now.format("%Y%m%d-%H%M%S"))
}

fn is_scheduled_name(name: &str) -> bool {
    let Some(stamp) = name.strip_prefix("dudao-").and_then(|r| r.strip_suffix(".sqlite")) else {
        return false;
    };
    let b = stamp.as_bytes();
    b.len() == 15 && b[8] == b'-' && b.iter().enumerate().all(|(i, c)| i == 8 || c.is_ascii_digit())
}

/// The default file of `dudao backup` without a name, and of the scheduled job.
pub fn default_target(settings: &Settings, now: DateTime<Utc>) -> PathBuf {
    settings.backup_dir().join(scheduled_name(now.with_timezone(&settings.timezone())))
}

/// What a scheduled backup did.
#[derive(Debug, Clone)]
pub struct Scheduled {
    pub taken: Taken,
    /// Older scheduled backups deleted to keep `[backup] keep`.
    pub removed: Vec<PathBuf>,
}

/// The job `backup`: a copy in `[backup] dir`, then the oldest scheduled copies beyond
/// `[backup] keep` deleted (copies taken by hand or before migrations are never deleted).
pub fn scheduled(settings: &Settings, now: DateTime<Utc>) -> Result<Scheduled, BackupError> {
    let tz = settings.timezone();
    let taken = take(
        &settings.database.path,
        &default_target(settings, now),
        &crate::app::evidence::evidence_dir(settings),
        Duration::from_millis(settings.database.busy_timeout_ms),
        now.with_timezone(&tz),
    )?;
    let removed = prune(&settings.backup_dir(), settings.backup.keep as usize)?;
    Ok(Scheduled { taken, removed })
}

/// Deletes the scheduled copies (and their manifests) in `dir` beyond the newest `keep`; 0 keeps all.
pub fn prune(dir: &Path, keep: usize) -> Result<Vec<PathBuf>, BackupError> {
    if keep == 0 {
        return Ok(Vec::new());
    }
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(io("cannot list", dir))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_scheduled_name(n))
        .collect();
    // The name is the local time, fixed width: newest first by name.
    names.sort_unstable_by(|a, b| b.cmp(a));
    let mut removed = Vec::new();
    for name in names.into_iter().skip(keep) {
        let path = dir.join(&name);
        std::fs::remove_file(&path).map_err(io("cannot remove", &path))?;
        let _ = std::fs::remove_file(manifest_path(&path));
        removed.push(path);
    }
    Ok(removed)
}

/// What [`restore`] did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// Where the database that was in place went (with its `-wal`/`-shm`), if there was one.
    pub previous: Option<PathBuf>,
    pub schema_version: Option<i64>,
    /// Migrations this build will apply at the next start.
    pub pending: usize,
    /// Whether a manifest was found beside the backup.
    pub manifest: bool,
    /// Evidence files the manifest lists, and those missing from the folder or of another size.
    pub evidence_listed: usize,
    pub evidence_missing: Vec<String>,
}

/// Puts the backup `from` in place of the database at `db`. The caller holds the instance lock
/// (no service runs on `db`). The backup is checked first (integrity, its manifest's hash, not
/// from a newer build); the database in place is moved aside, never deleted.
pub fn restore(db: &Path, from: &Path, evidence_dir: &Path, now: DateTime<Utc>) -> Result<Restored, BackupError> {
    if !from.is_file() {
        return Err(BackupError::NoDatabase(from.display().to_string()));
    }
    let mpath = manifest_path(from);
    let manifest: Option<Manifest> = match std::fs::read(&mpath) {
        Ok(bytes) => Some(
            serde_json::from_slice(&bytes)
                .map_err(|source| BackupError::Manifest { path: mpath.display().to_string(), source })?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io("cannot read", &mpath)(e)),
    };
    if let Some(m) = &manifest {
        if hash_file(from)?.0 != m.database.sha256 {
            return Err(BackupError::Checksum { path: from.display().to_string() });
        }
    }
    check_integrity(from)?;
    let status = crate::db::file_schema_status(from).map_err(db_err(from))?;
    if let Some(&found) = status.unknown.last() {
        return Err(BackupError::Newer {
            path: from.display().to_string(),
            found,
            known: crate::db::newest_known_migration(),
        });
    }
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    }
    // Copied next to the database first, so the final step is a rename on one file system.
    let incoming = with_suffix(db, ".restoring");
    std::fs::copy(from, &incoming).map_err(io("cannot copy to", &incoming))?;
    sync_file_and_dir(&incoming)?;
    let previous = if db.exists() {
        let aside = with_suffix(db, &format!(".before-restore-{}", now.format("%Y%m%dT%H%M%SZ")));
        // The -wal goes with its database: left behind, SQLite would replay it into the copy.
        for suffix in ["", "-wal", "-shm"] {
            let (src, dst) = (with_suffix(db, suffix), with_suffix(&aside, suffix));
            if src.exists() {
                std::fs::rename(&src, &dst).map_err(io("cannot move aside", &src))?;
            }
        }
        Some(aside)
    } else {
        for suffix in ["-wal", "-shm"] {
            let stale = with_suffix(db, suffix);
            if stale.exists() {
                std::fs::remove_file(&stale).map_err(io("cannot remove", &stale))?;
            }
        }
        None
    };
    std::fs::rename(&incoming, db).map_err(io("cannot rename", &incoming))?;
    sync_file_and_dir(db)?;
    let mut evidence_missing = Vec::new();
    let evidence_listed = manifest.as_ref().map_or(0, |m| m.evidence.len());
    for e in manifest.iter().flat_map(|m| &m.evidence) {
        let ok = std::fs::metadata(evidence_dir.join(&e.path)).is_ok_and(|md| md.len() == e.size);
        if !ok {
            evidence_missing.push(e.path.clone());
        }
    }
    Ok(Restored {
        previous,
        schema_version: status.applied.last().copied(),
        pending: status.pending.len(),
        manifest: manifest.is_some(),
        evidence_listed,
        evidence_missing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduled_names_are_recognised_and_only_they() {
        let t = chrono::TimeZone::with_ymd_and_hms(&chrono_tz::Asia::Shanghai, 2026, 12, 2, 2, 30, 0).unwrap();
        let n = scheduled_name(t);
        assert_eq!(n, "dudao-20261202-023000.sqlite");
        assert!(is_scheduled_name(&n));
        assert!(!is_scheduled_name("dudao-pre-migrate-1-to-2-20261202T023000Z.sqlite"));
        assert!(!is_scheduled_name("dudao-20261202-023000.sqlite.manifest.json"));
        assert!(!is_scheduled_name("dudao-2026120a-023000.sqlite"));
        assert!(!is_scheduled_name("我的备份.sqlite"));
    }

    #[test]
    fn prune_keeps_the_newest_scheduled_copies_and_nothing_else_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        let names = [
            "dudao-20261128-023000.sqlite",
            "dudao-20261129-023000.sqlite",
            "dudao-20261130-023000.sqlite",
            "dudao-20261201-023000.sqlite",
            "dudao-pre-migrate-1-to-2-20261101T000000Z.sqlite",
            "手工备份.sqlite",
        ];
        for n in names {
            std::fs::write(dir.path().join(n), n).unwrap();
        }
        std::fs::write(manifest_path(&dir.path().join(names[0])), "{}").unwrap();
        let removed = prune(dir.path(), 2).unwrap();
        let mut removed: Vec<String> =
            removed.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        removed.sort();
        assert_eq!(removed, [names[0], names[1]]);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut expected = vec![names[2], names[3], names[4], names[5]];
        expected.sort();
        assert_eq!(left, expected, "the manifest went with its copy; other files stay");
        assert!(prune(dir.path(), 0).unwrap().is_empty(), "keep = 0 keeps everything");
    }

    #[test]
    fn evidence_listing_is_relative_sorted_and_skips_partial_downloads() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ab")).unwrap();
        std::fs::create_dir_all(dir.path().join("0f")).unwrap();
        std::fs::write(dir.path().join("ab/abcd"), "整改照片一").unwrap();
        std::fs::write(dir.path().join("0f/0f12"), "整改照片二").unwrap();
        std::fs::write(dir.path().join("ab/abce.part"), "半截").unwrap();
        assert_eq!(list_files(dir.path()).unwrap(), ["0f/0f12", "ab/abcd"]);
        assert!(list_files(&dir.path().join("没有")).unwrap().is_empty());
    }
}
