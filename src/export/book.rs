//! Writing tables and charts into a workbook: one header row (bold, frozen, filtered), column
//! widths, number formats for counts, percentages, days and dates, and native Excel charts that
//! reference the table's cells (so the chart follows an edited figure).

use chrono::{Datelike, NaiveDate};
use rust_xlsxwriter::{
    Chart, ChartType, ExcelDateTime, Format, FormatAlign, FormatBorder, Workbook, Worksheet, XlsxError,
};

use crate::domain::stats::Rate;

/// One cell of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    /// A share, written as a number in percent format; "—" when there is nothing to divide by.
    Rate(Rate),
    /// A value held in tenths (days), written with one decimal; "—" when absent.
    Tenths(Option<u64>),
    Date(NaiveDate),
    Empty,
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }

    pub fn int(n: impl Into<i64>) -> Cell {
        Cell::Int(n.into())
    }

    pub fn opt_date(d: Option<NaiveDate>) -> Cell {
        d.map_or(Cell::Empty, Cell::Date)
    }
}

/// A column: its header and width (in characters; a Chinese character counts about two).
pub type Col = (&'static str, f64);

/// Where a table landed, for charts that reference it.
#[derive(Debug, Clone)]
pub struct Table {
    pub sheet: String,
    /// Data rows (the header is row 0).
    pub rows: u32,
    pub cols: u16,
}

impl Table {
    /// The data cells of column `col`, rows `first..=last` counted from the first data row (0).
    pub fn range(&self, col: u16, first: u32, last: u32) -> (&str, u32, u16, u32, u16) {
        (self.sheet.as_str(), first + 1, col, last + 1, col)
    }

    /// The header cell of column `col` (a series name).
    pub fn header(&self, col: u16) -> (&str, u32, u16) {
        (self.sheet.as_str(), 0, col)
    }
}

pub struct Book {
    pub wb: Workbook,
    formats: Formats,
}

struct Formats {
    header: Format,
    pct: Format,
    tenths: Format,
    date: Format,
    wrap: Format,
    title: Format,
}

impl Default for Book {
    fn default() -> Self {
        Self::new()
    }
}

impl Book {
    pub fn new() -> Book {
        Book {
            wb: Workbook::new(),
            formats: Formats {
                header: Format::new()
                    .set_bold()
                    .set_background_color(0xDDEBF7)
                    .set_border(FormatBorder::Thin)
                    .set_align(FormatAlign::Center)
                    .set_align(FormatAlign::VerticalCenter)
                    .set_text_wrap(),
                pct: Format::new().set_num_format("0.0%"),
                tenths: Format::new().set_num_format("0.0"),
                date: Format::new().set_num_format("yyyy-mm-dd"),
                wrap: Format::new().set_text_wrap().set_align(FormatAlign::Top),
                title: Format::new().set_bold().set_font_size(14),
            },
        }
    }

    /// The 说明 sheet: a title, then label / text lines.
    pub fn notes(&mut self, name: &str, title: &str, lines: &[(String, String)]) -> Result<(), XlsxError> {
        let f = &self.formats;
        let ws = self.wb.add_worksheet();
        ws.set_name(name)?;
        ws.set_column_width(0, 16)?;
        ws.set_column_width(1, 100)?;
        ws.write_string_with_format(0, 0, title, &f.title)?;
        for (i, (k, v)) in lines.iter().enumerate() {
            let r = i as u32 + 2;
            ws.write_string_with_format(r, 0, k, &f.header)?;
            ws.write_string_with_format(r, 1, v, &f.wrap)?;
        }
        Ok(())
    }

    /// A sheet holding one table. Long text columns (width ≥ 30) wrap.
    pub fn table(&mut self, name: &str, cols: &[Col], rows: &[Vec<Cell>]) -> Result<Table, XlsxError> {
        let ws = self.wb.add_worksheet();
        self.formats.write_table(ws, name, cols, rows.iter())
    }

    /// A long detail table (a row per visit or per item), written as `rows` yields them into
    /// rust_xlsxwriter's constant-memory worksheet, which keeps only the current row and puts
    /// the rest in a temporary file: a province's rows never sit in memory as cells. Charts
    /// reference [`Book::table`]s, whose cells the workbook keeps for the charts' caches.
    pub fn stream(
        &mut self,
        name: &str,
        cols: &[Col],
        rows: impl Iterator<Item = Vec<Cell>>,
    ) -> Result<Table, XlsxError> {
        let ws = self.wb.add_worksheet_with_constant_memory()?;
        self.formats.write_table(ws, name, cols, rows)
    }

    /// Inserts `chart` on `table`'s sheet, to the right of the table.
    pub fn chart(&mut self, table: &Table, chart: &Chart) -> Result<(), XlsxError> {
        let ws = self.wb.worksheet_from_name(&table.sheet)?;
        ws.insert_chart(1, table.cols + 1, chart)?;
        Ok(())
    }

    pub fn save(mut self) -> Result<Vec<u8>, XlsxError> {
        self.wb.save_to_buffer()
    }
}

impl Formats {
    /// Header row (bold, frozen, filtered), column widths, then the rows in order.
    fn write_table<R: AsRef<[Cell]>>(
        &self,
        ws: &mut Worksheet,
        name: &str,
        cols: &[Col],
        rows: impl Iterator<Item = R>,
    ) -> Result<Table, XlsxError> {
        ws.set_name(name)?;
        for (c, (h, w)) in cols.iter().enumerate() {
            let c = c as u16;
            ws.write_string_with_format(0, c, *h, &self.header)?;
            ws.set_column_width(c, *w)?;
        }
        ws.set_row_height(0, 30)?;
        ws.set_freeze_panes(1, 0)?;
        let mut count = 0u32;
        for row in rows {
            count += 1;
            for (c, cell) in row.as_ref().iter().enumerate() {
                let c = c as u16;
                self.write_cell(ws, count, c, cell, cols.get(usize::from(c)).is_some_and(|(_, w)| *w >= 30.0))?;
            }
        }
        let last_col = cols.len().saturating_sub(1) as u16;
        if count > 0 {
            ws.autofilter(0, 0, count, last_col)?;
        }
        Ok(Table { sheet: name.to_string(), rows: count, cols: cols.len() as u16 })
    }

    fn write_cell(&self, ws: &mut Worksheet, r: u32, c: u16, cell: &Cell, long: bool) -> Result<(), XlsxError> {
        match cell {
            Cell::Text(s) if long => ws.write_string_with_format(r, c, fit(s), &self.wrap)?,
            Cell::Text(s) => ws.write_string(r, c, fit(s))?,
            Cell::Int(n) => ws.write_number(r, c, *n as f64)?,
            Cell::Rate(rate) => match rate.value() {
                Some(v) => ws.write_number_with_format(r, c, v, &self.pct)?,
                None => ws.write_string(r, c, "—")?,
            },
            Cell::Tenths(Some(t)) => ws.write_number_with_format(r, c, *t as f64 / 10.0, &self.tenths)?,
            Cell::Tenths(None) => ws.write_string(r, c, "—")?,
            Cell::Date(d) => ws.write_datetime_with_format(r, c, &excel_date(*d)?, &self.date)?,
            Cell::Empty => ws,
        };
        Ok(())
    }
}

/// Excel holds at most 32,767 characters in a cell; longer text (a very long visit narrative)
/// is cut, on a character boundary, with a mark.
fn fit(s: &str) -> std::borrow::Cow<'_, str> {
    const MAX: usize = 32_000;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => std::borrow::Cow::Owned(format!("{}…（已截断）", &s[..i])),
        None => std::borrow::Cow::Borrowed(s),
    }
}

