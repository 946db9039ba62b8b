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
        }
    }

    /// The 说明 sheet: a title, then label / text lines.
    pub fn notes(&mut self, name: &str, title: &str, lines: &[(String, String)]) -> Result<(), XlsxError> {
        let ws = self.wb.add_worksheet();
        ws.set_name(name)?;
        ws.set_column_width(0, 16)?;
        ws.set_column_width(1, 100)?;
        ws.write_string_with_format(0, 0, title, &self.title)?;
        for (i, (k, v)) in lines.iter().enumerate() {
            let r = i as u32 + 2;
            ws.write_string_with_format(r, 0, k, &self.header)?;
            ws.write_string_with_format(r, 1, v, &self.wrap)?;
        }
        Ok(())
    }

    /// A sheet holding one table. Long text columns (width ≥ 30) wrap.
    pub fn table(&mut self, name: &str, cols: &[Col], rows: &[Vec<Cell>]) -> Result<Table, XlsxError> {
        let (header, pct, tenths, date, wrap) = (&self.header, &self.pct, &self.tenths, &self.date, &self.wrap);
        let ws: &mut Worksheet = self.wb.add_worksheet();
        ws.set_name(name)?;
        for (c, (h, w)) in cols.iter().enumerate() {
            let c = c as u16;
            ws.write_string_with_format(0, c, *h, header)?;
            ws.set_column_width(c, *w)?;
        }
        ws.set_row_height(0, 30)?;
        ws.set_freeze_panes(1, 0)?;
        for (i, row) in rows.iter().enumerate() {
            let r = i as u32 + 1;
            for (c, cell) in row.iter().enumerate() {
                let c = c as u16;
                let long = cols.get(usize::from(c)).is_some_and(|(_, w)| *w >= 30.0);
                match cell {
                    Cell::Text(s) if long => ws.write_string_with_format(r, c, fit(s), wrap)?,
                    Cell::Text(s) => ws.write_string(r, c, fit(s))?,
                    Cell::Int(n) => ws.write_number(r, c, *n as f64)?,
                    Cell::Rate(rate) => match rate.value() {
                        Some(v) => ws.write_number_with_format(r, c, v, pct)?,
                        None => ws.write_string(r, c, "—")?,
                    },
                    Cell::Tenths(Some(t)) => ws.write_number_with_format(r, c, *t as f64 / 10.0, tenths)?,
                    Cell::Tenths(None) => ws.write_string(r, c, "—")?,
                    Cell::Date(d) => {
                        let x = excel_date(*d)?;
                        ws.write_datetime_with_format(r, c, &x, date)?
                    }
                    Cell::Empty => ws,
                };
            }
        }
        let last_row = rows.len() as u32;
        let last_col = cols.len().saturating_sub(1) as u16;
        if !rows.is_empty() {
            ws.autofilter(0, 0, last_row, last_col)?;
        }
        Ok(Table { sheet: name.to_string(), rows: rows.len() as u32, cols: cols.len() as u16 })
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
}
