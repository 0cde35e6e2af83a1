//! NumPy's `.npy` format (numpy.lib.format, versions 1.0, 2.0 and 3.0):
//! the magic `\x93NUMPY`, a version, a header length (2 bytes in 1.0, 4
//! after), and a Python dict literal with `descr`, `fortran_order` and
//! `shape`, then the data. Little-endian (or byte-sized) C-order arrays of
//! `f4`, `f8`, `u1` and the integer kinds are read; big-endian and Fortran
//! order are refused by name. The data's length must be what the header
//! claims before anything is allocated.

use std::path::Path;

use crate::{byte_labels, Dataset, ReadError, Values};

/// An element type this reader takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    F32,
    F64,
    /// Signed integers of this many bytes.
    Int(usize),
    /// Unsigned integers of this many bytes (`u1` are pixels).
    Uint(usize),
}

impl Kind {
    fn size(self) -> usize {
        match self {
            Kind::F32 => 4,
            Kind::F64 => 8,
            Kind::Int(n) | Kind::Uint(n) => n,
        }
    }
}

/// A parsed array: its shape, element kind and raw little-endian data.
#[derive(Clone, Debug, PartialEq)]
pub struct Array<'a> {
    pub shape: Vec<usize>,
    pub kind: Kind,
    pub data: &'a [u8],
}

impl Array<'_> {
    /// Elements in all.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` as an `f64` (exact for every kind but 64-bit integers
    /// past 2^53).
    fn f64_at(&self, i: usize) -> f64 {
        let n = self.kind.size();
        let b = &self.data[i * n..(i + 1) * n];
        let mut raw = [0u8; 8];
        raw[..n].copy_from_slice(b);
        match self.kind {
            Kind::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            Kind::F64 => f64::from_le_bytes(raw),
            Kind::Uint(_) => u64::from_le_bytes(raw) as f64,
            Kind::Int(_) => {
                // Sign-extend from n bytes.
                let shift = 64 - 8 * n as u32;
                ((i64::from_le_bytes(raw) << shift) >> shift) as f64
            }
        }
    }

    /// Element `i` of an integer array, exactly.
    fn int_at(&self, i: usize) -> i128 {
        let n = self.kind.size();
        let b = &self.data[i * n..(i + 1) * n];
        let mut raw = [0u8; 8];
        raw[..n].copy_from_slice(b);
        match self.kind {
            Kind::Uint(_) => u64::from_le_bytes(raw) as i128,
            _ => {
                let shift = 64 - 8 * n as u32;
                ((i64::from_le_bytes(raw) << shift) >> shift) as i128
            }
        }
    }
}

/// Parses an `.npy` file's bytes (`file` is named in errors).
pub fn parse_npy<'a>(file: &Path, bytes: &'a [u8]) -> Result<Array<'a>, ReadError> {
    let bad = |what: String| ReadError::new(file, what);
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not a NumPy .npy file (magic)".into()));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (len, start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => {
            return Err(bad(format!(
                "unsupported .npy version {major}.{minor} (1.0 to 3.0 are read)"
            )))
        }
    };
    let header = bytes.get(start..start.saturating_add(len)).ok_or_else(|| {
        bad(format!(
            "the header claims {len} bytes, the file has {}",
            bytes.len()
        ))
    })?;
    let header = std::str::from_utf8(header).map_err(|_| bad("the header is not text".into()))?;
    let descr = dict_value(header, "descr")
        .ok_or_else(|| bad(format!("no 'descr' in the header {header:?}")))?;
    let fortran = dict_value(header, "fortran_order")
        .ok_or_else(|| bad(format!("no 'fortran_order' in the header {header:?}")))?;
    let shape = dict_value(header, "shape")
        .ok_or_else(|| bad(format!("no 'shape' in the header {header:?}")))?;
    if fortran.trim() != "False" {
        return Err(bad(
            "Fortran-order arrays are not read: save with np.ascontiguousarray(x) (C order)".into(),
        ));
    }
    let descr = descr.trim().trim_matches(|c| c == '\'' || c == '"');
    let kind = parse_descr(descr).map_err(bad)?;
    let shape = parse_shape(shape).map_err(bad)?;
    let elements = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
    let data_len = elements
        .checked_mul(kind.size())
        .ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
    let data = &bytes[start + len..];
    if data.len() != data_len {
        return Err(bad(format!(
            "shape {shape:?} of {descr} needs {data_len} bytes of data, the file has {} (truncated?)",
            data.len()
        )));
    }
    Ok(Array { shape, kind, data })
}

fn parse_descr(descr: &str) -> Result<Kind, String> {
    let (order, code) = descr.split_at(descr.len().min(1));
    if order == ">" && !code.ends_with('1') {
        return Err(format!(
            "big-endian arrays ({descr}) are not read: save with x.astype(x.dtype.newbyteorder('<'))"
        ));
    }
    if !matches!(order, "<" | "|" | "=" | ">") {
        return Err(format!("unsupported dtype {descr:?}"));
    }
    Ok(match code {
        "f4" => Kind::F32,
        "f8" => Kind::F64,
        "i1" | "b1" => Kind::Int(1),
        "i2" => Kind::Int(2),
        "i4" => Kind::Int(4),
        "i8" => Kind::Int(8),
        "u1" => Kind::Uint(1),
        "u2" => Kind::Uint(2),
        "u4" => Kind::Uint(4),
        "u8" => Kind::Uint(8),
        _ => {
            return Err(format!(
                "unsupported dtype {descr:?} (float32, float64, uint8 and integer arrays are read)"
            ))
        }
    })
}

