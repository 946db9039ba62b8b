//! Reading roster files (XLSX workbooks or one CSV per table) into raw, untyped tables.
//!
//! Nothing here judges the values: that is `validate`'s job, so that every problem in a
//! sheet can be reported at once with its row number.

use super::model::{col, RowError, Sheet};
use super::office;
use calamine::{Data, Reader};
use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// How many leading rows are searched for the header (offices often put a title row above it).
const HEADER_SEARCH_ROWS: usize = 10;

/// File-level problems: the file cannot be read or is not a roster table at all.
#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    #[error("无法读取文件 {}：{source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("不支持的文件类型 {}：花名册请使用 .xlsx 工作簿或 .csv 文件", path.display())]
    UnsupportedFormat { path: PathBuf },
    #[error("{} 不是 UTF-8 或 GB18030 编码的文本文件", path.display())]
    Encoding { path: PathBuf },
    #[error("{} 不是有效的 CSV 文件：{message}", path.display())]
    Csv { path: PathBuf, message: String },
    #[error("{} 不是有效的 Excel 工作簿：{message}", path.display())]
    Workbook { path: PathBuf, message: String },
    #[error(
        "无法识别 {} 的表头：前{HEADER_SEARCH_ROWS}行中没有责任区表（编号、名称）、学校表（学校代码、学校名称）或人员表（编号、姓名、角色）的表头",
        path.display()
    )]
    UnknownTable { path: PathBuf },
    #[error("{} 中没有可识别的工作表：工作表应命名为“责任区”“学校”“人员”，或第一行是对应的表头", path.display())]
    NoTables { path: PathBuf },
    #[error("“{sheet}”表出现了两次：{first} 和 {second}")]
    DuplicateTable { sheet: Sheet, first: String, second: String },
    #[error("无法写入 {}：{message}", path.display())]
    Write { path: PathBuf, message: String },
}

/// One data row: spreadsheet row number and cells keyed by canonical column name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawRow {
    /// 1-based row number as the spreadsheet shows it.
    pub row: usize,
    /// Trimmed, non-empty cells of the table's known columns.
    pub cells: HashMap<String, String>,
}

impl RawRow {
    /// The trimmed cell, or "" when the column is absent.
    pub fn get(&self, column: &str) -> &str {
        self.cells.get(column).map(String::as_str).unwrap_or("")
    }
}

/// One table as found in a file, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTable {
    pub sheet: Sheet,
    /// File name, plus the sheet name for workbooks; for messages only.
    pub source: String,
    /// Row number of the header row.
    pub header_row: usize,
    /// Canonical names of all non-blank header cells, in file order (unknown ones included).
    pub headers: Vec<String>,
    /// Columns that appeared more than once; the first occurrence wins.
    pub duplicate_headers: Vec<String>,
    /// Non-blank data rows.
    pub rows: Vec<RawRow>,
    /// The inspector-oriented office sheet (see [`office`]) rather than a table of the
    /// documented format; its rows are keyed by [`office::OFFICE_COLUMNS`].
    pub office: bool,
    /// Header cells, as written, of columns that are not read (reported, never silently dropped).
    pub ignored: Vec<String>,
    /// Canonical column name -> header as written, for messages in the office's own words.
    pub labels: HashMap<String, String>,
    /// Set when messages should name the worksheet rather than the table ("责任督学名单").
    pub sheet_name: Option<String>,
}

impl RawTable {
    pub fn has_column(&self, column: &str) -> bool {
        self.headers.iter().any(|h| h == column)
    }
}

/// Up to one raw table per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawTables {
    pub zones: Option<RawTable>,
    pub schools: Option<RawTable>,
    pub people: Option<RawTable>,
    /// An office-shaped inspector sheet, turned into the three tables by [`office::expand`].
    pub office: Option<RawTable>,
    /// Problems found while turning an office sheet into tables; reported with validation's.
    pub problems: Vec<RowError>,
}

impl RawTables {
    pub fn get(&self, sheet: Sheet) -> Option<&RawTable> {
        match sheet {
            Sheet::Zones => self.zones.as_ref(),
            Sheet::Schools => self.schools.as_ref(),
            Sheet::People => self.people.as_ref(),
        }
    }

