//! The statement API the store is written against: `query`, `query_as`, `query_scalar` and
//! `raw_sql`, with `bind` and `execute` / `fetch_one` / `fetch_optional` / `fetch_all`.
//!
//! It has sqlx's shape (the store was written for sqlx and reads the same), but runs each
//! statement with `rusqlite` on the calling thread, through the connection's prepared-statement
//! cache. sqlx runs every SQLite connection on a thread of its own and hands each statement
//! over to it and back: four context switches a statement, most of a message's cost
//! (ARCHITECTURE.md, "Why not sqlx for statements"). sqlx still applies the migrations.
//!
//! A statement that writes on a connection outside a transaction first takes the database's
//! write gate (`db::Db`), as a transaction does, so in-process writers queue instead of
//! sleeping in SQLite's busy handler on the thread they share.

use crate::db::{Conn, Db, PoolConn};
use rusqlite::types::Value;
use std::marker::PhantomData;
use std::sync::Arc;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("error returned from database: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("no rows returned by a query that expected to return at least one row")]
    RowNotFound,
    #[error("error decoding column {index}: {message}")]
    ColumnDecode { index: String, message: String },
    #[error("no column found for name: {0}")]
    ColumnNotFound(String),
    #[error("{expected} arguments expected by the statement, {given} bound")]
    Arguments { expected: usize, given: usize },
    #[error("a statement that writes was given to `for_each`, which reads only")]
    NotReadOnly,
    #[error("timed out waiting for the database")]
    PoolTimedOut,
    #[error("the database is closed")]
    PoolClosed,
    #[error("cannot open the database: {0}")]
    Open(String),
}

/// What a statement run with `execute` did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Done {
    rows_affected: u64,
    last_insert_rowid: i64,
}

impl Done {
    pub fn rows_affected(&self) -> u64 {
        self.rows_affected
    }
    pub fn last_insert_rowid(&self) -> i64 {
        self.last_insert_rowid
    }
}

/// A result row, owned: its values and the statement's column names.
#[derive(Debug, Clone)]
pub struct Row {
    columns: Arc<[Box<str>]>,
    values: Vec<Value>,
}

/// A column by position or by name.
pub trait ColumnIndex {
    fn index(&self, row: &Row) -> Result<usize>;
    fn describe(&self) -> String;
}

impl ColumnIndex for usize {
    fn index(&self, row: &Row) -> Result<usize> {
        if *self < row.values.len() {
            Ok(*self)
        } else {
            Err(Error::ColumnNotFound(self.to_string()))
        }
    }
    fn describe(&self) -> String {
        self.to_string()
    }
}

impl ColumnIndex for &str {
    fn index(&self, row: &Row) -> Result<usize> {
        row.columns.iter().position(|c| &**c == *self).ok_or_else(|| Error::ColumnNotFound(self.to_string()))
    }
    fn describe(&self) -> String {
        format!("{self:?}")
    }
}

impl Row {
    pub fn try_get<'r, T: Decode<'r>, I: ColumnIndex>(&'r self, index: I) -> Result<T> {
        let i = index.index(self)?;
        T::decode(&self.values[i])
            .map_err(|message| Error::ColumnDecode { index: index.describe(), message: message.to_string() })
    }