/// The text after `'key':` in a Python dict literal, up to the next
/// top-level comma or the closing brace.
fn dict_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let at = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = &header[at + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?;
    let mut depth = 0;
    for (i, c) in rest.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(&rest[..i]),
            _ => {}
        }
    }
    None
}

fn parse_shape(text: &str) -> Result<Vec<usize>, String> {
    let inner = text
        .trim()
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| format!("shape {text:?} is not a tuple"))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            d.parse()
                .map_err(|_| format!("shape {text:?}: {d:?} is not a size"))
        })
        .collect()
}

/// How a 4-D array lays out its images.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Layout {
    /// `(N, C, H, W)`, PyTorch's.
    #[default]
    Nchw,
    /// `(N, H, W, C)`, Keras' and most image libraries'.
    Nhwc,
}

/// Features `(N, ...)` and labels `(N,)` into a data set: `(N, F)` as `F`
/// features, `(N, H, W)` gray images, `(N, C, H, W)` (or `N, H, W, C` with
/// `Layout::Nhwc`) images. `uint8` features stay bytes with `max_value`;
/// floats become `f32` (a `float64` past `f32`'s range is refused).
pub fn dataset(
    features: (&Path, &Array),
    labels: (&Path, &Array),
    layout: Layout,
    max_value: u32,
) -> Result<Dataset, ReadError> {
    let (ffile, x) = features;
    let (lfile, y) = labels;
    let n = *x
        .shape
        .first()
        .ok_or_else(|| ReadError::new(ffile, "a 0-d array holds no samples"))?;
    if y.shape.len() != 1 && !(y.shape.len() == 2 && y.shape[1] == 1) {
        return Err(ReadError::new(
            lfile,
            format!(
                "labels of shape {:?}: give one integer a sample, shape (N,)",
                y.shape
            ),
        ));
    }
    if y.shape[0] != n {
        return Err(ReadError::new(
            lfile,
            format!(
                "{} labels for {n} samples (features {})",
                y.shape[0],
                ffile.display()
            ),
        ));
    }
    if matches!(y.kind, Kind::F32 | Kind::F64) {
        return Err(ReadError::new(
            lfile,
            "labels must be an integer array (e.g. int64), not floats",
        ));
    }
    if n == 0 {
        return Err(ReadError::new(ffile, "no samples"));
    }
    let (c, h, w) = match (x.shape.len(), layout) {
        (1, _) => (1, 1, 1),
        (2, _) => (1, 1, x.shape[1]),
        (3, _) => (1, x.shape[1], x.shape[2]),
        (4, Layout::Nchw) => (x.shape[1], x.shape[2], x.shape[3]),
        (4, Layout::Nhwc) => (x.shape[3], x.shape[1], x.shape[2]),
        _ => {
            return Err(ReadError::new(
                ffile,
                format!(
                    "features of shape {:?}: give (N, F), (N, H, W) or (N, C, H, W)",
                    x.shape
                ),
            ))
        }
    };
    let f = c * h * w;
    // CHW index of element `e` of a sample in the file's order.
    let chw = |e: usize| match (x.shape.len(), layout) {
        (4, Layout::Nhwc) => {
            let (pix, ch) = (e / c, e % c);
            ch * h * w + pix
        }
        _ => e,
    };
    let values = match x.kind {
        Kind::Uint(1) => {
            let mut data = vec![0u8; n * f];
            for s in 0..n {
                for e in 0..f {
                    data[s * f + chw(e)] = x.data[s * f + e];
                }
            }
            if let Some(&big) = data.iter().find(|&&v| v as u32 > max_value) {
                return Err(ReadError::new(
                    ffile,
                    format!("a byte of {big} is above max_value {max_value}"),
                ));
            }
            Values::U8 { data, max_value }
        }
        _ => {
            let mut data = vec![0f32; n * f];
            for s in 0..n {
                for e in 0..f {
                    let v = x.f64_at(s * f + e);
                    let v32 = v as f32;
                    if v.is_finite() && !v32.is_finite() {
                        return Err(ReadError::new(ffile, format!("{v} does not fit a float32"))
                            .at(format!("sample {s}, element {e}")));
                    }
                    data[s * f + chw(e)] = v32;
                }
            }
            Values::F32(data)
        }
    };
    let (labels, classes) = byte_labels(lfile, (0..n).map(|i| Ok(y.int_at(i))), |i| {
        format!("label {i}")
    })?;
    Ok(Dataset {
        channels: c,
        height: h,
        width: w,
        classes,
        values,
        labels,
        class_names: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An .npy file as NumPy writes it: the header padded with spaces and a
    /// newline so that the data starts at a multiple of 64.
    pub fn npy(version: u8, descr: &str, fortran: bool, shape: &[usize], data: &[u8]) -> Vec<u8> {
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        let shape = if dims.len() == 1 {
            format!("({},)", dims[0])
        } else {
            format!("({})", dims.join(", "))
        };
        let mut header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        let prefix = if version == 1 { 10 } else { 12 };
        while (prefix + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY".to_vec();
        out.extend_from_slice(&[version, 0]);
        if version == 1 {
            out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn npy_reads_versions_1_and_2_and_the_kinds() {
        let p = Path::new("x.npy");
        for version in [1, 2] {
            let bytes = npy(
                version,
                "<f4",
                false,
                &[2, 3],
                &f32s(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.5]),
            );
            let a = parse_npy(p, &bytes).unwrap();
            assert_eq!((a.shape.clone(), a.kind), (vec![2, 3], Kind::F32));
            let labels = npy(
                version,
                "<i8",
                false,
                &[2],
                &[1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0],
            );
            let y = parse_npy(p, &labels).unwrap();
            let d = dataset((p, &a), (p, &y), Layout::Nchw, 255).unwrap();
            assert_eq!(d.values, Values::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.5]));
            assert_eq!((d.labels.clone(), d.classes, d.width), (vec![1, 3], 4, 3));
        }
        // uint8 images (N, H, W, C) become CHW bytes.
        let x = npy(1, "|u1", false, &[1, 1, 2, 3], &[1, 2, 3, 4, 5, 6]);
        let y = npy(1, "|u1", false, &[1], &[0]);
        let (x, y) = (
            parse_npy(Path::new("x"), &x).unwrap(),
            parse_npy(Path::new("y"), &y).unwrap(),
        );
        let d = dataset(
            (Path::new("x"), &x),
            (Path::new("y"), &y),
            Layout::Nhwc,
            255,
        )
        .unwrap();
        assert_eq!((d.channels, d.height, d.width), (3, 1, 2));
        assert_eq!(
            d.values,
            Values::U8 {
                data: vec![1, 4, 2, 5, 3, 6],
                max_value: 255
            }
        );
        // float64 and int32 labels.
        let x = npy(
            1,
            "<f8",
            false,
            &[2],
            &[0.25f64.to_le_bytes(), (-2.0f64).to_le_bytes()].concat(),
        );
        let y = npy(
            1,
            "<i4",
            false,
            &[2],
            &[[5, 0, 0, 0], [0, 0, 0, 0]].concat(),
        );
        let (x, y) = (
            parse_npy(Path::new("x"), &x).unwrap(),
            parse_npy(Path::new("y"), &y).unwrap(),
        );
        let d = dataset(
            (Path::new("x"), &x),
            (Path::new("y"), &y),
            Layout::Nchw,
            255,
        )
        .unwrap();
        assert_eq!(d.values, Values::F32(vec![0.25, -2.0]));
        assert_eq!(d.labels, vec![5, 0]);
    }

    #[test]
    fn npy_refuses_what_it_does_not_read_by_name() {
        let p = Path::new("x.npy");
        let data = f32s(&[1.0, 2.0]);
        for (bytes, expected) in [
            (npy(1, "<f4", true, &[2], &data), "Fortran-order"),
            (npy(1, ">f4", false, &[2], &data), "big-endian"),
            (npy(1, "<c8", false, &[1], &data), "unsupported dtype"),
            (
                npy(1, "<f4", false, &[3], &data),
                "needs 12 bytes of data, the file has 8",
            ),
            (
                npy(1, "<f4", false, &[1 << 40, 1 << 40], &data),
                "overflows",
            ),
            (
                b"\x93NUMPY\x01\x00\xff\xff{".to_vec(),
                "the header claims 65535 bytes",
            ),
            (b"PK\x03\x04".to_vec(), "not a NumPy .npy file"),
        ] {
            let e = parse_npy(p, &bytes).unwrap_err().to_string();
            assert!(e.contains(expected), "{e}");
        }
        let xb = npy(1, "<f4", false, &[2], &data);
        let x = parse_npy(p, &xb).unwrap();
        let three = npy(1, "<i8", false, &[3], &[0u8; 24]);
        let y3 = parse_npy(p, &three).unwrap();
        let e = dataset((p, &x), (p, &y3), Layout::Nchw, 255)
            .unwrap_err()
            .to_string();
        assert!(e.contains("3 labels for 2 samples"), "{e}");
        let yf = parse_npy(p, &xb).unwrap();
        let e = dataset((p, &x), (p, &yf), Layout::Nchw, 255)
            .unwrap_err()
            .to_string();
        assert!(e.contains("integer array"), "{e}");
        let nb = npy(
            1,
            "<i8",
            false,
            &[2],
            &[(-1i64).to_le_bytes(), 0i64.to_le_bytes()].concat(),
        );
        let neg = parse_npy(p, &nb).unwrap();
        let e = dataset((p, &x), (p, &neg), Layout::Nchw, 255)
            .unwrap_err()
            .to_string();
        assert!(e.contains("label 0: label -1 is not a class index"), "{e}");
    }
}
