//! One service per database: an advisory lock on `<database>.lock`, held for the life of the
//! process. The operating system releases it when the process ends, however it ends, so a crash
//! leaves no stale lock behind. The holder writes its PID, host and start time into the file, so
//! a refused second start can say who holds it.
//!
//! Only `serve`, `migrate` and `restore` take it: the other commands (`roster import`, `export`,
//! `backup`, …) are meant to run beside the service, through SQLite's own locking.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "数据库 {db} 已被另一个 Dudao 进程使用（{holder}）：同一个数据库只能运行一个服务。\
         请先停止那个进程（锁文件 {lock}）。/ another Dudao process holds the database"
    )]
    Held { db: String, holder: String, lock: String },
    #[error("cannot use the lock file {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    path: PathBuf,
}

/// `<database>.lock`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

impl InstanceLock {
    /// Takes the lock of the database at `db` without waiting, or says who holds it.
    pub fn acquire(db: &Path) -> Result<InstanceLock, LockError> {
        let path = lock_path(db);
        let err = |source| LockError::Io { path: path.display().to_string(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        // Not truncated on open: the holder's details stay readable to whoever is refused.
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let recorded = std::fs::read_to_string(&path).unwrap_or_default();
                return Err(LockError::Held {
                    db: db.display().to_string(),
                    holder: describe_holder(&recorded),
                    lock: path.display().to_string(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(err(e)),
        }
        let record = format!(
            "pid={}\nhost={}\nsince={}\n",
            std::process::id(),
            hostname(),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        file.set_len(0).map_err(err)?;
        file.write_all(record.as_bytes()).and_then(|()| file.sync_all()).map_err(err)?;
        Ok(InstanceLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// "进程 1234，主机 web1，自 …起" from the holder's record; what is missing is said so.
fn describe_holder(recorded: &str) -> String {
    let field =
        |k: &str| recorded.lines().find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('='))).map(str::trim);
    match (field("pid"), field("host"), field("since")) {
        (Some(pid), host, since) => {
            let mut s = format!("进程 PID {pid}");
            if let Some(h) = host.filter(|h| !h.is_empty()) {
                s.push_str(&format!("，主机 {h}"));
            }
            if let Some(t) = since {
                s.push_str(&format!("，自 {t} 起"));
            }
            s
        }
        _ => "进程信息未记录".into(),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_database_is_refused_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("督导.sqlite");
        let first = InstanceLock::acquire(&db).unwrap();
        assert_eq!(first.path(), lock_path(&db));
        let e = InstanceLock::acquire(&db).unwrap_err().to_string();
        assert!(e.contains(&format!("进程 PID {}", std::process::id())), "{e}");
        assert!(e.contains("只能运行一个服务"), "{e}");
        drop(first);
        // Released with its holder: the next one takes it.
        InstanceLock::acquire(&db).unwrap();
    }

    #[test]
    fn holder_descriptions() {
        assert_eq!(describe_holder(""), "进程信息未记录");
        assert_eq!(describe_holder("pid=42\nhost=\n"), "进程 PID 42");
        assert_eq!(
            describe_holder("pid=42\nhost=jd1\nsince=2026-12-02T08:00:00Z\n"),
            "进程 PID 42，主机 jd1，自 2026-12-02T08:00:00Z 起"
        );
    }
}
