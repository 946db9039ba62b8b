//! The inspector-oriented sheet offices actually keep, turned into the three documented tables.
//!
//! One row per inspector: 序号, 姓名, 性别, 工作单位, 职务, 联系电话, 挂牌学校 (several schools
//! separated by 、，；,; or spaces), 责任区, 备注 — in any order, under a title row. [`expand`]
//! turns it into the 责任区 / 学校 / 人员 raw tables, so validation and import are the same as
//! for the documented format. Pure: the existing roster, when there is one, is passed in.
//!
//! Rules (documented in the README, "Roster format"):
//! - Every row is a 责任督学. 督学类型 comes from a 督学类型 column, else from 职务 ("专职督学",
//!   "特约督学"), else 兼职 (most 责任督学 are part-time).
//! - 编号: from an 编号 column; else the code of the existing inspector with the same name
//!   (and phone, when names repeat); else the next free number D001, D002… in sheet order.
//! - 挂牌学校 are matched (by [`normalize_key`]) against the 学校 sheet of the same workbook,
//!   else against the existing roster's schools. With neither, each named school is created
//!   in the inspector's zone, its 学段 read from its name ("…小学", "…初级中学"), its code
//!   SCH001, SCH002….
//! - The first inspector listing a school is its 主责督学, later ones 协同督学.
//! - 责任区 names an existing zone (by code or name) or creates one (Z01, Z02…); without a
//!   责任区 column or value, the inspector's zone is "默认责任区".
//! - People who are not inspectors (管理员, 督导室, 学校联络员) are kept from the existing roster or
//!   the 人员 sheet of the same workbook; its inspectors are replaced by this sheet's.

use super::model::{col as base, Roster, RowError, Sheet};
use super::read::{RawRow, RawTable, RawTables};
use crate::domain::text::{closest_name, did_you_mean, normalize_key};
use std::collections::{HashMap, HashSet};

/// Canonical names of the office sheet's own columns.
pub mod col {
    pub const SCHOOLS: &str = "挂牌学校";
    pub const EMPLOYER: &str = "工作单位";
}

/// Columns read from an office sheet. Others (性别, 备注 …) are reported as ignored.
pub const OFFICE_COLUMNS: &[&str] = &[
    base::CODE,
    base::PERSON_NAME,
    base::INSPECTOR_TYPE,
    col::EMPLOYER,
    base::TITLE,
    base::PHONE,
    base::QQ,
    base::WECOM,
    base::TELEGRAM,
    col::SCHOOLS,
    base::ZONE,
];

/// The zone of inspectors whose row names none.
pub const DEFAULT_ZONE: &str = "默认责任区";

/// Marks the example rows of `dudao roster template`; a row carrying it is never imported.
pub const EXAMPLE_MARKER: &str = "（示例）";

/// Separators between schools in a 挂牌学校 cell.
const SCHOOL_SEPARATORS: &[char] = &['、', '，', ',', '；', ';', '／', '/', ' ', '\u{3000}', '\n'];

/// An office sheet: 姓名 and 挂牌学校, but no 角色 (a 角色 column makes it the documented 人员 table).
pub fn is_office_header(headers: &[String]) -> bool {
    let has = |c: &str| headers.iter().any(|h| h == c);
    has(base::PERSON_NAME) && has(col::SCHOOLS) && !has(base::ROLE)
}

