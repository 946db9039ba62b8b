//! Turns raw tables into a typed [`Roster`], reporting every problem with its sheet, row
//! and column so the office can fix the spreadsheet in one pass.

use super::model::{col, PersonRow, Roster, RowError, SchoolRow, Sheet, ZoneLevel, ZoneRow, STAGES};
use super::read::{RawRow, RawTable, RawTables};
use crate::domain::role::{InspectorType, Role};
use crate::domain::text::{closest_name, did_you_mean, normalize_key};
use std::collections::HashMap;

/// 角色 values that only name the role; any other accepted label (校长, 督管员 …) doubles as
/// the person's 职务 when that column is empty. The first label of each role is the one
/// the export writes.
pub(crate) const GENERIC_ROLE_LABELS: &[&str] = &[
    "管理员",
    "督导室",
    "责任督学",
    "学校联络员",
    "系统管理员",
    "admin",
    "supervisor",
    "督学",
    "inspector",
    "学校",
    "school_contact",
];

/// Separators accepted between several values in one cell.
const LIST_SEPARATORS: &[char] = &['、', '，', ',', ';', '；', '/', '／'];

/// Longest cell value echoed back in a message, so a pasted essay does not flood the reply.
const MAX_ECHO_CHARS: usize = 40;

/// Validates a whole roster. On failure, returns all problems sorted by sheet and row.
pub fn validate(raw: RawTables) -> Result<Roster, Vec<RowError>> {
    let mut v = Validator::default();
    // Before expanding: the schools an example row names are examples too, reported once.
    v.errors.extend(super::office::example_rows(&raw));
    // An office sheet not expanded against an existing roster yet stands alone.
    let mut raw = super::office::expand(raw, None);
    v.errors.append(&mut raw.problems);

    let zone_table = v.usable_table(&raw, Sheet::Zones);
    let school_table = v.usable_table(&raw, Sheet::Schools);
    let person_table = v.usable_table(&raw, Sheet::People);

    // A missing table is reported once above; references into it are then not checked,
    // rather than flagged on every row.
    let mut zones = zone_table.map(|t| v.zones(t));
    let zone_index = zones.as_deref().map(ZoneIndex::new);
    let mut schools = school_table.map(|t| v.schools(t, zone_index.as_ref()));
    let school_index = schools.as_deref().map(SchoolIndex::new);
    let people = person_table.map(|t| v.people(t, zone_index.as_ref(), school_index.as_ref()));
    let person_index = people.as_deref().map(PersonIndex::new);

    if let (Some(zones), Some(index)) = (zones.as_mut(), person_index.as_ref()) {
        v.resolve_leaders(zones, index);
    }
    if let Some(schools) = schools.as_mut() {
        v.resolve_school_inspectors(schools, person_index.as_ref());
    }

    // Rows that came from an office sheet are reported in its own words: its sheet name, its
    // column headers.
    for e in v.errors.iter_mut().filter(|e| e.sheet_name.is_none()) {
        if let Some(t) = raw.get(e.sheet).filter(|t| t.sheet_name.is_some()) {
            e.sheet_name = t.sheet_name.clone();
            if let Some(label) = e.column.as_ref().and_then(|c| t.labels.get(c)) {
                e.column = Some(label.clone());
            }
        }
    }
    if v.errors.is_empty() {
        Ok(Roster {
            zones: zones.unwrap_or_default(),
            schools: schools.unwrap_or_default(),
            people: people.unwrap_or_default(),
        })
    } else {
        // Stable: problems within a row keep column order.
        v.errors.sort_by_key(|e| (e.sheet, e.row));
        Err(v.errors)
    }
}

#[derive(Default)]
struct Validator {
    errors: Vec<RowError>,
}

impl Validator {
    fn err(&mut self, sheet: Sheet, row: usize, column: &str, message: impl Into<String>) {
        self.errors.push(RowError::new(sheet, row, Some(column), message));
    }

