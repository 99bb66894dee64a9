//! Who may read the files the store writes. The database, its write-ahead log and
//! shared-memory files, and backups hold password hashes, personal data and the audit
//! log, so only Latchkey's own user may read them: directories 0700, files 0600, set
//! when they are made (not left to the umask) and tightened on start when an older
//! version or an admin left them wider.

use std::io;
use std::path::{Path, PathBuf};

/// The mode of the data directory.
pub const DIR_MODE: u32 = 0o700;
/// The mode of the database files and backups.
pub const FILE_MODE: u32 = 0o600;

/// Make `dir` (and missing parents) readable by the owner only. A directory that exists
/// already is left as it is: see `tighten`.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir)
}

/// Make a new, empty file that only the owner can read; fails when `path` exists.
pub fn create_private_file(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    options.open(path).map(drop)
}

/// The SQLite database file and the files SQLite keeps beside it.
pub fn sqlite_files(db: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [db.to_path_buf(), with("-wal"), with("-shm")]
}

/// Take group and other permissions away from `path` (when it exists and has any),
/// logging each change, so that an installation made before this rule is private too.
/// A file Latchkey may not change (another owner) is logged and left: refusing to start
/// over it would turn a hardening step into an outage.
pub fn tighten(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return;
        };
        let old = meta.permissions().mode() & 0o7777;
        if old & 0o077 == 0 || meta.file_type().is_symlink() {
            return;
        }
        let new = if meta.is_dir() { DIR_MODE } else { FILE_MODE };
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(new)) {
            tracing::warn!(
                event = "storage.permissions_open",
                path = %path.display(),
                mode = format!("{old:o}"),
                error = %e,
                "{} is readable by other users and cannot be changed: {e}",
                path.display()
            );
            return;
        }
        tracing::warn!(
            event = "storage.permissions_tightened",
            path = %path.display(),
            old_mode = format!("{old:o}"),
            new_mode = format!("{new:o}"),
            "{} was readable by other users; it is now {new:o}",
            path.display()
        );
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn made_private_and_tightened_without_touching_private_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("x.db");
        create_private_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(
            create_private_file(&file).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );

        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        tighten(&file);
        tighten(&dir);
        assert_eq!((mode(&dir), mode(&file)), (0o700, 0o600));
        // Stricter than ours stays as it is; a missing file is no error.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o400)).unwrap();
        tighten(&file);
        assert_eq!(mode(&file), 0o400);
        tighten(&dir.join("missing"));
    }

    #[test]
    fn sqlite_keeps_a_wal_and_a_shm_file_beside_the_database() {
        let [db, wal, shm] = sqlite_files(Path::new("/d/latchkey.db"));
        assert_eq!(db, Path::new("/d/latchkey.db"));
        assert_eq!(wal, Path::new("/d/latchkey.db-wal"));
        assert_eq!(shm, Path::new("/d/latchkey.db-shm"));
    }
}