/// Replaces an office sheet in `raw` by the three tables. `existing` is the roster in the
/// database, if any: its schools and zones are the lists to match, its codes are reused.
/// Problems are added to `raw.problems`, each naming the sheet's row and column.
pub fn expand(mut raw: RawTables, existing: Option<&Roster>) -> RawTables {
    let Some(office) = raw.office.take() else {
        return raw;
    };
    let mut x = Expander::new(&office, &raw, existing);
    x.run(&office);
    let Expander { zones, schools, people, problems, .. } = x;
    let table = |sheet: Sheet, columns: &[&str], rows: Vec<RawRow>| RawTable {
        sheet,
        source: office.source.clone(),
        header_row: office.header_row,
        headers: columns.iter().map(|c| c.to_string()).collect(),
        duplicate_headers: Vec::new(),
        rows,
        office: false,
        ignored: Vec::new(),
        labels: office.labels.clone(),
        sheet_name: office.sheet_name.clone(),
    };
    raw.zones = Some(RawTable {
        sheet_name: None,
        labels: HashMap::new(),
        ..table(Sheet::Zones, Sheet::Zones.columns(), zones)
    });
    let mut school_table = table(Sheet::Schools, Sheet::Schools.columns(), schools);
    school_table.sheet_name = raw.schools.as_ref().and_then(|t| t.sheet_name.clone());
    school_table.labels = HashMap::new();
    if let Some(sheet) = &raw.schools {
        school_table.source = sheet.source.clone();
    }
    raw.schools = Some(school_table);
    raw.people = Some(table(Sheet::People, Sheet::People.columns(), people));
    raw.problems.extend(problems);
    raw.problems.extend(office.duplicate_headers.iter().map(|d| {
        let mut e =
            RowError::new(Sheet::People, office.header_row, Some(d), format!("列“{d}”出现了多次，请删除多余的列"));
        e.sheet_name = office.sheet_name.clone();
        e
    }));
    raw
}

/// A school to match 挂牌学校 against.
struct KnownSchool {
    row: RawRow,
    keys: Vec<String>,
    name: String,
}

struct Expander {
    sheet_name: Option<String>,
    labels: HashMap<String, String>,
    zones: Vec<RawRow>,
    /// Zone name key and code key -> zone code.
    zone_keys: HashMap<String, String>,
    schools: Vec<RawRow>,
    known_schools: Option<Vec<KnownSchool>>,
    /// School code -> (primary, secondaries) from this sheet.
    assignments: HashMap<String, (String, Vec<String>)>,
    /// Created schools by name key -> index in `schools`.
    created: HashMap<String, usize>,
    people: Vec<RawRow>,
    /// Existing inspectors: name key -> [(code, phone)].
    old_inspectors: HashMap<String, Vec<(String, Option<String>)>>,
    used_codes: HashSet<String>,
    problems: Vec<RowError>,
}

impl Expander {
    fn new(office: &RawTable, raw: &RawTables, existing: Option<&Roster>) -> Self {
        let existing_tables = existing.map(super::write::raw_tables);
        let from = |own: &Option<RawTable>, sheet: Sheet| -> Vec<RawRow> {
            own.as_ref()
                .or_else(|| existing_tables.as_ref().and_then(|t| t.get(sheet)))
                .map(|t| t.rows.clone())
                .unwrap_or_default()
        };
        let zones = from(&raw.zones, Sheet::Zones);
        let mut zone_keys = HashMap::new();
        for z in &zones {
            zone_keys.insert(normalize_key(z.get(base::CODE)), z.get(base::CODE).to_string());
            zone_keys.insert(normalize_key(z.get(base::NAME)), z.get(base::CODE).to_string());
        }
        let school_rows = from(&raw.schools, Sheet::Schools);
        let known_schools = (!school_rows.is_empty()).then(|| {
            school_rows
                .iter()
                .map(|r| {
                    let mut keys: Vec<String> = [base::SCHOOL_CODE, base::SCHOOL_NAME, base::SHORT_NAME]
                        .iter()
                        .map(|c| r.get(c))
                        .map(normalize_key)
                        .collect();
                    keys.extend(r.get(base::ALIASES).split(['、', '，', ',', ';', '；']).map(normalize_key));
                    keys.retain(|k| !k.is_empty());
                    KnownSchool { row: r.clone(), keys, name: r.get(base::SCHOOL_NAME).to_string() }
                })
                .collect()
        });
        // Everyone but inspectors stays; inspectors come from this sheet.
        let base_people = from(&raw.people, Sheet::People);
        let mut old_inspectors: HashMap<String, Vec<(String, Option<String>)>> = HashMap::new();
        let mut people = Vec::new();
        let mut used_codes = HashSet::new();
        for p in base_people {
            used_codes.insert(normalize_key(p.get(base::CODE)));
            if crate::domain::role::Role::parse_label(p.get(base::ROLE)) == Some(crate::domain::role::Role::Inspector) {
                let phone = super::validate::normalize_phone(p.get(base::PHONE));
                old_inspectors
                    .entry(normalize_key(p.get(base::PERSON_NAME)))
                    .or_default()
                    .push((p.get(base::CODE).to_string(), phone));
            } else {
                people.push(p);
            }
        }
        for z in &zones {
            used_codes.insert(normalize_key(z.get(base::CODE)));
        }
        Expander {
            sheet_name: office.sheet_name.clone(),
            labels: office.labels.clone(),
            zones,
            zone_keys,
            schools: school_rows,
            known_schools,
            assignments: HashMap::new(),
            created: HashMap::new(),
            people,
            old_inspectors,
            used_codes,
            problems: Vec::new(),
        }
    }