    /// The table, if present and carrying every required column.
    fn usable_table<'a>(&mut self, raw: &'a RawTables, sheet: Sheet) -> Option<&'a RawTable> {
        let Some(table) = raw.get(sheet) else {
            self.errors.push(RowError::new(
                sheet,
                0,
                None,
                format!("缺少“{}”表：花名册须包含责任区、学校、人员三张表", sheet.label()),
            ));
            return None;
        };
        for dup in &table.duplicate_headers {
            self.err(sheet, table.header_row, dup, format!("列“{dup}”出现了多次，请删除多余的列"));
        }
        let mut usable = true;
        for column in sheet.required_columns() {
            if !table.has_column(column) {
                self.err(sheet, 0, column, format!("缺少必填列“{column}”"));
                usable = false;
            }
        }
        usable.then_some(table)
    }

    fn zones(&mut self, table: &RawTable) -> Vec<ZoneRow> {
        const S: Sheet = Sheet::Zones;
        let mut codes = FirstSeen::default();
        let mut names = FirstSeen::default();
        let mut out = Vec::new();
        for r in &table.rows {
            let code = r.get(col::CODE);
            let name = r.get(col::NAME);
            let mut code_ok = false;
            if code.is_empty() {
                self.err(S, r.row, col::CODE, "编号不能为空");
            } else if let Some(first) = codes.check(code, r.row) {
                self.err(S, r.row, col::CODE, format!("责任区编号重复：与第{first}行相同"));
            } else {
                code_ok = true;
            }
            if name.is_empty() {
                self.err(S, r.row, col::NAME, "名称不能为空");
            } else if let Some(first) = names.check(name, r.row) {
                self.err(S, r.row, col::NAME, format!("责任区名称重复：与第{first}行相同"));
            }
            let level = match parse_level(r.get(col::LEVEL)) {
                Some(level) => level,
                None => {
                    self.err(S, r.row, col::LEVEL, format!("级别应为“县级”或“市级”，而不是{}", q(r.get(col::LEVEL))));
                    ZoneLevel::County
                }
            };
            // Keep rows with a usable code so schools naming them are not flagged as well.
            if code_ok {
                out.push(ZoneRow {
                    row: r.row,
                    code: code.to_string(),
                    name: name.to_string(),
                    level,
                    leader_code: opt(r.get(col::LEADER)),
                });
            }
        }
        out
    }

    fn schools(&mut self, table: &RawTable, zones: Option<&ZoneIndex>) -> Vec<SchoolRow> {
        const S: Sheet = Sheet::Schools;
        let mut codes = FirstSeen::default();
        let mut names = FirstSeen::default();
        let mut out = Vec::new();
        for r in &table.rows {
            let code = r.get(col::SCHOOL_CODE);
            let name = r.get(col::SCHOOL_NAME);
            let mut code_ok = false;
            if code.is_empty() {
                self.err(S, r.row, col::SCHOOL_CODE, "学校代码不能为空");
            } else if code.chars().any(char::is_whitespace) {
                self.err(S, r.row, col::SCHOOL_CODE, format!("学校代码不能包含空格：{}", q(code)));
            } else if let Some(first) = codes.check(code, r.row) {
                self.err(S, r.row, col::SCHOOL_CODE, format!("学校代码重复：与第{first}行相同"));
            } else {
                code_ok = true;
            }
            if name.is_empty() {
                self.err(S, r.row, col::SCHOOL_NAME, "学校名称不能为空");
            } else if let Some(first) = names.check(name, r.row) {
                self.err(S, r.row, col::SCHOOL_NAME, format!("学校名称重复：与第{first}行相同"));
            }

            let short_name = opt(r.get(col::SHORT_NAME));
            let mut aliases = split_list(r.get(col::ALIASES));
            aliases.retain(|a| a != name && Some(a) != short_name.as_ref());

            let zone_raw = r.get(col::ZONE);
            let zone_code = if zone_raw.is_empty() {
                self.err(S, r.row, col::ZONE, "责任区不能为空");
                String::new()
            } else {
                match zones.map(|z| z.resolve(zone_raw)) {
                    Some(Some(code)) => code.to_string(),
                    Some(None) => {
                        self.err(S, r.row, col::ZONE, format!("未知的责任区{}", q(zone_raw)));
                        zone_raw.to_string()
                    }
                    None => zone_raw.to_string(),
                }
            };

            let stage_raw = r.get(col::STAGE);
            let stage = match parse_stage(stage_raw) {
                Some(stage) => stage.to_string(),
                None => {
                    let message = if stage_raw.is_empty() {
                        "学段不能为空".to_string()
                    } else {
                        format!("未知的学段{}，应为：{}", q(stage_raw), STAGES.join("、"))
                    };
                    self.err(S, r.row, col::STAGE, message);
                    stage_raw.to_string()
                }
            };

            let private = match r.get(col::OWNERSHIP) {
                "" | "公办" | "公立" => false,
                "民办" | "私立" => true,
                other => {
                    self.err(S, r.row, col::OWNERSHIP, format!("办学性质应为“公办”或“民办”，而不是{}", q(other)));
                    false
                }
            };
            let city_direct = self.flag(S, r, col::CITY_DIRECT);
            let boarding = self.flag(S, r, col::BOARDING);

            if code_ok {
                out.push(SchoolRow {
                    row: r.row,
                    code: code.to_string(),
                    name: name.to_string(),
                    short_name,
                    aliases,
                    zone_code,
                    stage,
                    private,
                    city_direct,
                    boarding,
                    // Resolved against the people table later.
                    primary_inspector: opt(r.get(col::PRIMARY)),
                    secondary_inspectors: split_list(r.get(col::SECONDARY)),
                    recused_inspectors: split_list(r.get(col::RECUSED)),
                });
            }
        }
        out
    }

    fn flag(&mut self, sheet: Sheet, r: &RawRow, column: &str) -> bool {
        let raw = r.get(column);
        parse_flag(raw).unwrap_or_else(|| {
            self.err(sheet, r.row, column, format!("{column}应填“是”或“否”，而不是{}", q(raw)));
            false
        })
    }

    fn people(&mut self, table: &RawTable, zones: Option<&ZoneIndex>, schools: Option<&SchoolIndex>) -> Vec<PersonRow> {
        const S: Sheet = Sheet::People;
        let mut codes = FirstSeen::default();
        let mut phones = FirstSeen::default();
        let mut qqs = FirstSeen::default();
        let mut wecoms = FirstSeen::default();
        let mut telegrams = FirstSeen::default();
        // A conditionally required column that is absent is reported once, not per row.
        let mut missing_reported: Vec<&str> = Vec::new();
        let mut out = Vec::new();

        for r in &table.rows {
            let code = r.get(col::CODE);
            let name = r.get(col::PERSON_NAME);
            let mut code_ok = false;
            if code.is_empty() {
                self.err(S, r.row, col::CODE, "编号不能为空");
            } else if let Some(first) = codes.check(code, r.row) {
                self.err(S, r.row, col::CODE, format!("人员编号重复：与第{first}行相同"));
            } else {
                code_ok = true;
            }
            if name.is_empty() {
                self.err(S, r.row, col::PERSON_NAME, "姓名不能为空");
            }

            let role_raw = r.get(col::ROLE);
            let role = Role::parse_label(role_raw);
            if role.is_none() {
                let message = if role_raw.is_empty() {
                    "角色不能为空".to_string()
                } else {
                    format!("未知的角色{}，应为：管理员、督导室、责任督学、学校联络员、校长等", q(role_raw))
                };
                self.err(S, r.row, col::ROLE, message);
            }

            let mut require_column = |v: &mut Self, column: &'static str, why: &str| {
                if table.has_column(column) {
                    true
                } else {
                    if !missing_reported.contains(&column) {
                        missing_reported.push(column);
                        v.err(S, 0, column, format!("缺少“{column}”列：{why}"));
                    }
                    false
                }
            };

            let mut inspector_type = None;
            let mut zone_code = None;
            let mut school_code = None;
            let mut other_school_codes = Vec::new();
            match role {
                Some(Role::Inspector) => {
                    let raw = r.get(col::INSPECTOR_TYPE);
                    if require_column(self, col::INSPECTOR_TYPE, "责任督学须填写督学类型") {
                        inspector_type = InspectorType::parse_label(raw);
                        if inspector_type.is_none() {
                            let message = if raw.is_empty() {
                                "责任督学须填写督学类型（专职、兼职或特约）".to_string()
                            } else {
                                format!("未知的督学类型{}，应为专职、兼职或特约", q(raw))
                            };
                            self.err(S, r.row, col::INSPECTOR_TYPE, message);
                        }
                    }
                    let zone_raw = r.get(col::ZONE);
                    let needs_zone = matches!(inspector_type, Some(InspectorType::FullTime | InspectorType::PartTime));
                    if !zone_raw.is_empty() {
                        zone_code = match zones.map(|z| z.resolve(zone_raw)) {
                            Some(Some(code)) => Some(code.to_string()),
                            Some(None) => {
                                self.err(S, r.row, col::ZONE, format!("未知的责任区{}", q(zone_raw)));
                                None
                            }
                            None => Some(zone_raw.to_string()),
                        };
                    } else if needs_zone && require_column(self, col::ZONE, "专职、兼职督学须填写责任区") {
                        self.err(S, r.row, col::ZONE, "专职、兼职督学须填写责任区");
                    }
                }
                Some(Role::SchoolContact) => {
                    if require_column(self, col::SCHOOL, "学校联络员、校长须填写所属学校") {
                        let raw = r.get(col::SCHOOL);
                        if raw.is_empty() {
                            self.err(S, r.row, col::SCHOOL, "学校联络员、校长须填写所属学校");
                        } else {
                            // One contact may serve several schools, listed in this cell with
                            // 、，； (a whole cell naming one school is tried first).
                            let whole = schools.map(|s| s.resolve(raw));
                            let parts = if matches!(whole, Some(SchoolLookup::Found(_))) || schools.is_none() {
                                vec![raw.to_string()]
                            } else {
                                split_list(raw)
                            };
                            let mut codes_here: Vec<String> = Vec::new();
                            for part in &parts {
                                let found = match schools.map(|s| s.resolve(part)) {
                                    Some(SchoolLookup::Found(code)) => Some(code.to_string()),
                                    Some(SchoolLookup::Ambiguous) => {
                                        self.err(
                                            S,
                                            r.row,
                                            col::SCHOOL,
                                            format!("学校{}对应多所学校，请改填学校代码", q(part)),
                                        );
                                        None
                                    }
                                    Some(SchoolLookup::Unknown) => {
                                        let hint = schools.map(|s| s.hint(part)).unwrap_or_default();
                                        let message = if hint.is_empty() {
                                            format!("未知的学校{}", q(part))
                                        } else {
                                            format!("未知的学校{}，{hint}", q(part))
                                        };
                                        self.err(S, r.row, col::SCHOOL, message);
                                        None
                                    }
                                    None => Some(part.clone()),
                                };
                                if let Some(c) = found.filter(|c| !codes_here.contains(c)) {
                                    codes_here.push(c);
                                }
                            }
                            let mut it = codes_here.into_iter();
                            school_code = it.next();
                            other_school_codes = it.collect();
                        }
                    }
                }
                // Supervisors and admins have no zone or school; such cells are ignored.
                Some(Role::Admin | Role::Supervisor) | None => {}
            }

            let title = opt(r.get(col::TITLE))
                .or_else(|| (role.is_some() && !GENERIC_ROLE_LABELS.contains(&role_raw)).then(|| role_raw.to_string()));

            let phone = match r.get(col::PHONE) {
                "" => None,
                raw => match normalize_phone(raw) {
                    Some(p) => {
                        if let Some(first) = phones.check(&p, r.row) {
                            self.err(S, r.row, col::PHONE, format!("手机号码重复：与第{first}行相同"));
                        }
                        Some(p)
                    }
                    None => {
                        self.err(S, r.row, col::PHONE, format!("手机号码格式不正确：{}", q(raw)));
                        None
                    }
                },
            };
            let qq = self.account(S, r, col::QQ, &mut qqs, is_qq, "QQ号应为5–12位数字且不以0开头");
            let wecom = self.account(
                S,
                r,
                col::WECOM,
                &mut wecoms,
                is_wecom_userid,
                "企业微信账号不能包含空格且不超过64个字符",
            );
            let telegram =
                self.account(S, r, col::TELEGRAM, &mut telegrams, is_telegram_id, "Telegram 账号应为数字 ID");

            if let (true, Some(role)) = (code_ok, role) {
                out.push(PersonRow {
                    row: r.row,
                    code: code.to_string(),
                    name: name.to_string(),
                    role,
                    title,
                    inspector_type,
                    zone_code,
                    school_code,
                    other_school_codes,
                    phone,
                    qq,
                    wecom,
                    telegram,
                });
            }
        }
        out
    }

    /// A chat account cell: optional, well-formed, and bound to at most one person.
    fn account(
        &mut self,
        sheet: Sheet,
        r: &RawRow,
        column: &str,
        seen: &mut FirstSeen,
        valid: fn(&str) -> bool,
        invalid_message: &str,
    ) -> Option<String> {
        let raw = r.get(column);
        if raw.is_empty() {
            return None;
        }
        if !valid(raw) {
            self.err(sheet, r.row, column, format!("{invalid_message}：{}", q(raw)));
            return None;
        }
        if let Some(first) = seen.check(raw, r.row) {
            self.err(sheet, r.row, column, format!("{column}重复：与第{first}行相同"));
        }
        Some(raw.to_string())
    }

    fn resolve_leaders(&mut self, zones: &mut [ZoneRow], people: &PersonIndex) {
        for zone in zones {
            let Some(raw) = zone.leader_code.take() else {
                continue;
            };
            match people.resolve_inspector(col::LEADER, &raw) {
                Ok(code) => zone.leader_code = Some(code),
                Err(message) => {
                    self.err(Sheet::Zones, zone.row, col::LEADER, message);
                    zone.leader_code = Some(raw);
                }
            }
        }
    }

    fn resolve_school_inspectors(&mut self, schools: &mut [SchoolRow], people: Option<&PersonIndex>) {
        const S: Sheet = Sheet::Schools;
        for school in schools {
            let row = school.row;
            let resolve = |v: &mut Self, column: &str, raw: String| match people {
                Some(index) => match index.resolve_inspector(column, &raw) {
                    Ok(code) => code,
                    Err(message) => {
                        v.err(S, row, column, message);
                        raw
                    }
                },
                None => raw,
            };
            let primary = school.primary_inspector.take().map(|raw| resolve(self, col::PRIMARY, raw));
            let mut secondary = Vec::new();
            for raw in std::mem::take(&mut school.secondary_inspectors) {
                let code = resolve(self, col::SECONDARY, raw);
                if !secondary.contains(&code) {
                    secondary.push(code);
                }
            }
            let mut recused = Vec::new();
            for raw in std::mem::take(&mut school.recused_inspectors) {
                let code = resolve(self, col::RECUSED, raw);
                if !recused.contains(&code) {
                    recused.push(code);
                }
            }

            if let Some(p) = &primary {
                if secondary.contains(p) {
                    self.err(S, row, col::SECONDARY, format!("协同督学{}与主责督学相同", q(p)));
                }
                if recused.contains(p) {
                    self.err(S, row, col::RECUSED, format!("回避督学{}不能同时是主责督学", q(p)));
                }
            }
            // A code equal to the primary was reported above already.
            let conflicting = recused.iter().filter(|c| secondary.contains(c) && primary.as_ref() != Some(*c));
            for code in conflicting {
                self.err(S, row, col::RECUSED, format!("回避督学{}不能同时是协同督学", q(code)));
            }
            school.primary_inspector = primary;
            school.secondary_inspectors = secondary;
            school.recused_inspectors = recused;
        }
    }
}