    /// The column's value. Panics when the column is missing or of another type, as a wrong
    /// query would: a programming error, not bad input.
    pub fn get<'r, T: Decode<'r>, I: ColumnIndex>(&'r self, index: I) -> T {
        match self.try_get(index) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// A result row borrowed from SQLite while the statement steps (`Query::for_each_ref`):
/// columns by position, text as `&str` without a copy. For reads of hundreds of thousands of
/// rows, where building an owned [`Row`] (a `Value` and a `String` per column) costs more
/// than SQLite's own stepping.
pub struct RowRef<'s, 'r> {
    row: &'r rusqlite::Row<'s>,
}

impl RowRef<'_, '_> {
    fn value(&self, i: usize) -> Result<rusqlite::types::ValueRef<'_>> {
        Ok(self.row.get_ref(i)?)
    }

    fn bad<T>(i: usize, want: &str, v: rusqlite::types::ValueRef<'_>) -> Result<T> {
        let message = format!("expected {want}, found {:?}", v.data_type());
        Err(Error::ColumnDecode { index: i.to_string(), message })
    }

    /// An INTEGER column.
    pub fn int(&self, i: usize) -> Result<i64> {
        match self.value(i)? {
            rusqlite::types::ValueRef::Integer(n) => Ok(n),
            v => Self::bad(i, "INTEGER", v),
        }
    }

    /// An INTEGER column that may be NULL.
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.value(i)? {
            rusqlite::types::ValueRef::Null => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    /// A TEXT column.
    pub fn text(&self, i: usize) -> Result<&str> {
        match self.value(i)? {
            rusqlite::types::ValueRef::Text(t) => {
                std::str::from_utf8(t).map_err(|e| Error::ColumnDecode { index: i.to_string(), message: e.to_string() })
            }
            v => Self::bad(i, "TEXT", v),
        }
    }

    /// A TEXT column that may be NULL.
    pub fn opt_text(&self, i: usize) -> Result<Option<&str>> {
        match self.value(i)? {
            rusqlite::types::ValueRef::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }
}

/// A Rust value that can be bound to a statement parameter.
pub trait Encode {
    fn to_value(&self) -> Value;
}

macro_rules! encode_int {
    ($($t:ty),*) => {$(
        impl Encode for $t {
            fn to_value(&self) -> Value {
                Value::Integer(i64::from(*self))
            }
        }
    )*};
}
encode_int!(i64, i32, i16, i8, u32, u16, u8, bool);

impl Encode for u64 {
    fn to_value(&self) -> Value {
        // Beyond i64 only by a bug; saturate rather than wrap to a negative.
        Value::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl Encode for usize {
    fn to_value(&self) -> Value {
        Value::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl Encode for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}

impl Encode for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl Encode for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl Encode for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl Encode for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}

impl<T: Encode> Encode for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, Encode::to_value)
    }
}

impl<T: Encode + ?Sized> Encode for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

/// A Rust value read from a column; may borrow from the row.
pub trait Decode<'r>: Sized {
    fn decode(v: &'r Value) -> Result<Self, DecodeError>;
}

#[derive(Debug)]
pub struct DecodeError(String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NULL",
        Value::Integer(_) => "INTEGER",
        Value::Real(_) => "REAL",
        Value::Text(_) => "TEXT",
        Value::Blob(_) => "BLOB",
    }
}

fn mismatch<T>(want: &str, v: &Value) -> Result<T, DecodeError> {
    Err(DecodeError(format!("expected {want}, found {}", type_name(v))))
}

fn integer(v: &Value) -> Result<i64, DecodeError> {
    match v {
        Value::Integer(i) => Ok(*i),
        // An integral REAL (e.g. from arithmetic on a REAL column) reads as the integer it is.
        Value::Real(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(*f as i64),
        other => mismatch("INTEGER", other),
    }
}

macro_rules! decode_int {
    ($($t:ty),*) => {$(
        impl Decode<'_> for $t {
            fn decode(v: &Value) -> Result<Self, DecodeError> {
                let i = integer(v)?;
                <$t>::try_from(i).map_err(|_| DecodeError(format!("{i} out of range for {}", stringify!($t))))
            }
        }
    )*};
}
decode_int!(i64, i32, i16, i8, u64, u32, u16, u8, usize);

impl Decode<'_> for bool {
    fn decode(v: &Value) -> Result<Self, DecodeError> {
        integer(v).map(|i| i != 0)
    }
}

impl Decode<'_> for f64 {
    fn decode(v: &Value) -> Result<Self, DecodeError> {
        match v {
            Value::Real(f) => Ok(*f),
            Value::Integer(i) => Ok(*i as f64),
            other => mismatch("REAL", other),
        }
    }
}

impl<'r> Decode<'r> for &'r str {
    fn decode(v: &'r Value) -> Result<Self, DecodeError> {
        match v {
            Value::Text(s) => Ok(s),
            other => mismatch("TEXT", other),
        }
    }
}