    fn slot(&mut self, sheet: Sheet) -> &mut Option<RawTable> {
        match sheet {
            Sheet::Zones => &mut self.zones,
            Sheet::Schools => &mut self.schools,
            Sheet::People => &mut self.people,
        }
    }

    /// Notes for the person importing: columns that were not read, per table.
    pub fn notices(&self) -> Vec<String> {
        [&self.zones, &self.schools, &self.people, &self.office]
            .into_iter()
            .flatten()
            .filter(|t| !t.ignored.is_empty())
            .map(|t| format!("{}：已忽略的列：{}", t.source, t.ignored.join("、")))
            .collect()
    }

    /// Adds a table; a second table of the same kind is an error rather than a silent overwrite.
    pub fn insert(&mut self, table: RawTable) -> Result<(), RosterError> {
        let slot = if table.office { &mut self.office } else { self.slot(table.sheet) };
        if let Some(existing) = slot {
            return Err(RosterError::DuplicateTable {
                sheet: table.sheet,
                first: existing.source.clone(),
                second: table.source,
            });
        }
        *slot = Some(table);
        Ok(())
    }
}

/// Reads roster files: `.xlsx` workbooks (also `.xlsm`, `.xls`, `.xlsb`, `.ods`) and `.csv`
/// files (one table per file, kind detected from the header). A directory stands for the
/// roster files directly inside it.
pub fn read_files(paths: &[PathBuf]) -> Result<RawTables, RosterError> {
    let mut tables = RawTables::default();
    for path in paths {
        let files = if path.is_dir() { roster_files_in(path)? } else { vec![path.clone()] };
        for file in files {
            for table in read_file(&file)? {
                tables.insert(table)?;
            }
        }
    }
    Ok(tables)
}

/// Spreadsheet and CSV files in a directory, sorted; Excel's `~$` lock files and hidden
/// files are skipped.
fn roster_files_in(dir: &Path) -> Result<Vec<PathBuf>, RosterError> {
    let io_err = |source| RosterError::Io { path: dir.to_path_buf(), source };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err)? {
        let path = entry.map_err(io_err)?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let skipped = name.is_none_or(|n| n.starts_with("~$") || n.starts_with('.'));
        if path.is_file() && !skipped && FileKind::from_path(&path).is_some() {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(RosterError::NoTables { path: dir.to_path_buf() });
    }
    Ok(files)
}

/// Reads one file; a workbook may yield several tables.
pub fn read_file(path: &Path) -> Result<Vec<RawTable>, RosterError> {
    let kind = FileKind::from_path(path).ok_or_else(|| RosterError::UnsupportedFormat { path: path.to_path_buf() })?;
    let bytes = std::fs::read(path).map_err(|source| RosterError::Io { path: path.to_path_buf(), source })?;
    match kind {
        FileKind::Delimited => parse_csv(path, &bytes).map(|t| vec![t]),
        FileKind::Workbook => parse_workbook(path, &bytes),
    }
}

enum FileKind {
    Delimited,
    Workbook,
}

impl FileKind {
    fn from_path(path: &Path) -> Option<FileKind> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" | "tsv" | "txt" => Some(FileKind::Delimited),
            "xlsx" | "xlsm" | "xls" | "xlsb" | "ods" => Some(FileKind::Workbook),
            _ => None,
        }
    }
}