/// Remembers the first row at which each value appeared.
#[derive(Default)]
struct FirstSeen(HashMap<String, usize>);

impl FirstSeen {
    /// `Some(first_row)` if the value was seen before; otherwise records it.
    /// Values are compared by [`normalize_key`]: "ＱＨ３" repeats "QH3".
    fn check(&mut self, value: &str, row: usize) -> Option<usize> {
        let key = normalize_key(value);
        if let Some(first) = self.0.get(&key) {
            return Some(*first);
        }
        self.0.insert(key, row);
        None
    }
}

/// Zone lookup by 编号, then by 名称, both by [`normalize_key`].
struct ZoneIndex<'a> {
    by_code: HashMap<String, &'a str>,
    by_name: HashMap<String, &'a str>,
}

impl<'a> ZoneIndex<'a> {
    fn new(zones: &'a [ZoneRow]) -> Self {
        let mut by_name = HashMap::new();
        let mut by_code = HashMap::new();
        for z in zones {
            by_name.entry(normalize_key(&z.name)).or_insert(z.code.as_str());
            by_code.entry(normalize_key(&z.code)).or_insert(z.code.as_str());
        }
        ZoneIndex { by_code, by_name }
    }

    fn resolve(&self, raw: &str) -> Option<&'a str> {
        let key = normalize_key(raw);
        self.by_code.get(&key).or_else(|| self.by_name.get(&key)).copied()
    }
}