impl Decode<'_> for String {
    fn decode(v: &Value) -> Result<Self, DecodeError> {
        match v {
            Value::Text(s) => Ok(s.clone()),
            // SQLite's dynamic typing: a number in a text column reads as its text.
            Value::Integer(i) => Ok(i.to_string()),
            Value::Real(f) => Ok(f.to_string()),
            other => mismatch("TEXT", other),
        }
    }
}

impl<'r> Decode<'r> for &'r [u8] {
    fn decode(v: &'r Value) -> Result<Self, DecodeError> {
        match v {
            Value::Blob(b) => Ok(b),
            Value::Text(s) => Ok(s.as_bytes()),
            other => mismatch("BLOB", other),
        }
    }
}

impl Decode<'_> for Vec<u8> {
    fn decode(v: &Value) -> Result<Self, DecodeError> {
        <&[u8]>::decode(v).map(<[u8]>::to_vec)
    }
}

impl<'r, T: Decode<'r>> Decode<'r> for Option<T> {
    fn decode(v: &'r Value) -> Result<Self, DecodeError> {
        match v {
            Value::Null => Ok(None),
            v => T::decode(v).map(Some),
        }
    }
}

/// A Rust value built from a whole row: tuples of owned column values.
pub trait FromRow: Sized {
    fn from_row(row: &Row) -> Result<Self>;
}

impl FromRow for Row {
    fn from_row(row: &Row) -> Result<Self> {
        Ok(row.clone())
    }
}

macro_rules! tuple_from_row {
    ($($n:tt $t:ident),+) => {
        impl<$($t: for<'r> Decode<'r>),+> FromRow for ($($t,)+) {
            fn from_row(row: &Row) -> Result<Self> {
                Ok(($(row.try_get::<$t, usize>($n)?,)+))
            }
        }
    };
}
tuple_from_row!(0 A);
tuple_from_row!(0 A, 1 B);
tuple_from_row!(0 A, 1 B, 2 C);
tuple_from_row!(0 A, 1 B, 2 C, 3 D);
tuple_from_row!(0 A, 1 B, 2 C, 3 D, 4 E);
tuple_from_row!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F);
tuple_from_row!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G);
tuple_from_row!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H);
tuple_from_row!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I);
tuple_from_row!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J);
tuple_from_row!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K);
tuple_from_row!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K, 11 L);
tuple_from_row!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K, 11 L, 12 M);
tuple_from_row!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K, 11 L, 12 M, 13 N);
tuple_from_row!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K, 11 L, 12 M, 13 N, 14 O);
tuple_from_row!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K, 11 L, 12 M, 13 N, 14 O, 15 P);

/// What a statement is asked for.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub enum Want {
    /// Run to completion; report changes.
    Done,
    /// Up to this many rows (`usize::MAX`: all).
    Rows(usize),
}

#[doc(hidden)]
pub enum Got {
    Done(Done),
    Rows(Vec<Row>),
}

/// Where a statement runs: a connection (a transaction's, or one taken from the pool) or the
/// pool itself (a connection is taken for the one statement).
#[allow(async_fn_in_trait)]
pub trait Executor: Send {
    #[doc(hidden)]
    fn run(self, sql: &str, args: Vec<Value>, want: Want) -> impl std::future::Future<Output = Result<Got>> + Send;
}

impl Executor for &mut Conn {
    async fn run(self, sql: &str, args: Vec<Value>, want: Want) -> Result<Got> {
        self.run_statement(sql, args, want).await
    }
}

impl Executor for &mut PoolConn {
    async fn run(self, sql: &str, args: Vec<Value>, want: Want) -> Result<Got> {
        (**self).run_statement(sql, args, want).await
    }
}

impl Executor for &Db {
    async fn run(self, sql: &str, args: Vec<Value>, want: Want) -> Result<Got> {
        let mut conn = self.acquire().await?;
        conn.run_statement(sql, args, want).await
    }
}