    /// A problem at `row`; `column` "" for the whole row.
    fn err(&mut self, row: usize, column: &str, message: String) {
        let label = self.labels.get(column).cloned().unwrap_or_else(|| column.to_string());
        let label = (!label.is_empty()).then_some(label);
        let mut e = RowError::new(Sheet::People, row, label.as_deref(), message);
        e.sheet_name = self.sheet_name.clone();
        self.problems.push(e);
    }

    fn run(&mut self, office: &RawTable) {
        // Codes written in the sheet are taken first, so generated ones never collide with them.
        for r in &office.rows {
            let code = r.get(base::CODE);
            if !code.is_empty() {
                self.used_codes.insert(normalize_key(code));
            }
        }
        // (name key, phone) -> first row, to catch the same person listed twice.
        let mut seen: HashMap<(String, Option<String>), usize> = HashMap::new();
        let mut next_person = 1;
        for r in &office.rows {
            // The template's example row is reported, and nothing is made of it.
            if r.cells.values().any(|v| v.contains(EXAMPLE_MARKER)) {
                self.err(r.row, "", EXAMPLE_MESSAGE.to_string());
                continue;
            }
            let name = r.get(base::PERSON_NAME).to_string();
            let phone_raw = r.get(base::PHONE);
            let phone = super::validate::normalize_phone(phone_raw).or_else(|| opt(phone_raw));
            if !name.is_empty() {
                let key = (normalize_key(&name), phone.clone());
                if let Some(first) = seen.get(&key) {
                    let what = if phone.is_some() {
                        "姓名和联系电话相同"
                    } else {
                        "姓名相同且都没有联系电话"
                    };
                    self.err(
                        r.row,
                        base::PERSON_NAME,
                        format!("督学“{name}”与第{first}行重复（{what}），请删除其中一行"),
                    );
                    continue;
                }
                seen.insert(key, r.row);
            }

            let code = match opt(r.get(base::CODE)) {
                Some(code) => code,
                None => self
                    .reuse_code(&name, phone.as_deref())
                    .unwrap_or_else(|| next_free(&mut self.used_codes, "D", 3, &mut next_person)),
            };
            let zone = self.zone_for(r.get(base::ZONE));

            let title = opt(r.get(base::TITLE)).or_else(|| opt(r.get(col::EMPLOYER)));
            let kind = opt(r.get(base::INSPECTOR_TYPE)).unwrap_or_else(|| {
                let t = r.get(base::TITLE);
                if t.contains("专职") {
                    "专职"
                } else if t.contains("特约") {
                    "特约"
                } else {
                    "兼职"
                }
                .to_string()
            });
            let mut cells: HashMap<String, String> = HashMap::new();
            let mut put = |c: &str, v: Option<String>| {
                if let Some(v) = v.filter(|v| !v.is_empty()) {
                    cells.insert(c.to_string(), v);
                }
            };
            put(base::CODE, Some(code.clone()));
            put(base::PERSON_NAME, Some(name.clone()));
            put(base::ROLE, Some("责任督学".to_string()));
            put(base::INSPECTOR_TYPE, Some(kind));
            put(base::ZONE, Some(zone.clone()));
            put(base::TITLE, title);
            for c in [base::PHONE, base::QQ, base::WECOM, base::TELEGRAM] {
                put(c, opt(r.get(c)));
            }
            self.people.push(RawRow { row: r.row, cells });

            for school in split_schools(r.get(col::SCHOOLS)) {
                if let Some(school_code) = self.school_for(r.row, &school, &zone) {
                    let entry = self.assignments.entry(school_code).or_insert_with(|| (code.clone(), Vec::new()));
                    if entry.0 != code && !entry.1.contains(&code) {
                        entry.1.push(code.clone());
                    }
                }
            }
        }
        self.finish_schools();
    }

