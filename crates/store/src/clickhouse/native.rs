//! Buffered `RowBinary` rows made into one block of ClickHouse's `Native` format, sorted by
//! the table's sort key, just before they are sent.
//!
//! Why: the server reads `RowBinary` row by row, one call per column of every row (the
//! events table has a few hundred array columns, most empty), grows each column as it goes,
//! then sorts the block by its key and permutes every column: on 18.16 that was over half of
//! the server's CPU per inserted event (measured with `perf`, see docs/clickhouse.md). A
//! `Native` block holds each column whole (an array column as its offsets, then all its
//! elements), which the server reads in bulk, and rows already in key order are written as
//! they are (the server checks the order before sorting). Both formats are in every
//! ClickHouse version. The rows stay `RowBinary` in the buffer (made on the parse threads,
//! one row at a time; a failed insert's rows are dropped by offset), and are converted here,
//! in the thread that sends them.

use super::row::{insert_columns, varint};
use crate::StoreError;

/// How one column is laid out in `RowBinary` and in `Native`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Layout {
    /// `String`: a length, then the bytes (the same in both formats).
    Str,
    /// A fixed-width value of so many bytes (`UInt64`, `DateTime`, `Int64`, `FixedString(n)`).
    Fixed(usize),
    /// `Array(T)`: in `RowBinary` a length then the elements; in `Native` the cumulative
    /// lengths (`UInt64`) of every row, then every element.
    Array(Elem),
}

/// The element of an array column.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Elem {
    Str,
    Fixed(usize),
}

fn fixed_width(ty: &str) -> Option<usize> {
    match ty {
        "UInt64" | "Int64" => Some(8),
        "UInt32" | "Int32" => Some(4),
        _ if ty.starts_with("DateTime") => Some(4),
        _ => ty
            .strip_prefix("FixedString(")?
            .strip_suffix(')')?
            .parse()
            .ok(),
    }
}

fn layout(ty: &str) -> Option<Layout> {
    if ty == "String" {
        return Some(Layout::Str);
    }
    if let Some(inner) = ty.strip_prefix("Array(").and_then(|t| t.strip_suffix(')')) {
        return Some(Layout::Array(if inner == "String" {
            Elem::Str
        } else {
            Elem::Fixed(fixed_width(inner)?)
        }));
    }
    fixed_width(ty).map(Layout::Fixed)
}

/// The layout of every column of [`insert_columns`], in order.
fn layouts() -> Result<Vec<Layout>, StoreError> {
    insert_columns()
        .iter()
        .map(|(n, t)| {
            layout(t).ok_or_else(|| {
                StoreError::Unsupported(format!("column {n} of type {t} has no Native layout"))
            })
        })
        .collect()
}

/// A `RowBinary` row being read.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn corrupt() -> StoreError {
    StoreError::Corrupt("a buffered ClickHouse row ends early".into())
}

impl<'a> Reader<'a> {
    #[inline]
    fn varint(&mut self) -> Result<u64, StoreError> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or_else(corrupt)?;
            self.pos += 1;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(corrupt())
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        let end = self.pos.checked_add(n).ok_or_else(corrupt)?;
        let s = self.buf.get(self.pos..end).ok_or_else(corrupt)?;
        self.pos = end;
        Ok(s)
    }

    /// A string with its length prefix, as it is encoded (the same bytes in `Native`).
    #[inline]
    fn encoded_str(&mut self) -> Result<&'a [u8], StoreError> {
        let start = self.pos;
        let n = usize::try_from(self.varint()?).map_err(|_| corrupt())?;
        self.take(n)?;
        Ok(&self.buf[start..self.pos])
    }
}

fn bin_str(out: &mut Vec<u8>, s: &str) {
    varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// `entity, dataset, ts, offset` of a row.
type Key<'a> = (&'a [u8], &'a [u8], u32, u64);

/// The sort key of a row (`entity, dataset, ts, offset`, the first four columns of
/// [`insert_columns`]), compared as ClickHouse compares them (strings bytewise).
fn sort_key<'a>(row: &'a [u8]) -> Result<Key<'a>, StoreError> {
    let mut r = Reader { buf: row, pos: 0 };
    let entity = r.encoded_str()?;
    let dataset = r.encoded_str()?;
    let ts = u32::from_le_bytes(r.take(4)?.try_into().map_err(|_| corrupt())?);
    let offset = u64::from_le_bytes(r.take(8)?.try_into().map_err(|_| corrupt())?);
    // Without their length prefix: a prefix would order by length first.
    let strip = |s: &'a [u8]| -> Result<&'a [u8], StoreError> {
        let mut r = Reader { buf: s, pos: 0 };
        r.varint()?;
        Ok(&s[r.pos..])
    };
    Ok((strip(entity)?, strip(dataset)?, ts, offset))
}