impl Conn {
    async fn run_statement(&mut self, sql: &str, args: Vec<Value>, want: Want) -> Result<Got> {
        // Outside a transaction a write takes the gate first, like `db::begin_write`.
        let writes_alone = self.raw().is_autocommit() && !self.raw().prepare_cached(sql)?.readonly();
        let gate = writes_alone.then(|| self.write_gate());
        let _gate = match gate {
            Some(g) => Some(g.await?),
            None => None,
        };
        // `BENCH_LOG=dudao::sql=debug` / `RUST_LOG=dudao::sql=debug`: every statement and its
        // time (never its arguments: they may carry personal data).
        let started = tracing::enabled!(target: "dudao::sql", tracing::Level::DEBUG).then(std::time::Instant::now);
        let got = self.run_sync(sql, &args, want);
        if let Some(t) = started {
            tracing::debug!(target: "dudao::sql", statement = sql, elapsed_us = t.elapsed().as_micros() as u64, ok = got.is_ok());
        }
        got
    }

    fn run_sync(&mut self, sql: &str, args: &[Value], want: Want) -> Result<Got> {
        let raw = self.raw();
        let mut stmt = raw.prepare_cached(sql)?;
        bind_all(&mut stmt, args)?;
        match want {
            Want::Done => {
                // Stepped to the end, so a statement with RETURNING runs as well.
                let mut rows = stmt.raw_query();
                while rows.next()?.is_some() {}
                drop(rows);
                Ok(Got::Done(Done { rows_affected: raw.changes(), last_insert_rowid: raw.last_insert_rowid() }))
            }
            Want::Rows(limit) => {
                let mut out = Vec::new();
                read_rows(stmt, |row| {
                    out.push(row);
                    Ok(out.len() < limit)
                })?;
                Ok(Got::Rows(out))
            }
        }
    }

    /// A read-only statement whose rows are handed to `f` one at a time, as SQLite steps.
    fn each_sync(&mut self, sql: &str, args: &[Value], f: &mut dyn FnMut(Row) -> Result<()>) -> Result<()> {
        let mut stmt = self.raw().prepare_cached(sql)?;
        if !stmt.readonly() {
            return Err(Error::NotReadOnly);
        }
        bind_all(&mut stmt, args)?;
        let started = tracing::enabled!(target: "dudao::sql", tracing::Level::DEBUG).then(std::time::Instant::now);
        let got = read_rows(stmt, |row| f(row).map(|()| true));
        if let Some(t) = started {
            tracing::debug!(target: "dudao::sql", statement = sql, elapsed_us = t.elapsed().as_micros() as u64, ok = got.is_ok());
        }
        got
    }
}

impl Conn {
    /// A read-only statement whose rows are lent to `f` one at a time, as SQLite steps.
    fn each_ref_sync(
        &mut self,
        sql: &str,
        args: &[Value],
        f: &mut dyn FnMut(&RowRef<'_, '_>) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self.raw().prepare_cached(sql)?;
        if !stmt.readonly() {
            return Err(Error::NotReadOnly);
        }
        bind_all(&mut stmt, args)?;
        let started = tracing::enabled!(target: "dudao::sql", tracing::Level::DEBUG).then(std::time::Instant::now);
        let mut read = 0u64;
        let got = lend_rows(&mut stmt, f, &mut read);
        if let Some(t) = started {
            tracing::debug!(target: "dudao::sql", statement = sql, rows = read, elapsed_us = t.elapsed().as_micros() as u64, ok = got.is_ok());
        }
        got
    }
}

/// Steps `stmt` (its arguments bound), lending each row to `f`; counts them in `read`.
fn lend_rows(
    stmt: &mut rusqlite::CachedStatement<'_>,
    f: &mut dyn FnMut(&RowRef<'_, '_>) -> Result<()>,
    read: &mut u64,
) -> Result<()> {
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next()? {
        *read += 1;
        f(&RowRef { row })?;
    }
    Ok(())
}

