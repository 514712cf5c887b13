//! Compact column builders of the JSON sources: a schema declared once
//! ([`table_schema!`]), sparse typed columns created on first use ([`Table`]),
//! and frames built by gathering ids from one string dictionary.

use polars::prelude::*;

use super::intern::NULL;

/// Type of a silver column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// String from [`super::intern::Strings`] (stored as an id).
    Str,
    /// String stored inline (values that never repeat, e.g. event ids).
    Text,
    I32,
    I64,
    F64,
    Bool,
    /// Days since the epoch.
    Date,
    /// Milliseconds since the epoch, UTC.
    Ts,
}

impl Kind {
    pub fn dtype(self) -> DataType {
        match self {
            Kind::Str | Kind::Text => DataType::String,
            Kind::I32 => DataType::Int32,
            Kind::I64 => DataType::Int64,
            Kind::F64 => DataType::Float64,
            Kind::Bool => DataType::Boolean,
            Kind::Date => DataType::Date,
            Kind::Ts => DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC)),
        }
    }
}

/// Column names and kinds of a table, in output order.
pub type Schema = &'static [(&'static str, Kind)];

/// `table_schema!(fb { event_date: Date, event_name: Str, … })` defines module
/// `fb` with `SCHEMA` and one index constant per column (`fb::event_name`).
macro_rules! table_schema {
    ($name:ident { $($col:ident : $kind:ident),* $(,)? }) => {
        #[allow(non_upper_case_globals, dead_code)]
        pub mod $name {
            use $crate::silver::columns::Kind;
            pub const SCHEMA: &[(&str, Kind)] = &[$((stringify!($col), Kind::$kind)),*];
            $crate::silver::columns::table_schema!(@idx 0usize; $($col)*);
        }
    };
    (@idx $n:expr; $first:ident $($rest:ident)*) => {
        pub const $first: usize = $n;
        $crate::silver::columns::table_schema!(@idx $n + 1usize; $($rest)*);
    };
    (@idx $n:expr;) => {};
}
pub(crate) use table_schema;

#[derive(Debug)]
enum Col {
    Str(ChunkVec<u32>),
    Text(ChunkVec<Option<Box<str>>>),
    I32(ChunkVec<Option<i32>>),
    I64(ChunkVec<Option<i64>>),
    F64(ChunkVec<Option<f64>>),
    Bool(ChunkVec<Option<bool>>),
}

impl Col {
    fn new(kind: Kind, nulls: usize) -> Col {
        let mut c = match kind {
            Kind::Str => Col::Str(ChunkVec::default()),
            Kind::Text => Col::Text(ChunkVec::default()),
            Kind::I32 | Kind::Date => Col::I32(ChunkVec::default()),
            Kind::I64 | Kind::Ts => Col::I64(ChunkVec::default()),
            Kind::F64 => Col::F64(ChunkVec::default()),
            Kind::Bool => Col::Bool(ChunkVec::default()),
        };
        for _ in 0..nulls {
            c.push_null();
        }
        c
    }
    fn len(&self) -> usize {
        match self {
            Col::Str(v) => v.len(),
            Col::Text(v) => v.len(),
            Col::I32(v) => v.len(),
            Col::I64(v) => v.len(),
            Col::F64(v) => v.len(),
            Col::Bool(v) => v.len(),
        }
    }
    fn push_null(&mut self) {
        match self {
            Col::Str(v) => v.push(NULL),
            Col::Text(v) => v.push(None),
            Col::I32(v) => v.push(None),
            Col::I64(v) => v.push(None),
            Col::F64(v) => v.push(None),
            Col::Bool(v) => v.push(None),
        }
    }
}

/// Rows of one partition: typed columns, created on their first value.
#[derive(Debug)]
pub struct Table {
    schema: Schema,
    len: usize,
    cols: Vec<Option<Col>>,
}

