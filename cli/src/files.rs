//! Files that survive a kill: every record is written to a temporary file in
//! its folder, synced, and renamed over its name (then the folder is synced),
//! so a reader sees the old file or the new one, never half of one; the
//! search journal is appended a whole line at a time, synced after each, and
//! a torn last line (a kill inside the write) is recognised and dropped.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically: a temporary file beside it, synced,
/// renamed over `path`, and the folder synced so the rename is durable.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    let dir = parent(path);
    let name = path
        .file_name()
        .ok_or_else(|| format!("{}: not a file name", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        sync_dir(&dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(fail)
}

/// The folder `path` is in (`.` for a bare name).
fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Syncs a folder, so that a rename or a new file in it is on disk.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    // Opening a folder to sync it works on Unix; elsewhere there is no such
    // call and the rename's durability is the file system's.
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Makes `dir` (and its parents) for a command that has checked everything
/// else, and proves it writable with a synced probe file, so a read-only
/// folder fails before the work rather than after it. A folder this call
/// made is removed again when the probe fails.
pub fn prepare_dir(dir: &Path) -> Result<(), String> {
    let existed = dir.is_dir();
    let fail = |e: std::io::Error| format!("{}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(fail)?;
    let probe = dir.join(format!(".probe.{}.tmp", std::process::id()));
    let result = File::create(&probe).and_then(|f| f.sync_all());
    let _ = std::fs::remove_file(&probe);
    if let Err(e) = result {
        if !existed {
            let _ = std::fs::remove_dir(dir);
        }
        return Err(format!("{}: cannot write there: {e}", dir.display()));
    }
    Ok(())
}

/// An append-only file of JSON lines, each written whole and synced.
pub struct Journal {
    file: File,
    path: PathBuf,
}

/// What an existing journal holds: its whole lines, and whether a torn last
/// line was dropped.
pub struct JournalLines {
    pub lines: Vec<String>,
    pub torn: bool,
}

impl Journal {
    /// Starts a new journal at `path` with `first` as its first line (the
    /// header), written atomically so a journal always has one.
    pub fn create(path: &Path, first: &str) -> Result<Journal, String> {
        write_atomic(path, format!("{first}\n").as_bytes())?;
        Self::open(path)
    }

    /// Opens an existing journal to append to it.
    fn open(path: &Path) -> Result<Journal, String> {
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Journal {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Reads the whole lines of the journal at `path`, truncates a torn last
    /// line (one without its newline: a kill inside its write) and opens the
    /// journal to append after them.
    pub fn resume(path: &Path) -> Result<(Journal, JournalLines), String> {
        let fail = |e: std::io::Error| format!("{}: {e}", path.display());
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(fail)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(fail)?;
        let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let torn = whole < bytes.len();
        if torn {
            file.set_len(whole as u64).map_err(fail)?;
            file.sync_all().map_err(fail)?;
        }
        file.seek(SeekFrom::End(0)).map_err(fail)?;
        let text = String::from_utf8_lossy(&bytes[..whole]);
        let lines = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect();
        drop(file);
        Ok((Self::open(path)?, JournalLines { lines, torn }))
    }

    /// Appends `line` and a newline in one write, then syncs: after this
    /// returns, the line survives a kill or a power cut.
    pub fn append(&mut self, line: &str) -> Result<(), String> {
        let fail = |e: std::io::Error| format!("{}: {e}", self.path.display());
        let mut whole = String::with_capacity(line.len() + 1);
        whole.push_str(line);
        whole.push('\n');
        self.file.write_all(whole.as_bytes()).map_err(fail)?;
        self.file.sync_data().map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tinyreg-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn write_atomic_replaces_and_leaves_no_temporary_file() {
        let dir = scratch("atomic");
        let path = dir.join("a.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.json"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn journal_drops_a_torn_last_line_and_appends_after_the_whole_ones() {
        let dir = scratch("journal");
        let path = dir.join("journal.jsonl");
        let mut j = Journal::create(&path, "{\"head\":1}").unwrap();
        j.append("{\"a\":1}").unwrap();
        drop(j);
        // A kill inside the next append leaves half a line.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"b\":").unwrap();
        drop(f);
        let (mut j, read) = Journal::resume(&path).unwrap();
        assert!(read.torn);
        assert_eq!(read.lines, ["{\"head\":1}", "{\"a\":1}"]);
        j.append("{\"c\":3}").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\"head\":1}\n{\"a\":1}\n{\"c\":3}\n");
        let (_, read) = Journal::resume(&path).unwrap();
        assert!(!read.torn);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