/// Binds `args` to `stmt`'s parameters in order; their number must match.
fn bind_all(stmt: &mut rusqlite::CachedStatement<'_>, args: &[Value]) -> Result<()> {
    let expected = stmt.parameter_count();
    if expected != args.len() {
        return Err(Error::Arguments { expected, given: args.len() });
    }
    for (i, v) in args.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, v)?;
    }
    Ok(())
}

/// Steps `stmt` (its arguments bound), building each row and handing it to `take` until it
/// answers `false` or the rows end.
fn read_rows(mut stmt: rusqlite::CachedStatement<'_>, mut take: impl FnMut(Row) -> Result<bool>) -> Result<()> {
    let n = stmt.column_count();
    let columns: Arc<[Box<str>]> = stmt.column_names().into_iter().map(Box::from).collect();
    let mut rows = stmt.raw_query();
    while let Some(r) = rows.next()? {
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            values.push(Value::from(r.get_ref(i)?));
        }
        if !take(Row { columns: columns.clone(), values })? {
            break;
        }
    }
    Ok(())
}

/// A statement with its bound arguments, answering rows.
#[must_use = "a query does nothing until executed or fetched"]
pub struct Query<'q> {
    sql: &'q str,
    args: Vec<Value>,
}

pub fn query(sql: &str) -> Query<'_> {
    Query { sql, args: Vec::new() }
}

impl<'q> Query<'q> {
    pub fn bind<T: Encode>(mut self, value: T) -> Self {
        self.args.push(value.to_value());
        self
    }

    pub async fn execute<E: Executor>(self, e: E) -> Result<Done> {
        match e.run(self.sql, self.args, Want::Done).await? {
            Got::Done(d) => Ok(d),
            Got::Rows(_) => unreachable!("asked for the outcome"),
        }
    }

    async fn rows<E: Executor>(self, e: E, limit: usize) -> Result<Vec<Row>> {
        match e.run(self.sql, self.args, Want::Rows(limit)).await? {
            Got::Rows(r) => Ok(r),
            Got::Done(_) => unreachable!("asked for rows"),
        }
    }

    pub async fn fetch_all<E: Executor>(self, e: E) -> Result<Vec<Row>> {
        self.rows(e, usize::MAX).await
    }

    /// Hands each row to `f` as it is read and keeps none: for long reads whose rows become
    /// smaller records (exports), so the raw rows never all sit in memory. Read-only statements.
    pub async fn for_each(self, conn: &mut Conn, mut f: impl FnMut(Row) -> Result<()> + Send) -> Result<()> {
        conn.each_sync(self.sql, &self.args, &mut f)
    }

    /// `for_each` lending each row as SQLite steps, without copying it out ([`RowRef`]).
    /// Read-only statements.
    pub async fn for_each_ref(
        self,
        conn: &mut Conn,
        mut f: impl FnMut(&RowRef<'_, '_>) -> Result<()> + Send,
    ) -> Result<()> {
        conn.each_ref_sync(self.sql, &self.args, &mut f)
    }

    /// `for_each` collecting what `f` makes of each row (`None` skips the row).
    pub async fn filter_map<T: Send>(
        self,
        conn: &mut Conn,
        mut f: impl FnMut(&Row) -> Option<T> + Send,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        conn.each_sync(self.sql, &self.args, &mut |r| {
            out.extend(f(&r));
            Ok(())
        })?;
        Ok(out)
    }

    pub async fn fetch_optional<E: Executor>(self, e: E) -> Result<Option<Row>> {
        Ok(self.rows(e, 1).await?.pop())
    }

    pub async fn fetch_one<E: Executor>(self, e: E) -> Result<Row> {
        self.fetch_optional(e).await?.ok_or(Error::RowNotFound)
    }
}

/// A statement whose rows are read as `O` (a tuple).
#[must_use = "a query does nothing until executed or fetched"]
pub struct QueryAs<'q, O> {
    inner: Query<'q>,
    _out: PhantomData<fn() -> O>,
}

pub fn query_as<O: FromRow>(sql: &str) -> QueryAs<'_, O> {
    QueryAs { inner: query(sql), _out: PhantomData }
}