enum SchoolLookup<'a> {
    Found(&'a str),
    /// A 简称 or 别名 shared by several schools.
    Ambiguous,
    Unknown,
}

/// School lookup by 学校代码, 学校名称, then 简称 or 别名 when only one school uses it; all by
/// [`normalize_key`].
struct SchoolIndex<'a> {
    exact: HashMap<String, &'a str>,
    nick: HashMap<String, Vec<&'a str>>,
    names: Vec<&'a str>,
}

impl<'a> SchoolIndex<'a> {
    fn new(schools: &'a [SchoolRow]) -> Self {
        let mut exact = HashMap::new();
        let mut nick: HashMap<String, Vec<&str>> = HashMap::new();
        for s in schools {
            exact.entry(normalize_key(&s.name)).or_insert(s.code.as_str());
            for n in s.short_name.iter().chain(&s.aliases) {
                let codes = nick.entry(normalize_key(n)).or_default();
                if !codes.contains(&s.code.as_str()) {
                    codes.push(s.code.as_str());
                }
            }
        }
        // Codes last so they win over a name that happens to equal another school's code.
        for s in schools {
            exact.insert(normalize_key(&s.code), s.code.as_str());
        }
        SchoolIndex { exact, nick, names: schools.iter().map(|s| s.name.as_str()).collect() }
    }

    /// The school a misspelt name most likely meant, as a "是否为…？" hint (or "").
    fn hint(&self, raw: &str) -> String {
        did_you_mean(closest_name(raw, &self.names))
    }

    fn resolve(&self, raw: &str) -> SchoolLookup<'a> {
        let key = normalize_key(raw);
        if let Some(code) = self.exact.get(&key) {
            return SchoolLookup::Found(code);
        }
        match self.nick.get(&key).map(Vec::as_slice) {
            Some([code]) => SchoolLookup::Found(code),
            Some([_, _, ..]) => SchoolLookup::Ambiguous,
            _ => SchoolLookup::Unknown,
        }
    }
}

