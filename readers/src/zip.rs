//! Just enough of ZIP (PKWARE's APPNOTE) to read NumPy's `.npz`: the end of
//! central directory record, the central directory's entries (with the
//! ZIP64 extra field NumPy's `savez` writes for every entry), and each
//! entry's data, stored or deflated. Sizes come from the central directory
//! and are checked against the file; a deflated entry is never expanded past
//! its stated size, nor that size past deflate's largest ratio (1032:1).

use std::io::Read;
use std::path::Path;

use crate::ReadError;

/// One entry of the archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    method: u16,
    compressed: u64,
    size: u64,
    offset: u64,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The entries of the archive `bytes` (`file` is named in errors).
pub fn entries(file: &Path, bytes: &[u8]) -> Result<Vec<Entry>, ReadError> {
    let bad = |what: &str| ReadError::new(file, what.to_string());
    let truncated = || bad("a truncated or damaged ZIP archive (not an .npz?)");
    // The end record is 22 bytes plus a comment of up to 65535.
    let earliest = bytes.len().saturating_sub(22 + 65535);
    let end = (earliest..=bytes.len().saturating_sub(22))
        .rev()
        .find(|&i| u32_at(bytes, i) == Some(0x0605_4b50))
        .ok_or_else(|| bad("not a ZIP archive (no end of central directory): an .npz is one"))?;
    let count = u16_at(bytes, end + 10).ok_or_else(truncated)? as usize;
    let mut at = u32_at(bytes, end + 16).ok_or_else(truncated)? as usize;
    if count == 0xffff || at == 0xffff_ffff_usize {
        return Err(bad(
            "a ZIP64 archive of more than 65535 entries or 4 GiB is not read",
        ));
    }
    let mut out = Vec::new();
    for _ in 0..count {
        if u32_at(bytes, at) != Some(0x0201_4b50) {
            return Err(truncated());
        }
        let method = u16_at(bytes, at + 10).ok_or_else(truncated)?;
        let mut compressed = u32_at(bytes, at + 20).ok_or_else(truncated)? as u64;
        let mut size = u32_at(bytes, at + 24).ok_or_else(truncated)? as u64;
        let name_len = u16_at(bytes, at + 28).ok_or_else(truncated)? as usize;
        let extra_len = u16_at(bytes, at + 30).ok_or_else(truncated)? as usize;
        let comment_len = u16_at(bytes, at + 32).ok_or_else(truncated)? as usize;
        let mut offset = u32_at(bytes, at + 42).ok_or_else(truncated)? as u64;
        let name = bytes
            .get(at + 46..at + 46 + name_len)
            .ok_or_else(truncated)?;
        let name = String::from_utf8_lossy(name).into_owned();
        let extra = bytes
            .get(at + 46 + name_len..at + 46 + name_len + extra_len)
            .ok_or_else(truncated)?;
        // The ZIP64 extra field holds, in this order, the fields whose
        // 32-bit slots are all ones.
        let mut e = 0;
        while e + 4 <= extra.len() {
            let (id, len) = (
                u16_at(extra, e).unwrap_or(0),
                u16_at(extra, e + 2).unwrap_or(0) as usize,
            );
            if id == 0x0001 {
                let mut f = e + 4;
                for slot in [&mut size, &mut compressed, &mut offset] {
                    if *slot == 0xffff_ffff {
                        *slot = u64_at(extra, f).ok_or_else(truncated)?;
                        f += 8;
                    }
                }
            }
            e += 4 + len;
        }
        out.push(Entry {
            name,
            method,
            compressed,
            size,
            offset,
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(out)
}

/// The uncompressed bytes of `entry`.
pub fn read_entry(file: &Path, bytes: &[u8], entry: &Entry) -> Result<Vec<u8>, ReadError> {
    let bad = |what: String| ReadError::new(file, what).at(format!("entry {}", entry.name));
    let truncated = || bad("truncated or damaged".into());
    let local = usize::try_from(entry.offset).map_err(|_| truncated())?;
    if u32_at(bytes, local) != Some(0x0403_4b50) {
        return Err(truncated());
    }
    let name_len = u16_at(bytes, local + 26).ok_or_else(truncated)? as usize;
    let extra_len = u16_at(bytes, local + 28).ok_or_else(truncated)? as usize;
    let start = local + 30 + name_len + extra_len;
    let len = usize::try_from(entry.compressed).map_err(|_| truncated())?;
    let data = bytes
        .get(start..start.checked_add(len).ok_or_else(truncated)?)
        .ok_or_else(truncated)?;
    match entry.method {
        0 if entry.size == entry.compressed => Ok(data.to_vec()),
        8 => {
            if entry.size > entry.compressed.saturating_mul(1032).saturating_add(64) {
                return Err(bad(format!(
                    "claims {} bytes from {} deflated ones, more than deflate can give",
                    entry.size, entry.compressed
                )));
            }
            let mut out = Vec::new();
            flate2::read::DeflateDecoder::new(data)
                .take(entry.size.saturating_add(1))
                .read_to_end(&mut out)
                .map_err(|e| bad(format!("bad deflate data: {e}")))?;
            if out.len() as u64 != entry.size {
                return Err(bad(format!(
                    "inflates to {} bytes, the directory says {}",
                    out.len(),
                    entry.size
                )));
            }
            Ok(out)
        }
        0 => Err(truncated()),
        m => Err(bad(format!(
            "compression method {m} is not read (stored and deflate are)"
        ))),
    }
}

/// The entry of the archive named `name` (or `name.npy`), read whole.
pub fn read_named(file: &Path, bytes: &[u8], name: &str) -> Result<Vec<u8>, ReadError> {
    let all = entries(file, bytes)?;
    let wanted = [name.to_string(), format!("{name}.npy")];
    let entry = all
        .iter()
        .find(|e| wanted.contains(&e.name))
        .ok_or_else(|| {
            let names: Vec<&str> = all
                .iter()
                .map(|e| e.name.trim_end_matches(".npy"))
                .collect();
            ReadError::new(
                file,
                format!("no array named {name:?} (the archive has {names:?})"),
            )
        })?;
    read_entry(file, bytes, entry)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// A ZIP archive as Python's zipfile writes NumPy's `savez` (ZIP64
    /// extra fields on every entry), stored or deflated.
    pub fn archive(files: &[(&str, &[u8])], deflate: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in files {
            let body = if deflate {
                let mut e =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            } else {
                data.to_vec()
            };
            let offset = out.len() as u64;
            let method: u16 = if deflate { 8 } else { 0 };
            let mut zip64 = vec![1u8, 0, 24, 0];
            zip64.extend_from_slice(&(data.len() as u64).to_le_bytes());
            zip64.extend_from_slice(&(body.len() as u64).to_le_bytes());
            zip64.extend_from_slice(&offset.to_le_bytes());
            out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
            out.extend_from_slice(&[45, 0, 0, 0]);
            out.extend_from_slice(&method.to_le_bytes());
            out.extend_from_slice(&[0; 8]); // time, date, crc
            out.extend_from_slice(&[0xff; 8]); // sizes in the extra field
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&body);
            central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            central.extend_from_slice(&[45, 3, 45, 0, 0, 0]);
            central.extend_from_slice(&method.to_le_bytes());
            central.extend_from_slice(&[0; 8]);
            central.extend_from_slice(&[0xff; 8]);
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&(zip64.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 6]); // comment, disk, internal attributes
            central.extend_from_slice(&[0; 4]); // external attributes
            central.extend_from_slice(&[0xff; 4]); // offset in the extra field
            central.extend_from_slice(name.as_bytes());
            central.extend_from_slice(&zip64);
        }
        let dir_at = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&dir_at.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }

    #[test]
    fn zip_reads_stored_and_deflated_entries_with_zip64_fields() {
        let p = Path::new("d.npz");
        for deflate in [false, true] {
            let a = archive(
                &[("x.npy", b"hello hello hello"), ("y.npy", b"labels")],
                deflate,
            );
            assert_eq!(read_named(p, &a, "x").unwrap(), b"hello hello hello");
            assert_eq!(read_named(p, &a, "y.npy").unwrap(), b"labels");
            let e = read_named(p, &a, "z").unwrap_err().to_string();
            assert!(
                e.contains("no array named \"z\" (the archive has [\"x\", \"y\"])"),
                "{e}"
            );
            // Every cut refuses cleanly.
            for cut in 0..a.len() {
                let _ = read_named(p, &a[..cut], "x");
            }
        }
        let e = entries(p, b"not a zip").unwrap_err().to_string();
        assert!(e.contains("not a ZIP archive"), "{e}");
    }
}
