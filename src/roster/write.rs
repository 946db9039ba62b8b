//! Exporting a roster in exactly the import format, so export → edit → import works.

use super::model::{Roster, Sheet, STAGES};
use super::read::RosterError;
use super::validate::GENERIC_ROLE_LABELS;
use crate::domain::role::Role;
use rust_xlsxwriter::{DataValidation, DataValidationErrorStyle, Format, Workbook, XlsxError};
use std::path::{Path, PathBuf};

/// The roster as raw tables, as if read back from its export (row numbers as in the export).
pub(crate) fn raw_tables(roster: &Roster) -> super::read::RawTables {
    let mut out = super::read::RawTables::default();
    for sheet in Sheet::ALL {
        let mut rows = table_rows(roster, sheet).into_iter();
        let headers: Vec<String> = rows.next().unwrap_or_default();
        let rows = rows
            .enumerate()
            .map(|(i, cells)| super::read::RawRow {
                row: i + 2,
                cells: headers.iter().cloned().zip(cells).filter(|(_, v)| !v.is_empty()).collect(),
            })
            .collect();
        let table = super::read::RawTable {
            sheet,
            source: format!("（现有花名册）#{}", sheet.label()),
            header_row: 1,
            headers,
            duplicate_headers: Vec::new(),
            rows,
            office: false,
            ignored: Vec::new(),
            labels: Default::default(),
            sheet_name: None,
        };
        // One table per kind: cannot collide.
        let _ = out.insert(table);
    }
    out
}

/// Rows of one table as text, header first.
fn table_rows(roster: &Roster, sheet: Sheet) -> Vec<Vec<String>> {
    let header = sheet.columns().iter().map(|c| c.to_string()).collect();
    let mut rows: Vec<Vec<String>> = vec![header];
    let yes_no = |b: bool| if b { "是" } else { "否" }.to_string();
    let text = |o: &Option<String>| o.clone().unwrap_or_default();
    match sheet {
        Sheet::Zones => rows.extend(
            roster
                .zones
                .iter()
                .map(|z| vec![z.code.clone(), z.name.clone(), z.level.label().to_string(), text(&z.leader_code)]),
        ),
        Sheet::Schools => rows.extend(roster.schools.iter().map(|s| {
            vec![
                s.code.clone(),
                s.name.clone(),
                text(&s.short_name),
                s.aliases.join("、"),
                s.zone_code.clone(),
                s.stage.clone(),
                if s.private { "民办" } else { "公办" }.to_string(),
                yes_no(s.city_direct),
                yes_no(s.boarding),
                text(&s.primary_inspector),
                s.secondary_inspectors.join("、"),
                s.recused_inspectors.join("、"),
            ]
        })),
        Sheet::People => rows.extend(roster.people.iter().map(|p| {
            vec![
                p.code.clone(),
                p.name.clone(),
                role_cell(p.role, p.title.as_deref()),
                p.inspector_type.map(|t| t.label().to_string()).unwrap_or_default(),
                text(&p.zone_code),
                // Every school the contact serves, primary first, as the import reads them.
                p.school_code.iter().chain(&p.other_school_codes).cloned().collect::<Vec<_>>().join("、"),
                text(&p.title),
                text(&p.phone),
                text(&p.qq),
                text(&p.wecom),
                text(&p.telegram),
                String::new(), // 备注
            ]
        })),
    }
    rows
}

/// The 角色 cell: the title when it is itself a label of the same role (校长, 督导室主任 …),
/// else the role's generic label, which import reads back without inventing a title.
fn role_cell(role: Role, title: Option<&str>) -> String {
    if let Some(t) = title.filter(|t| Role::parse_label(t) == Some(role)) {
        return t.to_string();
    }
    GENERIC_ROLE_LABELS
        .iter()
        .find(|l| Role::parse_label(l) == Some(role))
        .map(|l| l.to_string())
        .unwrap_or_else(|| role.as_str().to_string())
}