/// Person lookup for inspector references: by 编号, or by a unique inspector name; both by
/// [`normalize_key`].
struct PersonIndex<'a> {
    by_code: HashMap<String, &'a PersonRow>,
    inspectors_by_name: HashMap<String, Vec<&'a str>>,
    others_by_name: HashMap<String, &'a PersonRow>,
    inspector_names: Vec<&'a str>,
}

impl<'a> PersonIndex<'a> {
    fn new(people: &'a [PersonRow]) -> Self {
        let mut inspectors_by_name: HashMap<String, Vec<&str>> = HashMap::new();
        let mut others_by_name = HashMap::new();
        let mut inspector_names = Vec::new();
        for p in people {
            if p.role == Role::Inspector {
                inspectors_by_name.entry(normalize_key(&p.name)).or_default().push(p.code.as_str());
                inspector_names.push(p.name.as_str());
            } else {
                others_by_name.entry(normalize_key(&p.name)).or_insert(p);
            }
        }
        let by_code = people.iter().map(|p| (normalize_key(&p.code), p)).collect();
        PersonIndex { by_code, inspectors_by_name, others_by_name, inspector_names }
    }

    /// An inspector named in `column` by 编号 or by name. The message tells which of the two
    /// the cell looked like, so a name is never reported as a missing code.
    fn resolve_inspector(&self, column: &str, raw: &str) -> Result<String, String> {
        let key = normalize_key(raw);
        if let Some(p) = self.by_code.get(&key) {
            return if p.role == Role::Inspector {
                Ok(p.code.clone())
            } else {
                Err(format!("{}（{}）不是责任督学，而是{}", q(raw), p.name, p.role.label()))
            };
        }
        match self.inspectors_by_name.get(&key).map(Vec::as_slice) {
            Some([code]) => return Ok((*code).to_string()),
            Some([_, _, ..]) => return Err(format!("督学姓名{}有重名，请改填人员编号", q(raw))),
            _ => {}
        }
        if let Some(p) = self.others_by_name.get(&key) {
            return Err(format!("{column}{}（{}）不是责任督学，而是{}", q(raw), p.code, p.role.label()));
        }
        // Codes are letters and digits ("D012"); anything with other characters is a name.
        if key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            Err(format!("人员表中没有编号为{}的督学", q(raw)))
        } else {
            let hint = did_you_mean(closest_name(raw, &self.inspector_names));
            Err(format!("{column}{}：人员表中没有这位督学（既不是编号也不是督学姓名）{hint}", q(raw)))
        }
    }
}

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// Quotes a user value for a message, shortened if long.
fn q(s: &str) -> String {
    let mut chars = s.chars();
    let head: String = chars.by_ref().take(MAX_ECHO_CHARS).collect();
    if chars.next().is_some() {
        format!("“{head}…”")
    } else {
        format!("“{head}”")
    }
}

fn split_list(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in s.split(LIST_SEPARATORS) {
        let part = super::read::clean(part);
        if !part.is_empty() && !out.contains(&part) {
            out.push(part);
        }
    }
    out
}

fn parse_level(s: &str) -> Option<ZoneLevel> {
    match s.to_lowercase().as_str() {
        "" | "县级" | "县" | "county" => Some(ZoneLevel::County),
        "市级" | "市" | "city" => Some(ZoneLevel::City),
        _ => None,
    }
}

/// Canonical stage name, accepting the abbreviations offices use.
fn parse_stage(s: &str) -> Option<&'static str> {
    if let Some(stage) = STAGES.iter().find(|st| **st == s) {
        return Some(stage);
    }
    Some(match s {
        "初级中学" => "初中",
        "九年制" | "九年一贯制学校" => "九年一贯制",
        "完中" => "完全中学",
        "普通高中" | "高级中学" => "高中",
        "十二年制" => "十二年一贯制",
        "特教" | "特殊教育学校" => "特殊教育",
        "小学教学点" => "教学点",
        "幼儿园" => "幼儿园",
        _ => return None,
    })
}

/// 是/否 and the spellings Excel users reach for; empty means no.
fn parse_flag(s: &str) -> Option<bool> {
    match s.to_lowercase().as_str() {
        "" | "否" | "n" | "no" | "0" | "false" | "×" => Some(false),
        "是" | "y" | "yes" | "1" | "true" | "√" => Some(true),
        _ => None,
    }
}

/// A QQ number, or a `demo-…` id: the shipped sample county uses those so that none of its
/// accounts can ever be a real QQ user.
fn is_qq(s: &str) -> bool {
    if let Some(rest) = s.strip_prefix("demo-") {
        return !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    }
    (5..=12).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with('0')
}

fn is_wecom_userid(s: &str) -> bool {
    s.chars().count() <= 64 && !s.chars().any(char::is_whitespace)
}

fn is_telegram_id(s: &str) -> bool {
    (1..=19).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_mobile(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) && b.iter().all(u8::is_ascii_digit)
}

fn is_landline(s: &str) -> bool {
    let Some((area, number)) = s.split_once('-') else {
        return false;
    };
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    (3..=4).contains(&area.len())
        && area.starts_with('0')
        && digits(area)
        && (7..=8).contains(&number.len())
        && digits(number)
}