    /// The code of the existing inspector this row most likely is: same name, and same phone
    /// when several share the name.
    fn reuse_code(&mut self, name: &str, phone: Option<&str>) -> Option<String> {
        let candidates = self.old_inspectors.get_mut(&normalize_key(name))?;
        let pick = match candidates.as_slice() {
            [_] => 0,
            _ => candidates.iter().position(|(_, p)| p.as_deref() == phone)?,
        };
        // Each old code is reused once.
        let (code, _) = candidates.remove(pick);
        Some(code)
    }

    fn zone_for(&mut self, raw: &str) -> String {
        let name = if raw.is_empty() { DEFAULT_ZONE } else { raw };
        if let Some(code) = self.zone_keys.get(&normalize_key(name)) {
            return code.clone();
        }
        let mut n = 1;
        let code = next_free(&mut self.used_codes, "Z", 2, &mut n);
        let mut cells = HashMap::new();
        cells.insert(base::CODE.to_string(), code.clone());
        cells.insert(base::NAME.to_string(), name.to_string());
        self.zones.push(RawRow { row: 0, cells });
        self.zone_keys.insert(normalize_key(name), code.clone());
        code
    }

    /// The code of a school named in 挂牌学校: matched against the school list, or created
    /// when there is none.
    fn school_for(&mut self, row: usize, name: &str, zone: &str) -> Option<String> {
        let key = normalize_key(name);
        if let Some(known) = &self.known_schools {
            if let Some(s) = known.iter().find(|s| s.keys.contains(&key)) {
                return Some(s.row.get(base::SCHOOL_CODE).to_string());
            }
            let names: Vec<&str> = known.iter().map(|s| s.name.as_str()).collect();
            let hint = did_you_mean(closest_name(name, &names));
            let message = if hint.is_empty() {
                format!("未知的学校“{name}”：学校名单中没有这所学校，请检查校名")
            } else {
                format!("未知的学校“{name}”，{hint}")
            };
            self.err(row, col::SCHOOLS, message);
            return None;
        }
        if let Some(i) = self.created.get(&key) {
            return Some(self.schools[*i].get(base::SCHOOL_CODE).to_string());
        }
        let Some(stage) = stage_from_name(&key) else {
            self.err(
                row,
                col::SCHOOLS,
                format!("无法从校名“{name}”判断学段：请另加一张“学校”工作表（学校代码、学校名称、责任区、学段）"),
            );
            return None;
        };
        let mut n = 1;
        let code = next_free(&mut self.used_codes, "SCH", 3, &mut n);
        let mut cells = HashMap::new();
        cells.insert(base::SCHOOL_CODE.to_string(), code.clone());
        cells.insert(base::SCHOOL_NAME.to_string(), name.to_string());
        cells.insert(base::ZONE.to_string(), zone.to_string());
        cells.insert(base::STAGE.to_string(), stage.to_string());
        self.created.insert(key, self.schools.len());
        self.schools.push(RawRow { row, cells });
        Some(code)
    }

    /// Writes this sheet's assignments into the school rows: the sheet is the whole list, so
    /// schools it does not name have no 主责督学 afterwards.
    fn finish_schools(&mut self) {
        let people_keys: HashSet<String> = self
            .people
            .iter()
            .flat_map(|p| [normalize_key(p.get(base::CODE)), normalize_key(p.get(base::PERSON_NAME))])
            .collect();
        let codes_zone: HashMap<String, String> =
            self.people.iter().map(|p| (p.get(base::CODE).to_string(), p.get(base::ZONE).to_string())).collect();
        for s in &mut self.schools {
            let code = s.get(base::SCHOOL_CODE).to_string();
            s.cells.remove(base::PRIMARY);
            s.cells.remove(base::SECONDARY);
            // Recusals naming someone no longer listed are dropped with them.
            let recused: Vec<&str> = s
                .get(base::RECUSED)
                .split(['、', '，', ',', ';', '；'])
                .filter(|r| people_keys.contains(&normalize_key(r)))
                .collect();
            let recused = recused.join("、");
            if recused.is_empty() {
                s.cells.remove(base::RECUSED);
            } else {
                s.cells.insert(base::RECUSED.to_string(), recused);
            }
            if let Some((primary, secondary)) = self.assignments.get(&code) {
                if s.get(base::ZONE).is_empty() {
                    if let Some(z) = codes_zone.get(primary) {
                        s.cells.insert(base::ZONE.to_string(), z.clone());
                    }
                }
                s.cells.insert(base::PRIMARY.to_string(), primary.clone());
                if !secondary.is_empty() {
                    s.cells.insert(base::SECONDARY.to_string(), secondary.join("、"));
                }
            }
            if s.get(base::STAGE).is_empty() {
                if let Some(stage) = stage_from_name(&normalize_key(s.get(base::SCHOOL_NAME))) {
                    s.cells.insert(base::STAGE.to_string(), stage.to_string());
                }
            }
        }
    }
}

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// `prefix` + the smallest number (zero-padded to `width`) from `*n` on whose code is unused;
/// the code is then marked used.
fn next_free(used: &mut HashSet<String>, prefix: &str, width: usize, n: &mut usize) -> String {
    loop {
        let code = format!("{prefix}{:0width$}", *n);
        *n += 1;
        if used.insert(normalize_key(&code)) {
            return code;
        }
    }
}