/// Writes one workbook with the sheets 责任区, 学校, 人员.
pub fn write_xlsx(roster: &Roster, path: &Path) -> Result<(), RosterError> {
    let write_err = |e: XlsxError| RosterError::Write { path: path.to_path_buf(), message: e.to_string() };
    let mut workbook = build_workbook(roster).map_err(write_err)?;
    workbook.save(path).map_err(write_err)
}

fn build_workbook(roster: &Roster) -> Result<Workbook, XlsxError> {
    let mut workbook = Workbook::new();
    let header_format = Format::new().set_bold();
    // Text format keeps codes, phones and QQ numbers that the office types later from
    // turning into numbers (and losing leading zeros).
    let text_format = Format::new().set_num_format("@");
    for sheet in Sheet::ALL {
        let rows = table_rows(roster, sheet);
        let ws = workbook.add_worksheet();
        ws.set_name(sheet.label())?;
        for (c, name) in sheet.columns().iter().enumerate() {
            let c = c as u16;
            let width = match *name {
                "学校名称" | "名称" | "别名" => 28,
                "学校代码" | "手机" | "企业微信" | "Telegram" | "协同督学" | "回避督学" => 14,
                _ => 10,
            };
            ws.set_column_width(c, width)?;
            ws.set_column_format(c, &text_format)?;
        }
        for (r, cells) in rows.iter().enumerate() {
            let r = u32::try_from(r).map_err(|_| XlsxError::RowColumnLimitError)?;
            for (c, value) in cells.iter().enumerate() {
                let c = c as u16;
                if r == 0 {
                    ws.write_string_with_format(r, c, value, &header_format)?;
                } else if !value.is_empty() {
                    ws.write_string(r, c, value)?;
                }
            }
        }
        ws.set_freeze_panes(1, 0)?;
        // Drop-down hints for enumerated columns; advisory only, since import accepts
        // more spellings than the list shows.
        let lists: &[(&str, &[&str])] = match sheet {
            Sheet::Zones => &[("级别", &["县级", "市级"])],
            Sheet::Schools => {
                &[("学段", STAGES), ("办学性质", &["公办", "民办"]), ("市直", &["是", "否"]), ("寄宿", &["是", "否"])]
            }
            Sheet::People => &[("督学类型", &["专职", "兼职", "特约"])],
        };
        for (column, values) in lists {
            if let Some(c) = sheet.columns().iter().position(|n| n == column) {
                let dv = DataValidation::new()
                    .allow_list_strings(values)?
                    .set_error_style(DataValidationErrorStyle::Information);
                ws.add_data_validation(1, c as u16, 65_535, c as u16, &dv)?;
            }
        }
    }
    Ok(workbook)
}

/// Writes `zones.csv`, `schools.csv` and `people.csv` into `dir` (created if needed),
/// UTF-8 with a BOM so that Excel shows the Chinese text correctly.
pub fn write_csv_dir(roster: &Roster, dir: &Path) -> Result<Vec<PathBuf>, RosterError> {
    std::fs::create_dir_all(dir).map_err(|e| RosterError::Write { path: dir.to_path_buf(), message: e.to_string() })?;
    let mut written = Vec::new();
    for sheet in Sheet::ALL {
        let path = dir.join(sheet.csv_file_name());
        let bytes = csv_bytes(roster, sheet).map_err(|message| RosterError::Write { path: path.clone(), message })?;
        std::fs::write(&path, bytes).map_err(|e| RosterError::Write { path: path.clone(), message: e.to_string() })?;
        written.push(path);
    }
    Ok(written)
}

