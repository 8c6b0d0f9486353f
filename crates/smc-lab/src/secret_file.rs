//! A secret written to a private file (0600 in a 0700 directory of its
//! own under the temporary directory), removed with its directory when the
//! [`SecretFile`] is dropped: how `smc-lab demo` hands the simulated SPS's
//! password to a config that only reads passwords from files.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// A private file holding one secret; its directory goes when this drops.
#[derive(Debug)]
pub struct SecretFile {
    dir: PathBuf,
    file: PathBuf,
}

impl SecretFile {
    /// Write `secret` to `<tmp>/<prefix>-<pid>-<nanos>/<name>`; the directory
    /// is new (never an existing one) and only its owner can read it.
    pub fn write(prefix: &str, name: &str, secret: &str) -> std::io::Result<SecretFile> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        DirBuilder::new().mode(0o700).create(&dir)?;
        let out = SecretFile {
            file: dir.join(name),
            dir,
        };
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&out.file)?;
        f.write_all(secret.as_bytes())?;
        Ok(out)
    }

    /// The file holding the secret.
    pub fn path(&self) -> &Path {
        &self.file
    }
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_secret_is_private_and_goes_with_its_directory() {
        let s = SecretFile::write("smc-lab-test", "password", "pw-1").unwrap();
        let path = s.path().to_path_buf();
        let dir = path.parent().unwrap().to_path_buf();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "pw-1");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir), 0o700);
        drop(s);
        assert!(!dir.exists());
    }
}