/// Schools listed in one cell.
fn split_schools(cell: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in cell.split(SCHOOL_SEPARATORS) {
        let part = super::read::clean(part);
        if !part.is_empty() && !out.iter().any(|o| normalize_key(o) == normalize_key(&part)) {
            out.push(part);
        }
    }
    out
}

/// The 学段 a school's name states ("…初级中学" → 初中), or `None` when it does not say
/// ("…中心校", "…学校"). A bare "中学" is taken as 初中, the common case in a county.
fn stage_from_name(key: &str) -> Option<&'static str> {
    const RULES: &[(&str, &str)] = &[
        ("幼儿园", "幼儿园"),
        ("教学点", "教学点"),
        ("特殊教育", "特殊教育"),
        ("特教", "特殊教育"),
        ("十二年一贯制", "十二年一贯制"),
        ("九年一贯制", "九年一贯制"),
        ("九年制", "九年一贯制"),
        ("完全中学", "完全中学"),
        ("完中", "完全中学"),
        ("高级中学", "高中"),
        ("高中", "高中"),
        ("初级中学", "初中"),
        ("初中", "初中"),
        ("中学", "初中"),
        ("小学", "小学"),
        ("完小", "小学"),
        ("村小", "小学"),
    ];
    RULES.iter().find(|(marker, _)| key.ends_with(marker) || key.contains(marker)).map(|(_, stage)| *stage)
}

const EXAMPLE_MESSAGE: &str = "这一行是模板中的示例行：请改成本县的真实信息，或删除这一行";

/// Rows of the documented tables that still carry the template's example marker: never
/// imported as real people. (An office sheet's example rows are reported by [`expand`].)
pub fn example_rows(raw: &RawTables) -> Vec<RowError> {
    let mut out = Vec::new();
    for t in [&raw.zones, &raw.schools, &raw.people].into_iter().flatten() {
        for r in &t.rows {
            if r.cells.values().any(|v| v.contains(EXAMPLE_MARKER)) {
                out.push(RowError::new(t.sheet, r.row, None, EXAMPLE_MESSAGE));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_school_lists_on_every_separator() {
        assert_eq!(
            split_schools("甲小学、乙中学，丙小学；丁小学;戊小学 己小学　庚小学,甲小学"),
            ["甲小学", "乙中学", "丙小学", "丁小学", "戊小学", "己小学", "庚小学"]
        );
        assert!(split_schools("").is_empty());
    }

    #[test]
    fn stages_from_names() {
        assert_eq!(stage_from_name("清河县第二初级中学"), Some("初中"));
        assert_eq!(stage_from_name("清河县实验小学"), Some("小学"));
        assert_eq!(stage_from_name("清河县第一高级中学"), Some("高中"));
        assert_eq!(stage_from_name("清河县城关镇中心幼儿园"), Some("幼儿园"));
        assert_eq!(stage_from_name("清河县柳林镇中心校"), None);
    }

    #[test]
    fn codes_skip_used_ones() {
        let mut used: HashSet<String> = ["d001", "d003"].iter().map(|s| s.to_string()).collect();
        let mut n = 1;
        assert_eq!(next_free(&mut used, "D", 3, &mut n), "D002");
        assert_eq!(next_free(&mut used, "D", 3, &mut n), "D004");
    }
}