/// One table as CSV bytes (with BOM), e.g. to send as a chat attachment.
pub fn csv_bytes(roster: &Roster, sheet: Sheet) -> Result<Vec<u8>, String> {
    let mut writer =
        csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer("\u{feff}".as_bytes().to_vec());
    for row in table_rows(roster, sheet) {
        writer.write_record(&row).map_err(|e| e.to_string())?;
    }
    writer.into_inner().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::role::InspectorType;
    use crate::roster::model::{PersonRow, SchoolRow, ZoneLevel, ZoneRow};
    use crate::roster::read::read_files;
    use crate::roster::validate::validate;

    fn sample() -> Roster {
        let zone = |row, code: &str, level| ZoneRow {
            row,
            code: code.into(),
            name: format!("{code}责任区"),
            level,
            leader_code: Some("D001".into()),
        };
        let person = |row, code: &str, role, title: Option<&str>| PersonRow {
            row,
            code: code.into(),
            name: format!("人员{code}"),
            role,
            title: title.map(Into::into),
            inspector_type: (role == Role::Inspector).then_some(InspectorType::FullTime),
            zone_code: (role == Role::Inspector).then(|| "Z01".into()),
            school_code: (role == Role::SchoolContact).then(|| "0012345678".into()),
            other_school_codes: Vec::new(),
            phone: None,
            qq: None,
            wecom: None,
            telegram: None,
        };
        let mut people = vec![
            person(2, "D001", Role::Inspector, None),
            person(3, "D002", Role::Inspector, Some("退休校长")),
            person(4, "S001", Role::Supervisor, Some("督导室主任")),
            person(5, "S002", Role::Supervisor, Some("科室联络")),
            person(6, "A001", Role::Admin, None),
            person(7, "C0001", Role::SchoolContact, Some("校长")),
            person(8, "C0002", Role::SchoolContact, None),
        ];
        people[0].phone = Some("19900000001".into());
        people[0].qq = Some("100010001".into());
        people[1].phone = Some("0371-12345678".into());
        people[1].wecom = Some("wang.fang".into());
        people[1].telegram = Some("123456789".into());
        people[1].inspector_type = Some(InspectorType::Invited);
        Roster {
            zones: vec![zone(2, "Z01", ZoneLevel::County), zone(3, "Z02", ZoneLevel::City)],
            schools: vec![SchoolRow {
                row: 2,
                code: "0012345678".into(),
                name: "示例县实验小学，\"东校区\"".into(),
                short_name: Some("实验小学".into()),
                aliases: vec!["县实小".into(), "城关实小".into()],
                zone_code: "Z01".into(),
                stage: "九年一贯制".into(),
                private: true,
                city_direct: true,
                boarding: false,
                primary_inspector: Some("D001".into()),
                secondary_inspectors: vec!["D002".into()],
                recused_inspectors: vec![],
            }],
            people,
        }
    }

    #[test]
    fn csv_round_trip() {
        let roster = sample();
        let dir = tempfile::tempdir().unwrap();
        let paths = write_csv_dir(&roster, dir.path()).unwrap();
        assert_eq!(paths.len(), 3);
        let bytes = std::fs::read(&paths[0]).unwrap();
        assert!(bytes.starts_with("\u{feff}编号,名称".as_bytes()));
        let back = validate(read_files(&paths).unwrap()).unwrap();
        assert_eq!(back, roster);
    }

    #[test]
    fn xlsx_round_trip() {
        let roster = sample();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("花名册.xlsx");
        write_xlsx(&roster, &path).unwrap();
        let back = validate(read_files(&[path]).unwrap()).unwrap();
        assert_eq!(back, roster);
    }

    #[test]
    fn role_cell_is_readable_and_reversible() {
        assert_eq!(role_cell(Role::SchoolContact, Some("校长")), "校长");
        assert_eq!(role_cell(Role::SchoolContact, None), "学校联络员");
        assert_eq!(role_cell(Role::Supervisor, Some("科室联络")), "督导室");
        assert_eq!(role_cell(Role::Inspector, Some("校长")), "责任督学");
        assert_eq!(role_cell(Role::Admin, None), "管理员");
    }

    #[test]
    fn write_to_unwritable_path_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(write_csv_dir(&sample(), &file.join("sub")).is_err());
        assert!(write_xlsx(&sample(), &file.join("x.xlsx")).is_err());
    }
}
