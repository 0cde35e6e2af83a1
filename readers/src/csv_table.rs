//! A CSV table: one sample a row, a label column (by name or index, the
//! last by default) holding integer class indices, every other column a
//! number. Ragged rows, empty or non-numeric cells and labels that are not
//! integers are refused with the line and column.

use std::path::Path;

use crate::{byte_labels, Dataset, ReadError, Values};

/// Which column holds the labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelColumn {
    /// The column with this header.
    Name(String),
    /// The column at this index (0 is the first).
    Index(usize),
    /// The last column.
    Last,
}

/// How to read a table.
#[derive(Clone, Debug)]
pub struct CsvOptions {
    pub label: LabelColumn,
    /// Whether the first line names the columns.
    pub header: bool,
    /// The field separator, e.g. `b','` or `b';'`.
    pub delimiter: u8,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            label: LabelColumn::Last,
            header: true,
            delimiter: b',',
        }
    }
}

/// Reads the file at `path`.
pub fn read_csv(path: &Path, options: &CsvOptions) -> Result<Dataset, ReadError> {
    parse_csv(path, &crate::read_file(path)?, options)
}

/// Parses `bytes` (the contents of `file`, named in errors).
pub fn parse_csv(file: &Path, bytes: &[u8], options: &CsvOptions) -> Result<Dataset, ReadError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(options.header)
        .delimiter(options.delimiter)
        .flexible(false)
        .from_reader(bytes);
    let err = |e: csv::Error| {
        let at = e.position().map(|p| format!("line {}", p.line()));
        let what = match e.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!("a row of {len} fields where the first has {expected_len} (ragged rows)"),
            csv::ErrorKind::Utf8 { .. } => "not UTF-8 text".to_string(),
            _ => e.to_string(),
        };
        let e = ReadError::new(file, what);
        match at {
            Some(at) => e.at(at),
            None => e,
        }
    };
    let names: Vec<String> = if options.header {
        reader
            .headers()
            .map_err(err)?
            .iter()
            .map(|h| h.trim().to_string())
            .collect()
    } else {
        Vec::new()
    };
    let mut records = reader.records();
    let first = match records.next() {
        Some(r) => r.map_err(err)?,
        None => return Err(ReadError::new(file, "no rows of data")),
    };
    let columns = first.len();
    if columns < 2 {
        return Err(ReadError::new(
            file,
            "a table needs a label column and at least one feature column",
        ));
    }
    let label = match &options.label {
        LabelColumn::Last => columns - 1,
        LabelColumn::Index(i) if *i < columns => *i,
        LabelColumn::Index(i) => {
            return Err(ReadError::new(
                file,
                format!("label column {i} is past the table's {columns} columns"),
            ))
        }
        LabelColumn::Name(n) => names.iter().position(|h| h == n).ok_or_else(|| {
            ReadError::new(
                file,
                if names.is_empty() {
                    format!(
                        "label column {n:?} named, but the table has no header (header = false)"
                    )
                } else {
                    format!("no column named {n:?} (the header has {names:?})")
                },
            )
        })?,
    };
    let column = |c: usize| match names.get(c) {
        Some(n) => format!("column {c} ({n:?})"),
        None => format!("column {c}"),
    };
    let mut values = Vec::new();
    let mut labels = Vec::new();
    let mut lines = Vec::new();
    for record in std::iter::once(Ok(first)).chain(records) {
        let record = record.map_err(err)?;
        let line = record.position().map_or(0, |p| p.line());
        for (c, cell) in record.iter().enumerate() {
            let cell = cell.trim();
            let at = || format!("line {line}, {}", column(c));
            if cell.is_empty() {
                return Err(ReadError::new(file, "an empty cell").at(at()));
            }
            if c == label {
                labels.push(integer(cell));
                continue;
            }
            let v: f32 = cell
                .parse()
                .map_err(|_| ReadError::new(file, format!("{cell:?} is not a number")).at(at()))?;
            values.push(v);
        }
        lines.push(line);
    }
    let (labels, classes) = byte_labels(file, labels.into_iter(), |i| {
        format!("line {}, {}", lines[i], column(label))
    })?;
    Ok(Dataset {
        channels: 1,
        height: 1,
        width: columns - 1,
        classes,
        values: Values::F32(values),
        labels,
        class_names: Vec::new(),
    })
}

/// An integer label: `3`, or a float with no fraction (`3.0`).
fn integer(cell: &str) -> Result<i128, String> {
    if let Ok(i) = cell.parse::<i128>() {
        return Ok(i);
    }
    match cell.parse::<f64>() {
        Ok(x) if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e30 => Ok(x as i128),
        _ => Err(format!("label {cell:?} is not an integer class index")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, options: &CsvOptions) -> Result<Dataset, String> {
        parse_csv(Path::new("t.csv"), text.as_bytes(), options).map_err(|e| e.to_string())
    }

    #[test]
    fn csv_reads_features_and_labels_by_name_index_or_last() {
        let text = "a,label,b\n1.5,2,-3\n0,0,4e2\n";
        let by_name = CsvOptions {
            label: LabelColumn::Name("label".into()),
            ..CsvOptions::default()
        };
        let d = parse(text, &by_name).unwrap();
        assert_eq!(d.values, Values::F32(vec![1.5, -3.0, 0.0, 400.0]));
        assert_eq!((d.labels.clone(), d.classes, d.width), (vec![2, 0], 3, 2));
        let by_index = CsvOptions {
            label: LabelColumn::Index(1),
            ..CsvOptions::default()
        };
        assert_eq!(parse(text, &by_index).unwrap(), d);
        let no_header = CsvOptions {
            header: false,
            delimiter: b';',
            ..CsvOptions::default()
        };
        let d = parse("1;2;1\n3;4;0.0\n", &no_header).unwrap();
        assert_eq!(d.values, Values::F32(vec![1.0, 2.0, 3.0, 4.0]));
        assert_eq!(d.labels, vec![1, 0]);
    }

    #[test]
    fn csv_refuses_bad_tables_naming_the_line_and_column() {
        let o = CsvOptions::default();
        for (text, expected) in [
            (
                "a,y\n1,0\n2,1,5\n",
                "t.csv: line 3: a row of 3 fields where the first has 2",
            ),
            (
                "a,y\n1,0\nx,1\n",
                "t.csv: line 3, column 0 (\"a\"): \"x\" is not a number",
            ),
            ("a,y\n1,0\n,1\n", "line 3, column 0 (\"a\"): an empty cell"),
            (
                "a,y\n1,0.5\n",
                "line 2, column 1 (\"y\"): label \"0.5\" is not an integer",
            ),
            ("a,y\n1,-1\n", "label -1 is not a class index"),
            ("a,y\n1,300\n", "label 300 is not a class index"),
            ("a,y\n", "no rows of data"),
            ("y\n1\n", "needs a label column and at least one feature"),
        ] {
            let e = parse(text, &o).unwrap_err();
            assert!(e.contains(expected), "{text:?}: {e}");
        }
        let named = CsvOptions {
            label: LabelColumn::Name("class".into()),
            ..CsvOptions::default()
        };
        assert!(parse("a,y\n1,0\n", &named)
            .unwrap_err()
            .contains("no column named \"class\""));
        // NaN reads (the data command counts it); ICLS refuses it.
        let d = parse("a,y\nnan,0\n", &o).unwrap();
        assert_eq!(d.first_non_finite(), Some((0, 0)));
        assert!(d
            .to_icls(Path::new("t.csv"))
            .unwrap_err()
            .to_string()
            .contains("NaN"));
    }
}