/// Normalises a phone number: mobiles to 11 digits (spaces, dashes and a +86/86 prefix
/// removed), landlines to `0AAA-NNNNNNNN`. `None` if it is neither.
pub fn normalize_phone(raw: &str) -> Option<String> {
    let mut s = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            c if c.is_whitespace() => {}
            '０'..='９' => s.push(char::from_u32(u32::from(c) - 0xFF10 + u32::from('0'))?),
            '－' | '—' | '–' | '‐' => s.push('-'),
            '＋' => s.push('+'),
            // "(0371)12345678" is a landline with its area code in brackets.
            '(' | '（' => {}
            ')' | '）' => s.push('-'),
            c => s.push(c),
        }
    }
    let mut body = s.as_str();
    if let Some(rest) = body.strip_prefix("+86").or_else(|| body.strip_prefix("0086")) {
        body = rest.trim_start_matches('-');
    } else if let Some(rest) = body.strip_prefix("86") {
        let rest = rest.trim_start_matches('-');
        if is_mobile(&rest.replace('-', "")) {
            body = rest;
        }
    }
    let digits = body.replace('-', "");
    if is_mobile(&digits) {
        return Some(digits);
    }
    is_landline(body).then(|| body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roster::read::parse_csv;
    use std::path::Path;

    const ZONES: &str = "编号,名称,级别,组长\nZ01,第一督学责任区,县级,D001\nZ02,第二督学责任区,,D002\n";
    const SCHOOLS: &str = "学校代码,学校名称,简称,别名,责任区,学段,办学性质,市直,寄宿,主责督学,协同督学,回避督学\n\
        3000000001,示例县实验小学,实验小学,县实小、城关实小,Z01,小学,公办,否,否,D001,D003,\n\
        3000000002,示例县青石镇中心小学,青石中心小学,中心小学,第二督学责任区,小学,,,是,D002,,D003\n\
        3000000003,示例县柳湾镇中心小学,柳湾中心小学,中心小学,Z02,小学,民办,Y,N,D002,,\n";
    const PEOPLE: &str = "编号,姓名,角色,督学类型,责任区,学校,职务,手机,QQ\n\
        D001,张伟,责任督学,专职,Z01,,,199 0000 0001,100010001\n\
        D002,王芳,督学,专职,第二督学责任区,,,+86 19900000002,\n\
        D003,李娜,督学,兼职,Z01,,,,100010003\n\
        S001,刘洋,督导室主任,,,,,0371-12345678,\n\
        C0001,陈静,联络员,,,实验小学,,19900000101,\n\
        C0002,杨军,校长,,,3000000002,,,\n";

    fn raw(zones: &str, schools: &str, people: &str) -> RawTables {
        let mut t = RawTables::default();
        for (name, text) in [("z.csv", zones), ("s.csv", schools), ("p.csv", people)] {
            if !text.is_empty() {
                t.insert(parse_csv(Path::new(name), text.as_bytes()).unwrap()).unwrap();
            }
        }
        t
    }

    fn errors(zones: &str, schools: &str, people: &str) -> Vec<String> {
        validate(raw(zones, schools, people)).unwrap_err().iter().map(ToString::to_string).collect()
    }

    /// Asserts that exactly these errors (as displayed) are reported.
    fn assert_errors(zones: &str, schools: &str, people: &str, expected: &[&str]) {
        assert_eq!(errors(zones, schools, people), expected);
    }

    #[test]
    fn valid_roster_resolves_references() {
        let roster = validate(raw(ZONES, SCHOOLS, PEOPLE)).unwrap();
        assert_eq!(roster.zones.len(), 2);
        assert_eq!(roster.zones[1].level, ZoneLevel::County);
        assert_eq!(roster.zones[0].leader_code.as_deref(), Some("D001"));
        let s = &roster.schools;
        assert_eq!(s[0].aliases, vec!["县实小", "城关实小"]);
        assert_eq!(s[1].zone_code, "Z02");
        assert!(s[1].boarding && !s[1].private);
        assert_eq!(s[1].recused_inspectors, vec!["D003"]);
        assert!(s[2].private && s[2].city_direct && !s[2].boarding);
        let p = &roster.people;
        assert_eq!(p[0].phone.as_deref(), Some("19900000001"));
        assert_eq!(p[0].inspector_type, Some(InspectorType::FullTime));
        assert_eq!(p[0].title, None);
        assert_eq!(p[1].zone_code.as_deref(), Some("Z02"));
        assert_eq!(p[1].phone.as_deref(), Some("19900000002"));
        assert_eq!(p[3].role, Role::Supervisor);
        assert_eq!(p[3].title.as_deref(), Some("督导室主任"));
        assert_eq!(p[3].phone.as_deref(), Some("0371-12345678"));
        assert_eq!(p[4].school_code.as_deref(), Some("3000000001"));
        assert_eq!(p[4].title.as_deref(), Some("联络员"));
        assert_eq!(p[5].school_code.as_deref(), Some("3000000002"));
        assert_eq!(p[5].zone_code, None);
    }

    #[test]
    fn missing_tables_and_columns() {
        assert_errors(
            "",
            "学校代码,学校名称,学段\n1,甲,小学\n",
            PEOPLE,
            &["责任区：缺少“责任区”表：花名册须包含责任区、学校、人员三张表", "学校 [责任区]：缺少必填列“责任区”"],
        );
    }

    #[test]
    fn zone_errors() {
        let zones = "编号,名称,级别,组长\nZ01,第一,县级,D001\nZ01,第二,省级,C0001\n,第一,,D404\n";
        let people = "编号,姓名,角色,督学类型,学校\nD001,张伟,督学,特约,\nC0001,陈静,联络员,,\n";
        let errs = errors(zones, "学校代码,学校名称,责任区,学段\n", people);
        assert_eq!(
            errs,
            [
                "责任区 第3行 [编号]：责任区编号重复：与第2行相同",
                "责任区 第3行 [级别]：级别应为“县级”或“市级”，而不是“省级”",
                "责任区 第4行 [编号]：编号不能为空",
                "责任区 第4行 [名称]：责任区名称重复：与第2行相同",
                "人员 第3行 [学校]：学校联络员、校长须填写所属学校",
            ]
        );
        // The leader check runs only for zones with a usable code; test it separately.
        let zones = "编号,名称,组长\nZ01,第一,C0001\nZ02,第二,D404\n";
        let people = "编号,姓名,角色,督学类型,学校\nC0001,陈静,联络员,,X\n";
        let schools = "学校代码,学校名称,责任区,学段\nX,甲,Z01,小学\n";
        assert_errors(
            zones,
            schools,
            people,
            &[
                "责任区 第2行 [组长]：“C0001”（陈静）不是责任督学，而是学校联络员",
                "责任区 第3行 [组长]：人员表中没有编号为“D404”的督学",
            ],
        );
    }

    #[test]
    fn school_errors() {
        let assert_errors = |zones: &str, schools: &str, people: &str, expected: &[&str]| {
            let errs = errors(zones, schools, people);
            let school_errs: Vec<&String> = errs.iter().filter(|e| e.starts_with("学校")).collect();
            assert_eq!(school_errs, expected);
        };
        let schools = "学校代码,学校名称,责任区,学段,办学性质,市直,寄宿,主责督学,协同督学,回避督学\n\
            3000000001,甲小学,Z01,小学,公办,否,否,D001,,\n\
            3000000001,乙小学,第九责任区,大学,国营,也许,否,S001,D001、D404,\n\
            30000 003,甲小学,Z01,,,,,D001,D003,D001；D003\n\
            ,丙小学,,小学,,,,,,\n";
        assert_errors(
            ZONES,
            schools,
            PEOPLE,
            &[
                "学校 第3行 [学校代码]：学校代码重复：与第2行相同",
                "学校 第3行 [责任区]：未知的责任区“第九责任区”",
                "学校 第3行 [学段]：未知的学段“大学”，应为：小学、初中、九年一贯制、完全中学、高中、十二年一贯制、特殊教育、教学点、幼儿园",
                "学校 第3行 [办学性质]：办学性质应为“公办”或“民办”，而不是“国营”",
                "学校 第3行 [市直]：市直应填“是”或“否”，而不是“也许”",
                "学校 第4行 [学校代码]：学校代码不能包含空格：“30000 003”",
                "学校 第4行 [学校名称]：学校名称重复：与第2行相同",
                "学校 第4行 [学段]：学段不能为空",
                "学校 第5行 [学校代码]：学校代码不能为空",
                "学校 第5行 [责任区]：责任区不能为空",
                // Row 3 has a duplicate code, so its inspector references are not checked.
            ],
        );
        let schools = "学校代码,学校名称,责任区,学段,主责督学,协同督学,回避督学\n\
            1,甲小学,Z01,小学,S001,D001、D404,\n\
            2,乙小学,Z01,小学,D001,D001/D003,D001；D003\n\
            3,丙小学,Z01,小学,李娜,,\n";
        assert_errors(
            ZONES,
            schools,
            PEOPLE,
            &[
                "学校 第2行 [主责督学]：“S001”（刘洋）不是责任督学，而是督导室",
                "学校 第2行 [协同督学]：人员表中没有编号为“D404”的督学",
                "学校 第3行 [协同督学]：协同督学“D001”与主责督学相同",
                "学校 第3行 [回避督学]：回避督学“D001”不能同时是主责督学",
                "学校 第3行 [回避督学]：回避督学“D003”不能同时是协同督学",
            ],
        );
    }

    #[test]
    fn inspector_name_resolves_to_code() {
        let schools = "学校代码,学校名称,责任区,学段,主责督学\n1,甲小学,Z01,小学,李娜\n";
        let people = PEOPLE.replace("实验小学", "1").replace("3000000002", "1");
        let roster = validate(raw(ZONES, schools, &people)).unwrap();
        assert_eq!(roster.schools[0].primary_inspector.as_deref(), Some("D003"));
    }

    #[test]
    fn person_errors() {
        let people = "编号,姓名,角色,督学类型,责任区,学校,手机,QQ,企业微信,Telegram\n\
            D001,张伟,督学,专职,Z01,,19900000001,100010001,zhangwei,12345\n\
            D001,,路人,,,,,,,\n\
            D002,王芳,督学,,,,1990000001,1234,wang fang,@wang\n\
            D003,李娜,督学,专家,第九责任区,,199-0000-0001,100010001,zhangwei,12345\n\
            D004,赵敏,督学,兼职,,,,,,\n\
            D005,孙丽,督学,特约,,,,,,\n\
            C0001,陈静,联络员,,,中心小学,,,,\n\
            C0002,杨军,校长,,,不存在的学校,,,,\n\
            C0003,周强,学校联络员,,,,,,,\n";
        let errs = errors(ZONES, SCHOOLS, people);
        let expected = [
            "人员 第3行 [编号]：人员编号重复：与第2行相同",
            "人员 第3行 [姓名]：姓名不能为空",
            "人员 第3行 [角色]：未知的角色“路人”，应为：管理员、督导室、责任督学、学校联络员、校长等",
            "人员 第4行 [督学类型]：责任督学须填写督学类型（专职、兼职或特约）",
            "人员 第4行 [手机]：手机号码格式不正确：“1990000001”",
            "人员 第4行 [QQ]：QQ号应为5–12位数字且不以0开头：“1234”",
            "人员 第4行 [企业微信]：企业微信账号不能包含空格且不超过64个字符：“wang fang”",
            "人员 第4行 [Telegram]：Telegram 账号应为数字 ID：“@wang”",
            "人员 第5行 [督学类型]：未知的督学类型“专家”，应为专职、兼职或特约",
            "人员 第5行 [责任区]：未知的责任区“第九责任区”",
            "人员 第5行 [手机]：手机号码重复：与第2行相同",
            "人员 第5行 [QQ]：QQ重复：与第2行相同",
            "人员 第5行 [企业微信]：企业微信重复：与第2行相同",
            "人员 第5行 [Telegram]：Telegram重复：与第2行相同",
            "人员 第6行 [责任区]：专职、兼职督学须填写责任区",
            "人员 第8行 [学校]：学校“中心小学”对应多所学校，请改填学校代码",
            "人员 第9行 [学校]：未知的学校“不存在的学校”",
            "人员 第10行 [学校]：学校联络员、校长须填写所属学校",
        ];
        // Zone leaders D002 and school references to D002/D003 also fail; keep only people rows.
        let people_errs: Vec<&String> = errs.iter().filter(|e| e.starts_with("人员")).collect();
        assert_eq!(people_errs, expected);
    }

    #[test]
    fn conditional_columns_reported_once() {
        let people = "编号,姓名,角色\nD001,张伟,督学\nD002,王芳,督学\nC0001,陈静,校长\n";
        let errs = errors(ZONES, SCHOOLS, people);
        let people_errs: Vec<&String> = errs.iter().filter(|e| e.starts_with("人员")).collect();
        assert_eq!(
            people_errs,
            [
                "人员 [督学类型]：缺少“督学类型”列：责任督学须填写督学类型",
                "人员 [学校]：缺少“学校”列：学校联络员、校长须填写所属学校",
            ]
        );
    }

    #[test]
    fn ignores_fields_that_do_not_apply() {
        let people = "编号,姓名,角色,督学类型,责任区,学校\nS001,刘洋,督导室,专职,Z01,1\nA001,管理员甲,管理员,,,\n";
        let schools = "学校代码,学校名称,责任区,学段\n1,甲小学,Z01,小学\n";
        let zones = "编号,名称\nZ01,第一\n";
        let roster = validate(raw(zones, schools, people)).unwrap();
        let p = &roster.people[0];
        assert_eq!((p.inspector_type, &p.zone_code, &p.school_code), (None, &None, &None));
        assert_eq!(p.title, None);
    }

    #[test]
    fn phones() {
        let ok = [
            ("199 0000 0001", "19900000001"),
            ("199-0000-0001", "19900000001"),
            ("+86 199 0000 0001", "19900000001"),
            ("8619900000001", "19900000001"),
            ("+86-19900000001", "19900000001"),
            ("１９９００００００01", "19900000001"),
            ("0371-12345678", "0371-12345678"),
            ("010-1234567", "010-1234567"),
            ("（0371）12345678", "0371-12345678"),
            ("\u{3000}0371－12345678", "0371-12345678"),
        ];
        for (raw, want) in ok {
            assert_eq!(normalize_phone(raw).as_deref(), Some(want), "{raw}");
        }
        for bad in ["", "12345678901", "1990000000", "037112345678", "0371-123", "abc", "😀"] {
            assert_eq!(normalize_phone(bad), None, "{bad}");
        }
    }

    #[test]
    fn flags_and_lists() {
        for (s, want) in [
            ("是", true),
            ("Y", true),
            ("1", true),
            ("TRUE", true),
            ("否", false),
            ("n", false),
            ("0", false),
            ("false", false),
            ("", false),
        ] {
            assert_eq!(parse_flag(s), Some(want), "{s}");
        }
        assert_eq!(parse_flag("maybe"), None);
        assert_eq!(split_list(" a、b，c,d;e；f/g ／a"), ["a", "b", "c", "d", "e", "f", "g"]);
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let long = "很".repeat(500);
        let people = format!("编号,姓名,角色\nD001,张伟,{long}\n");
        let errs = errors(ZONES, SCHOOLS, &people);
        let e = errs.iter().find(|e| e.contains("[角色]")).unwrap();
        assert!(e.chars().count() < 120, "{e}");
    }

    #[test]
    fn arbitrary_cells_never_panic() {
        // Deterministic pseudo-random cells drawn from troublesome fragments.
        let fragments = [
            "",
            " ",
            "\u{3000}",
            "Z01",
            "第一督学责任区",
            "D001",
            "C0001",
            "3000000001",
            "实验小学",
            "中心小学",
            "督学",
            "校长",
            "专职",
            "特约",
            "是",
            "否",
            "、",
            "，",
            ";",
            "/",
            "+86",
            "199",
            "0000",
            "-",
            "😀",
            "\"",
            "\n",
            "\r",
            "\t",
            ",",
            "0",
            "１",
            "（",
            "）",
            "很长很长",
        ];
        let mut seed: u64 = 0x5eed;
        let mut next = move |n: usize| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % n
        };
        let mut ok = 0;
        for _ in 0..300 {
            let mut tables = Vec::new();
            for sheet in Sheet::ALL {
                let mut text = sheet.columns().join(",");
                text.push('\n');
                for _ in 0..next(6) {
                    let row: Vec<String> = sheet
                        .columns()
                        .iter()
                        .map(|_| {
                            let s: String = (0..next(4)).map(|_| fragments[next(fragments.len())]).collect();
                            format!("\"{}\"", s.replace('"', "\"\""))
                        })
                        .collect();
                    text.push_str(&row.join(","));
                    text.push('\n');
                }
                tables.push(text);
            }
            if let Ok(roster) = validate(raw(&tables[0], &tables[1], &tables[2])) {
                ok += 1;
                let dir = tempfile::tempdir().unwrap();
                let paths = crate::roster::write::write_csv_dir(&roster, dir.path()).unwrap();
                let back = validate(crate::roster::read::read_files(&paths).unwrap()).unwrap();
                assert_eq!(back.people.len(), roster.people.len());
            }
        }
        assert!(ok > 0, "no generated roster was valid; the test exercises only errors");
    }

    #[test]
    fn generic_role_labels_parse() {
        for l in GENERIC_ROLE_LABELS {
            assert!(Role::parse_label(l).is_some(), "{l}");
        }
    }
}