/// Parses one CSV table from bytes (e.g. a file received through a chat upload).
/// `path` is used for the table's source name and in errors.
pub fn parse_csv(path: &Path, bytes: &[u8]) -> Result<RawTable, RosterError> {
    let text = decode_text(bytes).ok_or_else(|| RosterError::Encoding { path: path.to_path_buf() })?;
    // NULs never occur in a real CSV; this rejects binary files early with a clear message.
    if text.contains('\0') {
        return Err(RosterError::Encoding { path: path.to_path_buf() });
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(sniff_delimiter(&text))
        .from_reader(text.as_bytes());

    let mut grid: Vec<(usize, Vec<String>)> = Vec::new();
    // The csv crate skips blank lines, lets quoted cells span lines, and reports where it
    // started scanning rather than where a record starts. Rebuild the row numbers Excel
    // would show: blank lines count as rows, line breaks inside a cell do not.
    let bytes = text.as_bytes();
    let mut cursor = 0usize;
    let mut line_breaks = 0usize; // before `cursor`
    let mut inner_breaks = 0usize; // inside cells of earlier records
    for record in reader.records() {
        let record = record.map_err(|e| RosterError::Csv { path: path.to_path_buf(), message: e.to_string() })?;
        let scan_from =
            record.position().and_then(|p| usize::try_from(p.byte()).ok()).unwrap_or(cursor).clamp(cursor, bytes.len());
        let start =
            bytes[scan_from..].iter().position(|b| *b != b'\r' && *b != b'\n').map_or(bytes.len(), |i| scan_from + i);
        line_breaks += count_line_breaks(&bytes[cursor..start]);
        cursor = start;
        let row = (line_breaks + 1).saturating_sub(inner_breaks).max(1);
        inner_breaks += record.iter().map(|f| count_line_breaks(f.as_bytes())).sum::<usize>();
        grid.push((row, record.iter().map(str::to_string).collect()));
    }
    let source = file_name(path);
    table_from_grid(source, None, grid).ok_or_else(|| RosterError::UnknownTable { path: path.to_path_buf() })
}

/// Parses every recognisable sheet of a workbook from bytes. Sheets that are neither named
/// after a table nor carry a table header (e.g. an instructions sheet) are skipped.
pub fn parse_workbook(path: &Path, bytes: &[u8]) -> Result<Vec<RawTable>, RosterError> {
    let workbook_err = |message: String| RosterError::Workbook { path: path.to_path_buf(), message };
    // calamine has internal panics on some malformed files; a bad upload must not take the
    // service down.
    let sheets = std::panic::catch_unwind(|| read_workbook_sheets(bytes))
        .map_err(|_| workbook_err("文件已损坏".to_string()))?
        .map_err(workbook_err)?;

    let base = file_name(path);
    let mut tables = Vec::new();
    for (name, grid) in sheets {
        let hint = Sheet::ALL.into_iter().find(|s| s.label() == clean(&name).as_str());
        if let Some(table) = table_from_grid(format!("{base}#{name}"), hint, grid) {
            tables.push(table);
        }
    }
    if tables.is_empty() {
        return Err(RosterError::NoTables { path: path.to_path_buf() });
    }
    Ok(tables)
}

type Grid = Vec<(usize, Vec<String>)>;

fn read_workbook_sheets(bytes: &[u8]) -> Result<Vec<(String, Grid)>, String> {
    let mut workbook = calamine::open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for name in workbook.sheet_names() {
        let range = workbook.worksheet_range(&name).map_err(|e| e.to_string())?;
        let Some((first_row, _)) = range.start() else {
            out.push((name, Vec::new()));
            continue;
        };
        let grid = range
            .rows()
            .enumerate()
            .map(|(i, cells)| (first_row as usize + i + 1, cells.iter().map(render_cell).collect()))
            .collect();
        out.push((name, grid));
    }
    Ok(out)
}

/// Cell text as the user sees it; codes, phones and QQ numbers are often typed as numbers.
fn render_cell(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => {
            if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{}", *f as i64)
            } else {
                f.to_string()
            }
        }
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Data::DateTime(d) => d.to_string(),
        Data::Error(e) => e.to_string(),
    }
}