impl Table {
    pub fn new(schema: Schema) -> Table {
        Table {
            schema,
            len: 0,
            cols: schema.iter().map(|_| None).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The column `c` ready for the current row's value, or `None` when it
    /// already has one (the first value of a row wins).
    fn slot(&mut self, c: usize) -> Option<&mut Col> {
        let kind = self.schema.get(c)?.1;
        let len = self.len;
        let col = self.cols.get_mut(c)?;
        let col = col.get_or_insert_with(|| Col::new(kind, len));
        (col.len() == len).then_some(col)
    }

    pub fn set_str(&mut self, c: usize, id: u32) {
        if id == NULL {
            return;
        }
        if let Some(Col::Str(v)) = self.slot(c) {
            v.push(id);
        }
    }

    pub fn set_text(&mut self, c: usize, s: &str) {
        if let Some(Col::Text(v)) = self.slot(c) {
            v.push(Some(s.into()));
        }
    }

    pub fn set_i32(&mut self, c: usize, v: Option<i32>) {
        let Some(v) = v else { return };
        if let Some(Col::I32(x)) = self.slot(c) {
            x.push(Some(v));
        }
    }

    pub fn set_i64(&mut self, c: usize, v: Option<i64>) {
        let Some(v) = v else { return };
        if let Some(Col::I64(x)) = self.slot(c) {
            x.push(Some(v));
        }
    }

    pub fn set_f64(&mut self, c: usize, v: Option<f64>) {
        let Some(v) = v else { return };
        if let Some(Col::F64(x)) = self.slot(c) {
            x.push(Some(v));
        }
    }

    pub fn set_bool(&mut self, c: usize, v: Option<bool>) {
        let Some(v) = v else { return };
        if let Some(Col::Bool(x)) = self.slot(c) {
            x.push(Some(v));
        }
    }

    /// Close the current row: columns without a value get a null.
    pub fn end_row(&mut self) {
        self.len += 1;
        for c in self.cols.iter_mut().flatten() {
            while c.len() < self.len {
                c.push_null();
            }
        }
    }

    pub fn str_at(&self, c: usize, row: usize) -> u32 {
        match self.cols.get(c) {
            Some(Some(Col::Str(v))) => v.get(row).copied().unwrap_or(NULL),
            _ => NULL,
        }
    }

    pub fn text_at(&self, c: usize, row: usize) -> Option<&str> {
        match self.cols.get(c) {
            Some(Some(Col::Text(v))) => v.get(row)?.as_deref(),
            _ => None,
        }
    }

    pub fn i64_at(&self, c: usize, row: usize) -> Option<i64> {
        match self.cols.get(c) {
            Some(Some(Col::I64(v))) => v.get(row).copied().flatten(),
            Some(Some(Col::I32(v))) => v.get(row).copied().flatten().map(i64::from),
            _ => None,
        }
    }

    /// The frame of the rows `perm` (in that order).
    pub fn frame(&self, perm: &[u32], dict: &StringChunked) -> PolarsResult<DataFrame> {
        let n = perm.len();
        let mut columns = Vec::with_capacity(self.schema.len());
        for (c, (name, kind)) in self.schema.iter().enumerate() {
            let name: PlSmallStr = (*name).into();
            let col = match self.cols.get(c).and_then(Option::as_ref) {
                None => Column::full_null(name, n, &kind.dtype()),
                Some(col) => build_column(name, *kind, col, perm, dict)?,
            };
            columns.push(col);
        }
        DataFrame::new(n, columns)
    }
}

fn gather<'a, T: Copy>(v: &'a ChunkVec<T>, perm: &'a [u32]) -> impl Iterator<Item = T> + 'a {
    perm.iter().filter_map(move |&i| v.get(i as usize).copied())
}

/// A string column from ids into `dict` (one array of every interned
/// string): a constant column is a scalar (nothing materialised until it is
/// written), otherwise the rows gather views from `dict` and share its bytes.
pub fn str_column(name: PlSmallStr, ids: Vec<u32>, dict: &StringChunked) -> PolarsResult<Column> {
    let n = ids.len();
    let constant = ids.first().copied().filter(|f| ids.iter().all(|x| x == f));
    Ok(match constant {
        Some(NULL) => Column::full_null(name, n, &DataType::String),
        Some(id) if n > 1 => match dict.get(id as usize) {
            Some(s) => Column::new_scalar(
                name,
                Scalar::new(DataType::String, AnyValue::StringOwned(s.into())),
                n,
            ),
            None => Column::full_null(name, n, &DataType::String),
        },
        _ => {
            let idx = IdxCa::from_iter_options(
                "idx".into(),
                ids.into_iter().map(|x| (x != NULL).then_some(x as IdxSize)),
            );
            dict.take(&idx)?.with_name(name).into_column()
        }
    })
}

/// A date column; constant → scalar.
pub fn date_column(name: PlSmallStr, days: Vec<i32>) -> Column {
    let n = days.len();
    match days
        .first()
        .copied()
        .filter(|f| days.iter().all(|x| x == f))
    {
        Some(d) if n > 1 => {
            Column::new_scalar(name, Scalar::new(DataType::Date, AnyValue::Date(d)), n)
        }
        _ => Int32Chunked::from_vec(name, days).into_date().into_column(),
    }
}

/// A UTC millisecond timestamp column.
pub fn ts_column(name: PlSmallStr, ms: Vec<i64>) -> Column {
    Int64Chunked::from_vec(name, ms)
        .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
        .into_column()
}

fn build_column(
    name: PlSmallStr,
    kind: Kind,
    col: &Col,
    perm: &[u32],
    dict: &StringChunked,
) -> PolarsResult<Column> {
    let n = perm.len();
    Ok(match col {
        Col::Str(ids) => str_column(name, gather(ids, perm).collect(), dict)?,
        Col::Text(v) => StringChunked::from_iter_options(
            name,
            perm.iter()
                .map(|&i| v.get(i as usize).and_then(|s| s.as_deref())),
        )
        .into_column(),
        Col::I32(v) => {
            let ca = Int32Chunked::from_iter_options(name.clone(), gather(v, perm));
            if kind == Kind::Date {
                let first = perm
                    .first()
                    .and_then(|&i| v.get(i as usize).copied().flatten());
                match first.filter(|f| gather(v, perm).all(|x| x == Some(*f))) {
                    Some(d) if n > 1 => {
                        Column::new_scalar(name, Scalar::new(DataType::Date, AnyValue::Date(d)), n)
                    }
                    _ => ca.into_date().into_column(),
                }
            } else {
                ca.into_column()
            }
        }
        Col::I64(v) => {
            let ca = Int64Chunked::from_iter_options(name, gather(v, perm));
            if kind == Kind::Ts {
                ca.into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
                    .into_column()
            } else {
                ca.into_column()
            }
        }
        Col::F64(v) => Float64Chunked::from_iter_options(name, gather(v, perm)).into_column(),
        Col::Bool(v) => BooleanChunked::from_iter_options(name, gather(v, perm)).into_column(),
    })
}

/// Rows per chunk of a [`ChunkVec`].
const CHUNK_ROWS: usize = 1 << 16;

/// A vector grown in fixed chunks: no reallocation copies, and at most one
/// partly filled chunk (a `Vec` doubling wastes up to half its capacity).
#[derive(Debug)]
pub struct ChunkVec<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for ChunkVec<T> {
    fn default() -> Self {
        ChunkVec {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> ChunkVec<T> {
    pub fn push(&mut self, v: T) {
        match self.chunks.last_mut() {
            // The first chunk grows as a `Vec` does (small tables stay small).
            Some(c) if c.len() < CHUNK_ROWS => c.push(v),
            _ => {
                let mut c = if self.chunks.is_empty() {
                    Vec::new()
                } else {
                    Vec::with_capacity(CHUNK_ROWS)
                };
                c.push(v);
                self.chunks.push(c);
            }
        }
        self.len += 1;
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn get(&self, i: usize) -> Option<&T> {
        self.chunks.get(i / CHUNK_ROWS)?.get(i % CHUNK_ROWS)
    }
}

/// Bytes in 1 MiB chunks, addressed by a `u32` handle (chunk << 20 | offset).
#[derive(Debug, Default)]
pub struct ByteArena {
    chunks: Vec<Vec<u8>>,
}

const ARENA_BITS: u32 = 20;
const ARENA_CHUNK: usize = 1 << ARENA_BITS;

impl ByteArena {
    /// Store `b`; `None` when the arena is full (4096 chunks). A value over
    /// 1 MiB gets a chunk of its own.
    pub fn push(&mut self, b: &[u8]) -> Option<u32> {
        let fits = self
            .chunks
            .last()
            .is_some_and(|c| c.len() + b.len() <= ARENA_CHUNK);
        if !fits {
            if self.chunks.len() >= (1usize << (32 - ARENA_BITS)) {
                return None;
            }
            // The first chunk grows as a `Vec` does (small parts stay small).
            let cap = if self.chunks.is_empty() {
                0
            } else {
                ARENA_CHUNK.max(b.len())
            };
            self.chunks.push(Vec::with_capacity(cap));
        }
        let idx = self.chunks.len() - 1;
        let c = self.chunks.last_mut()?;
        let off = c.len();
        c.extend_from_slice(b);
        Some(((idx as u32) << ARENA_BITS) | off as u32)
    }

    pub fn get(&self, handle: u32, len: usize) -> &[u8] {
        let c = (handle >> ARENA_BITS) as usize;
        let off = (handle as usize) & (ARENA_CHUNK - 1);
        self.chunks
            .get(c)
            .and_then(|c| c.get(off..off + len))
            .unwrap_or_default()
    }
}

/// `<table>/event_date=YYYY-MM-DD`
pub fn date_partition(table: &str, day: i32) -> String {
    format!(
        "{table}/{}",
        crate::table::partition_path(&[("event_date", &super::from_epoch_days(day).to_string())])
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::silver::intern::Strings;
    use crate::silver::pseudo::Pseudonymizer;

    fn p() -> Pseudonymizer {
        Pseudonymizer::new(b"k")
    }

    table_schema!(t {
        d: Date,
        s: Str,
        x: Text,
        n: I64,
        f: F64,
        b: Bool,
        ts: Ts
    });

    #[test]
    fn tables_are_sparse_and_gather_from_one_dictionary() {
        let mut st = Strings::new(p());
        let mut tb = Table::new(t::SCHEMA);
        let a = st.text("alpha-long-enough-to-not-inline");
        let dev = st.pseudo("dev-1");
        assert_eq!(st.pseudo("dev-1"), dev);
        assert_eq!(st.pseudo(" - "), NULL);
        for i in 0..3 {
            tb.set_i32(t::d, Some(20_529));
            tb.set_str(t::s, if i == 1 { NULL } else { a });
            tb.set_text(t::x, &format!("id-{i}"));
            tb.set_i64(t::n, (i != 2).then_some(i));
            tb.set_i64(t::ts, Some(1_773_741_600_267));
            tb.end_row();
        }
        assert_eq!(tb.len(), 3);
        assert_eq!(tb.text_at(t::x, 2), Some("id-2"));
        let dict = st.dictionary();
        let df = tb.frame(&[2, 0, 1], &dict).unwrap();
        assert_eq!(df.height(), 3);
        let s = df.column("s").unwrap().str().unwrap().clone();
        assert_eq!(s.get(0), Some("alpha-long-enough-to-not-inline"));
        assert_eq!(s.get(2), None);
        assert_eq!(df.column("x").unwrap().str().unwrap().get(0), Some("id-2"));
        assert_eq!(df.column("f").unwrap().null_count(), 3);
        assert_eq!(df.column("d").unwrap().dtype(), &DataType::Date);
        assert_eq!(
            df.column("ts").unwrap().dtype(),
            &DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
        );
        assert_eq!(st.get(dev), Some(p().pseudo("dev-1").as_str()));
        // Writing a frame with scalar (constant) columns works and is deterministic.
        let mut a1 = tb.frame(&[0, 1, 2], &dict).unwrap();
        let mut a2 = tb.frame(&[0, 1, 2], &dict).unwrap();
        assert_eq!(
            crate::table::to_parquet(&mut a1).unwrap(),
            crate::table::to_parquet(&mut a2).unwrap()
        );
    }
}