fn excel_date(d: NaiveDate) -> Result<ExcelDateTime, XlsxError> {
    let year = u16::try_from(d.year()).map_err(|_| XlsxError::ParameterError(format!("date out of range: {d}")))?;
    ExcelDateTime::from_ymd(year, d.month() as u8, d.day() as u8)
}

/// A chart of one or more value columns of `table`'s data rows `first..=last` against the
/// categories in `cat_col`. `percent` formats the value axis as a percentage.
pub fn chart(
    kind: ChartType,
    title: &str,
    table: &Table,
    cat_col: u16,
    value_cols: &[u16],
    (first, last): (u32, u32),
    percent: bool,
) -> Chart {
    let mut c = Chart::new(kind);
    c.title().set_name(title);
    for col in value_cols {
        c.add_series()
            .set_name(table.header(*col))
            .set_categories(table.range(cat_col, first, last))
            .set_values(table.range(*col, first, last));
    }
    if percent {
        c.y_axis().set_num_format("0%").set_min(0);
    }
    if value_cols.len() == 1 {
        c.legend().set_hidden();
    }
    c.set_width(640).set_height(360);
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{open_workbook_from_rs, Data, Reader, Xlsx};

    #[test]
    fn cells_as_written_and_read_back() {
        let mut b = Book::new();
        let long = "问".repeat(40_000);
        let d = NaiveDate::from_ymd_opt(2026, 11, 5).unwrap();
        let rows = vec![
            vec![Cell::text("甲"), Cell::int(3), Cell::Rate(Rate::new(1, 4)), Cell::Date(d), Cell::Tenths(Some(15))],
            vec![Cell::text(long.clone()), Cell::Empty, Cell::Rate(Rate::new(0, 0)), Cell::Empty, Cell::Tenths(None)],
        ];
        let t = b.table("表", &[("名称", 40.0), ("数", 8.0), ("率", 8.0), ("日期", 11.0), ("天", 8.0)], &rows).unwrap();
        assert_eq!((t.rows, t.cols), (2, 5));
        assert_eq!(t.range(2, 0, 1), ("表", 1, 2, 2, 2));
        let bytes = b.save().unwrap();
        let mut wb: Xlsx<_> = open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
        let r = wb.worksheet_range("表").unwrap();
        assert_eq!(r.get((0, 0)), Some(&Data::String("名称".into())));
        assert_eq!(r.get((1, 1)), Some(&Data::Float(3.0)));
        assert_eq!(r.get((1, 2)), Some(&Data::Float(0.25)));
        assert!(matches!(r.get((1, 3)), Some(Data::DateTime(x)) if x.as_f64() == 46331.0), "{:?}", r.get((1, 3)));
        assert_eq!(r.get((1, 4)), Some(&Data::Float(1.5)));
        assert_eq!(r.get((2, 2)), Some(&Data::String("—".into())));
        assert_eq!(r.get((2, 4)), Some(&Data::String("—".into())));
        // Cut to what a cell holds, on a character boundary, marked.
        let Some(Data::String(s)) = r.get((2, 0)) else { panic!("{:?}", r.get((2, 0))) };
        assert!(s.chars().count() < 32_767 && s.ends_with("（已截断）") && s.starts_with("问问"));
    }

    #[test]
    fn a_streamed_table_reads_back_like_a_kept_one() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let row = |i: i64| vec![Cell::text(format!("东风小学{i}号楼")), Cell::int(i), Cell::Date(d), Cell::Empty];
        let cols = [("学校", 30.0), ("数", 8.0), ("日期", 11.0), ("备注", 8.0)];
        let mut b = Book::new();
        let kept = b.table("保留", &cols, &(1..=300).map(row).collect::<Vec<_>>()).unwrap();
        let streamed = b.stream("逐行", &cols, (1..=300).map(row)).unwrap();
        assert_eq!((kept.rows, kept.cols), (streamed.rows, streamed.cols));
        let bytes = b.save().unwrap();
        let mut wb: Xlsx<_> = open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
        let (k, s) = (wb.worksheet_range("保留").unwrap(), wb.worksheet_range("逐行").unwrap());
        assert_eq!(s.get_size(), (301, 4));
        assert_eq!(k, s);
        assert_eq!(s.get((300, 0)), Some(&Data::String("东风小学300号楼".into())));
        assert_eq!(s.get((0, 1)), Some(&Data::String("数".into())));
        // An empty stream still gives a sheet with its header.
        let mut b = Book::new();
        assert_eq!(b.stream("空", &cols, std::iter::empty()).unwrap().rows, 0);
        let mut wb: Xlsx<_> = open_workbook_from_rs(std::io::Cursor::new(b.save().unwrap())).unwrap();
        assert_eq!(wb.worksheet_range("空").unwrap().get((0, 0)), Some(&Data::String("学校".into())));
    }
}