/// The buffers [`block_into`] fills, kept from one batch to the next: a batch's block is a
/// few hundred MB (every array column holds an 8-byte offset per row), and buffers made
/// afresh for each batch were a third of ziaxdr's CPU on the ClickHouse path (the pages
/// zeroed by the kernel as they grew, and the copies of `Vec` growth; `perf record` on the
/// store bench, docs/clickhouse.md).
#[derive(Default)]
pub struct Scratch {
    /// Per column: its elements (or values).
    data: Vec<Vec<u8>>,
    /// Per array column: the cumulative element counts, as little-endian `UInt64`s.
    offsets: Vec<Vec<u8>>,
    /// The block.
    out: Vec<u8>,
}

/// One `Native` block of the rows of `body` (each starting at its `starts` entry, the next
/// one's start or the end of `body` ending it), in the order of the table's sort key.
#[cfg(test)]
pub fn block(body: &[u8], starts: &[usize]) -> Result<Vec<u8>, StoreError> {
    let mut scratch = Scratch::default();
    block_into(&mut scratch, body, starts).map(<[u8]>::to_vec)
}

/// [`block`], made in `scratch`'s buffers (emptied first, their capacity kept).
pub fn block_into<'s>(
    scratch: &'s mut Scratch,
    body: &[u8],
    starts: &[usize],
) -> Result<&'s [u8], StoreError> {
    let layouts = layouts()?;
    let rows: Vec<&[u8]> = starts
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let end = starts.get(i + 1).copied().unwrap_or(body.len());
            body.get(s..end).ok_or_else(corrupt)
        })
        .collect::<Result<_, _>>()?;
    let mut keyed = rows
        .iter()
        .map(|r| Ok((sort_key(r)?, *r)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    // Stable: rows of one key keep the order they came in, as the server's sort would.
    keyed.sort_by(|a, b| a.0.cmp(&b.0));

    let Scratch { data, offsets, out } = scratch;
    data.resize_with(layouts.len(), Vec::new);
    offsets.resize_with(layouts.len(), Vec::new);
    for (c, l) in layouts.iter().enumerate() {
        data[c].clear();
        offsets[c].clear();
        if let Layout::Array(_) = l {
            offsets[c].reserve(keyed.len() * 8);
        }
    }
    let mut totals = vec![0u64; layouts.len()];
    for (_, row) in &keyed {
        let mut r = Reader { buf: row, pos: 0 };
        for (c, l) in layouts.iter().enumerate() {
            match *l {
                Layout::Str => {
                    let s = r.encoded_str()?;
                    data[c].extend_from_slice(s);
                }
                Layout::Fixed(w) => data[c].extend_from_slice(r.take(w)?),
                Layout::Array(e) => {
                    let n = r.varint()?;
                    if n > 0 {
                        let start = r.pos;
                        match e {
                            Elem::Str => {
                                for _ in 0..n {
                                    r.encoded_str()?;
                                }
                            }
                            Elem::Fixed(w) => {
                                let len = usize::try_from(n)
                                    .ok()
                                    .and_then(|n| n.checked_mul(w))
                                    .ok_or_else(corrupt)?;
                                r.take(len)?;
                            }
                        }
                        data[c].extend_from_slice(&row[start..r.pos]);
                        totals[c] += n;
                    }
                    offsets[c].extend_from_slice(&totals[c].to_le_bytes());
                }
            }
        }
        if r.pos != row.len() {
            return Err(StoreError::Corrupt(
                "a buffered ClickHouse row is longer than its columns".into(),
            ));
        }
    }

    let size: usize = data.iter().map(Vec::len).sum::<usize>()
        + offsets.iter().map(Vec::len).sum::<usize>()
        + 64 * layouts.len();
    out.clear();
    out.reserve(size);
    varint(out, layouts.len() as u64);
    varint(out, keyed.len() as u64);
    for (c, (name, ty)) in insert_columns().iter().enumerate() {
        bin_str(out, name);
        bin_str(out, ty);
        out.extend_from_slice(&offsets[c]);
        out.extend_from_slice(&data[c]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_of_the_events_table_has_a_native_layout() {
        assert_eq!(layouts().unwrap().len(), insert_columns().len());
        assert_eq!(
            layout("Array(FixedString(32))"),
            Some(Layout::Array(Elem::Fixed(32)))
        );
        assert_eq!(layout("DateTime('UTC')"), Some(Layout::Fixed(4)));
    }

    /// A `RowBinary` row of the events table with every column empty but its key.
    fn row(entity: &str, ts: u32, offset: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for (c, l) in layouts().unwrap().iter().enumerate() {
            match (c, l) {
                (0, _) => bin_str(&mut out, entity),
                (2, _) => out.extend_from_slice(&ts.to_le_bytes()),
                (3, _) => out.extend_from_slice(&offset.to_le_bytes()),
                (_, Layout::Str) => bin_str(&mut out, ""),
                (_, Layout::Fixed(w)) => out.extend(std::iter::repeat_n(0, *w)),
                (_, Layout::Array(_)) => varint(&mut out, 0),
            }
        }
        out
    }

    #[test]
    fn rows_come_out_in_the_order_of_the_sort_key() {
        let (a, b, c) = (row("b", 5, 1), row("a", 9, 2), row("a", 7, 3));
        let body = [a.clone(), b.clone(), c.clone()].concat();
        let out = block(&body, &[0, a.len(), a.len() + b.len()]).unwrap();
        // Header: 2 counts, then the columns `entity` and `dataset` (names and types).
        let mut r = Reader { buf: &out, pos: 0 };
        assert_eq!(r.varint().unwrap() as usize, insert_columns().len());
        assert_eq!(r.varint().unwrap(), 3);
        let col = |r: &mut Reader| {
            r.encoded_str().unwrap();
            r.encoded_str().unwrap();
        };
        col(&mut r);
        let entities: Vec<&[u8]> = (0..3).map(|_| r.encoded_str().unwrap()).collect();
        assert_eq!(entities, vec![b"\x01a" as &[u8], b"\x01a", b"\x01b"]);
        col(&mut r);
        (0..3).for_each(|_| {
            r.encoded_str().unwrap();
        });
        col(&mut r);
        let ts: Vec<&[u8]> = (0..3).map(|_| r.take(4).unwrap()).collect();
        assert_eq!(
            ts,
            vec![
                &7u32.to_le_bytes()[..],
                &9u32.to_le_bytes(),
                &5u32.to_le_bytes()
            ]
        );
    }

    #[test]
    fn an_array_column_is_its_cumulative_lengths_then_its_elements() {
        let cols = layouts().unwrap();
        let arr = cols
            .iter()
            .position(|l| *l == Layout::Array(Elem::Str))
            .unwrap();
        let with = |n: u64| {
            let mut out = Vec::new();
            for (c, l) in cols.iter().enumerate() {
                match l {
                    Layout::Str => bin_str(&mut out, ""),
                    Layout::Fixed(w) => out.extend(std::iter::repeat_n(0, *w)),
                    Layout::Array(_) if c == arr => {
                        varint(&mut out, n);
                        (0..n).for_each(|_| bin_str(&mut out, "x"));
                    }
                    Layout::Array(_) => varint(&mut out, 0),
                }
            }
            out
        };
        let (a, b) = (with(2), with(1));
        let out = block(&[a.clone(), b].concat(), &[0, a.len()]).unwrap();
        let mut lengths = 2u64.to_le_bytes().to_vec();
        lengths.extend_from_slice(&3u64.to_le_bytes());
        lengths.extend_from_slice(b"\x01x\x01x\x01x");
        let header = {
            let mut h = Vec::new();
            bin_str(&mut h, &insert_columns()[arr].0);
            bin_str(&mut h, insert_columns()[arr].1);
            h
        };
        let at = out.windows(header.len()).position(|w| w == header).unwrap() + header.len();
        assert_eq!(&out[at..at + lengths.len()], &lengths[..]);
    }

    #[test]
    fn buffers_kept_from_a_larger_batch_make_the_same_block_as_fresh_ones() {
        let (a, b, c) = (row("b", 5, 1), row("a", 9, 2), row("a", 7, 3));
        let big = [a.clone(), b.clone(), c.clone()].concat();
        let small = [c.clone(), a.clone()].concat();
        let mut scratch = Scratch::default();
        block_into(&mut scratch, &big, &[0, a.len(), a.len() + b.len()]).unwrap();
        let reused = block_into(&mut scratch, &small, &[0, c.len()])
            .unwrap()
            .to_vec();
        assert_eq!(reused, block(&small, &[0, c.len()]).unwrap());
    }

    #[test]
    fn a_truncated_row_is_an_error_not_a_panic() {
        let mut row = Vec::new();
        varint(&mut row, 3);
        row.extend_from_slice(b"ab");
        assert!(block(&row, &[0]).is_err());
    }
}