/// UTF-8 (BOM stripped), UTF-16 with BOM, or GB18030 (what Chinese Excel writes for "CSV").
fn decode_text(bytes: &[u8]) -> Option<String> {
    if let Some((encoding, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        let body = bytes.get(bom_len..).unwrap_or_default();
        return encoding.decode_without_bom_handling_and_without_replacement(body).map(|s| s.into_owned());
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Some(s.to_string());
    }
    encoding_rs::GB18030.decode_without_bom_handling_and_without_replacement(bytes).map(|s| s.into_owned())
}

/// Line breaks as Excel counts them: `\r\n`, `\n` or a lone `\r`.
fn count_line_breaks(bytes: &[u8]) -> usize {
    bytes.iter().enumerate().filter(|(i, b)| **b == b'\n' || (**b == b'\r' && bytes.get(i + 1) != Some(&b'\n'))).count()
}

/// Excel's "Unicode text" export is tab-separated; everything else here is comma-separated.
fn sniff_delimiter(text: &str) -> u8 {
    let head: String = text.lines().take(HEADER_SEARCH_ROWS).collect();
    let tabs = head.matches('\t').count();
    let commas = head.matches(',').count();
    if tabs > commas {
        b'\t'
    } else {
        b','
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}

/// Finds the header row and turns the rest into keyed rows. `hint` is the table kind implied
/// by a workbook sheet name; a recognisable header wins over it.
///
/// The header is the row, among the first [`HEADER_SEARCH_ROWS`] non-blank ones, with the most
/// known column labels: a merged title row above it ("XX县责任督学名单") has none.
fn table_from_grid(source: String, hint: Option<Sheet>, grid: Grid) -> Option<RawTable> {
    let non_blank = |cells: &[String]| cells.iter().any(|c| !clean(c).is_empty());
    let candidates: Vec<usize> = grid
        .iter()
        .enumerate()
        .filter(|(_, (_, cells))| non_blank(cells))
        .map(|(i, _)| i)
        .take(HEADER_SEARCH_ROWS)
        .collect();

    let kind_of = |i: usize| {
        let headers: Vec<String> = grid[i].1.iter().map(|h| canonical_header(h)).collect();
        if office::is_office_header(&headers) {
            Some(None)
        } else {
            detect_sheet(&headers).map(Some)
        }
    };
    let score = |i: usize| grid[i].1.iter().filter(|h| is_known_label(&canonical_header(h))).count();
    // The best-scoring recognisable row; ties go to the upper row.
    let detected = candidates.iter().filter_map(|&i| kind_of(i).map(|k| (i, k, score(i)))).fold(
        None::<(usize, Option<Sheet>, usize)>,
        |best, cur| match best {
            Some(b) if b.2 >= cur.2 => Some(b),
            _ => Some(cur),
        },
    );
    let (header_idx, sheet, is_office) = match (detected, hint) {
        (Some((i, Some(sheet), _)), _) => (Some(i), sheet, false),
        (Some((i, None, _)), _) => (Some(i), Sheet::People, true),
        // A sheet named 学校 without a usable header: keep it so validation can name the
        // missing columns instead of claiming the table is absent.
        (None, Some(sheet)) => (candidates.first().copied(), sheet, false),
        (None, None) => return None,
    };
    let known_columns: &[&str] = if is_office { office::OFFICE_COLUMNS } else { sheet.columns() };

    let mut table = RawTable {
        sheet,
        sheet_name: is_office.then(|| source.rsplit('#').next().unwrap_or(&source).to_string()),
        source,
        header_row: 0,
        headers: Vec::new(),
        duplicate_headers: Vec::new(),
        rows: Vec::new(),
        office: is_office,
        ignored: Vec::new(),
        labels: HashMap::new(),
    };
    let Some((header_idx, (header_row, header_cells))) = header_idx.and_then(|i| grid.get(i).map(|g| (i, g))) else {
        return Some(table); // empty sheet
    };
    table.header_row = *header_row;

    // Column index -> canonical name, first occurrence only; unknown columns are not read.
    let mut columns: Vec<(usize, String)> = Vec::new();
    for (i, raw) in header_cells.iter().enumerate() {
        let name = canonical_header(raw);
        if name.is_empty() {
            continue;
        }
        let known = known_columns.contains(&name.as_str());
        if table.headers.contains(&name) {
            if known && !table.duplicate_headers.contains(&name) {
                table.duplicate_headers.push(name);
            }
            continue;
        }
        table.headers.push(name.clone());
        if known {
            table.labels.insert(name.clone(), clean(raw));
            columns.push((i, name));
        } else if name != SEQUENCE {
            // 序号 is a row counter, expected and meaningless: not worth a notice.
            table.ignored.push(clean(raw));
        }
    }

    for (row, cells) in grid.iter().skip(header_idx + 1) {
        let mut map = HashMap::new();
        for (i, name) in &columns {
            let value = cells.get(*i).map(|c| clean(c)).unwrap_or_default();
            if !value.is_empty() {
                map.insert(name.clone(), value);
            }
        }
        // Rows with content only in unknown columns (e.g. a 合计 line) count as blank.
        if !map.is_empty() {
            table.rows.push(RawRow { row: *row, cells: map });
        }
    }
    Some(table)
}

/// The row-counter column offices put first; never read.
const SEQUENCE: &str = "序号";

fn is_known_label(name: &str) -> bool {
    name == SEQUENCE || office::OFFICE_COLUMNS.contains(&name) || Sheet::ALL.iter().any(|s| s.columns().contains(&name))
}

/// Decides the table kind from a header row.
fn detect_sheet(headers: &[String]) -> Option<Sheet> {
    let has = |c: &str| headers.iter().any(|h| h == c);
    // People first: its 姓名/角色 never occur in the other tables, while a people sheet may
    // well carry an extra 学校名称 column.
    if has(col::PERSON_NAME) || has(col::ROLE) {
        Some(Sheet::People)
    } else if has(col::SCHOOL_CODE) || has(col::SCHOOL_NAME) {
        Some(Sheet::Schools)
    } else if has(col::NAME) && (has(col::CODE) || has(col::LEVEL) || has(col::LEADER)) {
        Some(Sheet::Zones)
    } else {
        None
    }
}

/// Trims ASCII and Unicode whitespace (including the full-width space U+3000) plus
/// zero-width characters that Excel and chat copy-paste leave behind.
pub(crate) fn clean(s: &str) -> String {
    s.trim_matches(|c: char| c.is_whitespace() || matches!(c, '\u{feff}' | '\u{200b}')).to_string()
}

/// Header text -> canonical column name: trims, drops "required" markers and maps the
/// spellings offices commonly use to the documented name.
fn canonical_header(raw: &str) -> String {
    let mut h = clean(raw);
    for marker in ["（必填）", "(必填)", "（选填）", "(选填)", "（可选）", "(可选)"] {
        if let Some(stripped) = h.strip_suffix(marker) {
            h = clean(stripped);
        }
    }
    let h = clean(h.trim_matches(|c| c == '*' || c == '＊'));
    let mapped = match h.to_lowercase().as_str() {
        "学校标识码" | "学校识别码" => col::SCHOOL_CODE,
        "手机号" | "手机号码" | "联系电话" | "电话" | "联系方式" | "手机/电话" => col::PHONE,
        "督学姓名" | "责任督学姓名" => col::PERSON_NAME,
        "挂牌学校" | "挂牌督导学校" | "联系学校" | "责任学校" | "督导学校" | "挂牌督导学校名称" => {
            office::col::SCHOOLS
        }
        "工作单位" | "单位" | "所在单位" => office::col::EMPLOYER,
        "督学类别" | "类别" => col::INSPECTOR_TYPE,
        "qq" | "qq号" | "qq号码" => col::QQ,
        "企业微信号" | "企业微信id" | "企业微信账号" | "wecom" => col::WECOM,
        "telegram" | "telegram id" | "tg" => col::TELEGRAM,
        "督学责任区" | "所属责任区" => col::ZONE,
        "所属学校" => col::SCHOOL,
        _ => return h,
    };
    mapped.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> Result<RawTable, RosterError> {
        parse_csv(Path::new("t.csv"), text.as_bytes())
    }

    #[test]
    fn detects_each_table_kind_from_header() {
        let z = csv("编号,名称,级别\nZ01,第一督学责任区,县级\n").unwrap();
        assert_eq!(z.sheet, Sheet::Zones);
        let s = csv("学校名称,学校代码,责任区,学段\n甲小学,1,Z01,小学\n").unwrap();
        assert_eq!(s.sheet, Sheet::Schools);
        let p = csv("编号,姓名,角色,学校名称\nD001,张三,督学,\n").unwrap();
        assert_eq!(p.sheet, Sheet::People);
        assert!(matches!(csv("foo,bar\n1,2\n"), Err(RosterError::UnknownTable { .. })));
    }

    #[test]
    fn strips_bom_trims_and_keeps_row_numbers() {
        let text = "\u{feff} 编号 ,名称　\n\nZ01,　第一督学责任区　\n,,\nZ02,第二\n";
        let t = csv(text).unwrap();
        assert_eq!(t.headers, vec!["编号", "名称"]);
        assert_eq!(t.header_row, 1);
        let rows: Vec<(usize, &str)> = t.rows.iter().map(|r| (r.row, r.get("名称"))).collect();
        assert_eq!(rows, vec![(3, "第一督学责任区"), (5, "第二")]);
    }

    #[test]
    fn multi_line_cell_counts_as_one_row() {
        let t = csv("编号,名称\nZ01,\"第一\n责任区\"\nZ02,第二\n").unwrap();
        assert_eq!(t.rows[0].row, 2);
        assert_eq!(t.rows[1].row, 3);
    }

    #[test]
    fn crlf_and_lone_cr_line_endings() {
        let t = csv("编号,名称\r\n\r\nZ01,第一\r\nZ02,\"二\r\n区\"\r\nZ03,第三\r\n").unwrap();
        let rows: Vec<usize> = t.rows.iter().map(|r| r.row).collect();
        assert_eq!(rows, [3, 4, 5]);
        let t = csv("编号,名称\rZ01,第一\r\rZ02,第二\r").unwrap();
        let rows: Vec<usize> = t.rows.iter().map(|r| r.row).collect();
        assert_eq!(rows, [2, 4]);
    }

    #[test]
    fn header_below_a_title_row_and_marker_stripping() {
        let t = csv("示例县督学责任区名单,,\n*编号,名称（必填）,组长\nZ01,第一,D001\n").unwrap();
        assert_eq!(t.sheet, Sheet::Zones);
        assert_eq!(t.header_row, 2);
        assert_eq!(t.rows[0].row, 3);
        assert_eq!(t.rows[0].get("名称"), "第一");
    }

    #[test]
    fn header_row_is_the_one_with_most_labels() {
        // A note row that happens to hold two labels sits above the real header.
        let t = csv("姓名,角色\n编号,姓名,角色,督学类型,责任区\nD001,王芳,督学,专职,Z01\n").unwrap();
        assert_eq!(t.header_row, 2);
        assert_eq!(t.rows[0].get("督学类型"), "专职");
    }

    #[test]
    fn office_sheet_is_recognised_and_unread_columns_reported() {
        let text = "清河县责任督学名单,,,,\n\n序号,督学姓名,性别,挂牌督导学校,联系方式,备注\n1,王　芳,女,甲小学、乙小学,13900000001,\n";
        let t = csv(text).unwrap();
        assert!(t.office);
        assert_eq!(t.header_row, 3);
        assert_eq!(t.ignored, ["性别", "备注"]);
        assert_eq!(t.labels.get("挂牌学校").map(String::as_str), Some("挂牌督导学校"));
        assert_eq!(t.rows[0].get("手机"), "13900000001");
        let mut tables = RawTables::default();
        tables.insert(t).unwrap();
        assert!(tables.office.is_some() && tables.people.is_none());
        assert_eq!(tables.notices(), ["t.csv：已忽略的列：性别、备注"]);
        // With a 角色 column it is the documented people table.
        let t = csv("编号,姓名,角色,挂牌学校\nD1,王芳,督学,甲小学\n").unwrap();
        assert!(!t.office);
        assert_eq!(t.ignored, ["挂牌学校"]);
    }

    #[test]
    fn column_order_and_aliases_do_not_matter() {
        let a = csv("编号,姓名,角色,手机号码,qq\nD1,张三,督学,19900001111,123456\n").unwrap();
        let b = csv("QQ,角色,手机,姓名,编号,无关列\n123456,督学,19900001111,张三,D1,x\n").unwrap();
        assert_eq!(a.rows[0].cells, b.rows[0].cells);
    }

    #[test]
    fn duplicate_headers_are_recorded() {
        let t = csv("编号,名称,名称,序号,序号\nZ01,a,b,1,1\n").unwrap();
        assert_eq!(t.duplicate_headers, vec!["名称"]);
        assert_eq!(t.rows[0].get("名称"), "a");
    }

    #[test]
    fn gb18030_and_tab_separated_utf16() {
        let (gbk, _, _) = encoding_rs::GB18030.encode("编号,名称\nZ01,第一\n");
        let t = parse_csv(Path::new("g.csv"), &gbk).unwrap();
        assert_eq!(t.rows[0].get("名称"), "第一");

        let mut utf16 = vec![0xFF, 0xFE];
        for u in "编号\t名称\r\nZ01\t第一\r\n".encode_utf16() {
            utf16.extend_from_slice(&u.to_le_bytes());
        }
        let t = parse_csv(Path::new("u.txt"), &utf16).unwrap();
        assert_eq!(t.rows[0].get("名称"), "第一");
    }

    #[test]
    fn junk_input_is_an_error_not_a_panic() {
        let junk: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
        assert!(parse_csv(Path::new("j.csv"), &junk).is_err());
        assert!(parse_csv(Path::new("e.csv"), b"").is_err());
        assert!(parse_workbook(Path::new("j.xlsx"), &junk).is_err());
        assert!(parse_workbook(Path::new("e.xlsx"), b"").is_err());
        let mut zip_like = b"PK\x03\x04".to_vec();
        zip_like.extend_from_slice(&junk);
        assert!(parse_workbook(Path::new("z.xlsx"), &zip_like).is_err());
        // Emoji and huge cells are just text.
        let big = "😀".repeat(100_000);
        let t = csv(&format!("编号,名称\n{big},{big}\n")).unwrap();
        assert_eq!(t.rows.len(), 1);
    }

    #[test]
    fn file_level_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("缺失.csv");
        let err = read_files(std::slice::from_ref(&missing)).unwrap_err();
        assert!(matches!(err, RosterError::Io { .. }));
        assert!(err.to_string().contains("缺失.csv"));

        let doc = dir.path().join("roster.docx");
        std::fs::write(&doc, b"x").unwrap();
        let err = read_files(&[doc]).unwrap_err();
        assert!(matches!(err, RosterError::UnsupportedFormat { .. }));
        assert!(err.to_string().contains("roster.docx"));
    }

    #[test]
    fn same_table_twice_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.csv");
        let b = dir.path().join("b.csv");
        std::fs::write(&a, "编号,名称\nZ01,第一\n").unwrap();
        std::fs::write(&b, "名称,编号\n第二,Z02\n").unwrap();
        let err = read_files(&[a, b]).unwrap_err();
        assert!(matches!(err, RosterError::DuplicateTable { sheet: Sheet::Zones, .. }));
    }

    #[test]
    fn workbook_sheets_by_header_or_name_with_numeric_cells() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roster.xlsx");
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        ws.set_name("说明").unwrap();
        ws.write_string(0, 0, "请按模板填写").unwrap();
        // Header matches the people table although the sheet has another name.
        let ws = wb.add_worksheet();
        ws.set_name("Sheet3").unwrap();
        for (c, h) in ["编号", "姓名", "角色", "QQ", "手机"].iter().enumerate() {
            ws.write_string(0, c as u16, *h).unwrap();
        }
        ws.write_string(1, 0, "D001").unwrap();
        ws.write_string(1, 1, "张三").unwrap();
        ws.write_string(1, 2, "督学").unwrap();
        ws.write_number(1, 3, 123456789.0).unwrap();
        ws.write_number(1, 4, 19900001234.0).unwrap();
        ws.write_number(2, 3, 1.5).unwrap();
        // Named like a table but headerless: kept, so validation reports missing columns.
        let ws = wb.add_worksheet();
        ws.set_name("学校").unwrap();
        ws.write_string(2, 1, "随便").unwrap();
        wb.save(&path).unwrap();

        let tables = read_file(&path).unwrap();
        assert_eq!(tables.len(), 2);
        let people = &tables[0];
        assert_eq!(people.sheet, Sheet::People);
        assert_eq!(people.source, "roster.xlsx#Sheet3");
        assert_eq!(people.rows[0].row, 2);
        assert_eq!(people.rows[0].get("QQ"), "123456789");
        assert_eq!(people.rows[0].get("手机"), "19900001234");
        assert_eq!(people.rows[1].get("QQ"), "1.5");
        let schools = &tables[1];
        assert_eq!(schools.sheet, Sheet::Schools);
        assert_eq!(schools.header_row, 3);
        assert!(!schools.has_column("学校代码"));
    }
}