impl<O: FromRow> QueryAs<'_, O> {
    pub fn bind<T: Encode>(mut self, value: T) -> Self {
        self.inner = self.inner.bind(value);
        self
    }

    pub async fn fetch_all<E: Executor>(self, e: E) -> Result<Vec<O>> {
        self.inner.fetch_all(e).await?.iter().map(O::from_row).collect()
    }

    pub async fn fetch_optional<E: Executor>(self, e: E) -> Result<Option<O>> {
        self.inner.fetch_optional(e).await?.as_ref().map(O::from_row).transpose()
    }

    pub async fn fetch_one<E: Executor>(self, e: E) -> Result<O> {
        O::from_row(&self.inner.fetch_one(e).await?)
    }
}

/// A statement whose rows are read as their first column, `O`.
#[must_use = "a query does nothing until executed or fetched"]
pub struct QueryScalar<'q, O> {
    inner: Query<'q>,
    _out: PhantomData<fn() -> O>,
}

pub fn query_scalar<O: for<'r> Decode<'r>>(sql: &str) -> QueryScalar<'_, O> {
    QueryScalar { inner: query(sql), _out: PhantomData }
}

fn first<O: for<'r> Decode<'r>>(row: &Row) -> Result<O> {
    row.try_get(0usize)
}

impl<O: for<'r> Decode<'r>> QueryScalar<'_, O> {
    pub fn bind<T: Encode>(mut self, value: T) -> Self {
        self.inner = self.inner.bind(value);
        self
    }

    pub async fn fetch_all<E: Executor>(self, e: E) -> Result<Vec<O>> {
        self.inner.fetch_all(e).await?.iter().map(first).collect()
    }

    pub async fn fetch_optional<E: Executor>(self, e: E) -> Result<Option<O>> {
        self.inner.fetch_optional(e).await?.as_ref().map(first).transpose()
    }

    pub async fn fetch_one<E: Executor>(self, e: E) -> Result<O> {
        first(&self.inner.fetch_one(e).await?)
    }
}

/// Several statements without arguments, run in order (a migration fix, a schema script).
#[must_use = "a script does nothing until executed"]
pub struct RawSql<'q>(&'q str);

pub fn raw_sql(sql: &str) -> RawSql<'_> {
    RawSql(sql)
}

impl RawSql<'_> {
    pub async fn execute(self, conn: &mut Conn) -> Result<()> {
        let gate = conn.raw().is_autocommit().then(|| conn.write_gate());
        let _gate = match gate {
            Some(g) => Some(g.await?),
            None => None,
        };
        conn.raw().execute_batch(self.0)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(values: Vec<Value>) -> Row {
        let columns: Arc<[Box<str>]> = (0..values.len()).map(|i| format!("c{i}").into_boxed_str()).collect();
        Row { columns, values }
    }

    #[test]
    fn decodes_like_the_store_expects() {
        let r = row(vec![Value::Integer(1), Value::Null, Value::Text("学校".into()), Value::Real(2.0)]);
        assert!(r.get::<bool, _>(0));
        assert_eq!(r.get::<Option<i64>, _>(1), None);
        assert_eq!(r.get::<&str, _>("c2"), "学校");
        assert_eq!(r.get::<i64, _>(3), 2);
        assert!(r.try_get::<i64, _>(1).is_err(), "NULL is not an integer");
        assert!(r.try_get::<i64, _>("missing").is_err());
        assert!(matches!(r.try_get::<u8, _>(0), Ok(1)));
        let (a, b): (i64, Option<String>) = FromRow::from_row(&row(vec![Value::Integer(7), Value::Null])).unwrap();
        assert_eq!((a, b), (7, None));
    }

    #[test]
    fn encodes_options_and_references() {
        assert_eq!(Some("甲").to_value(), Value::Text("甲".into()));
        assert_eq!(None::<i64>.to_value(), Value::Null);
        assert_eq!((&&5u32).to_value(), Value::Integer(5));
        assert_eq!(true.to_value(), Value::Integer(1));
    }
}
