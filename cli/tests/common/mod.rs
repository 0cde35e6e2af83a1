//! What the command-line tests share: running the binary, its output as
//! text, a fresh folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `tinyreg` with `args`.
pub fn tinyreg(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tinyreg"))
        .args(args)
        .output()
        .expect("run tinyreg")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[allow(dead_code)] // not every test file reads stdout as text
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A fresh folder under the target directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
