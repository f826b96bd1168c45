//! `ScratchDir`: one test's own directory under the system's temp dir, deleted when dropped.
//!
//! Owns where the CLI tests put their files. Each directory is named after what the test passes
//! and the process ID (tests of one process run in parallel, so names must differ between tests),
//! is emptied when created, and is removed when its guard drops — also when the test fails, since
//! the drop runs while the panic unwinds — so test runs leave nothing behind.

use std::path::{Path, PathBuf};

pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// A fresh, empty `leasesim-test-<name>-<pid>` under the system's temp dir.
    pub fn new(name: &str) -> ScratchDir {
        let dir = std::env::temp_dir().join(format!("leasesim-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        ScratchDir(dir)
    }

    /// Writes `content` to `file` in this directory and answers its path.
    pub fn write(&self, file: &str, content: &str) -> PathBuf {
        let path = self.join(file);
        std::fs::write(&path, content).expect("write scratch file");
        path
    }
}

/// The directory's path: a `ScratchDir` goes wherever a `&Path` does.
impl std::ops::Deref for ScratchDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for ScratchDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
