//! Files and directories only their owner may read or write: sessions, exports and the log hold
//! what was said. A leaf: it uses nothing else of livecap.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

/// Create the directory `path`, readable by the owner only.
#[cfg(unix)]
pub fn private_dir(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().mode(0o700).create(path)
}

/// Create the directory `path`.
#[cfg(not(unix))]
pub fn private_dir(path: &Path) -> io::Result<()> {
    fs::create_dir(path)
}

/// Options that write, creating the file readable by the owner only.
pub fn private_file() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}

/// Create (or replace) a file readable by the owner only, for transcript text written elsewhere
/// (exports).
pub fn create_private(path: &Path) -> io::Result<File> {
    private_file().truncate(true).open(path)
}
