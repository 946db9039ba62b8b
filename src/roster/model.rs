//! The validated roster and the errors found while validating it.

use crate::domain::role::{InspectorType, Role};
use serde::Serialize;
use std::fmt;

/// The three tables of a roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sheet {
    Zones,
    Schools,
    People,
}

impl Sheet {
    pub const ALL: [Sheet; 3] = [Sheet::Zones, Sheet::Schools, Sheet::People];

    /// The sheet name in a workbook, also used in messages.
    pub fn label(&self) -> &'static str {
        match self {
            Sheet::Zones => "责任区",
            Sheet::Schools => "学校",
            Sheet::People => "人员",
        }
    }

    /// The file name used when exporting one CSV per table.
    pub fn csv_file_name(&self) -> &'static str {
        match self {
            Sheet::Zones => "zones.csv",
            Sheet::Schools => "schools.csv",
            Sheet::People => "people.csv",
        }
    }

    /// Canonical header names, in export order.
    pub fn columns(&self) -> &'static [&'static str] {
        match self {
            Sheet::Zones => ZONE_COLUMNS,
            Sheet::Schools => SCHOOL_COLUMNS,
            Sheet::People => PERSON_COLUMNS,
        }
    }

    /// Columns without which no row of the table can be read.
    pub fn required_columns(&self) -> &'static [&'static str] {
        match self {
            Sheet::Zones => &[col::CODE, col::NAME],
            Sheet::Schools => &[col::SCHOOL_CODE, col::SCHOOL_NAME, col::ZONE, col::STAGE],
            Sheet::People => &[col::CODE, col::PERSON_NAME, col::ROLE],
        }
    }
}

impl fmt::Display for Sheet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Canonical column names (after header normalisation).
pub mod col {
    pub const CODE: &str = "编号";
    pub const NAME: &str = "名称";
    pub const LEVEL: &str = "级别";
    pub const LEADER: &str = "组长";

    pub const SCHOOL_CODE: &str = "学校代码";
    pub const SCHOOL_NAME: &str = "学校名称";
    pub const SHORT_NAME: &str = "简称";
    pub const ALIASES: &str = "别名";
    pub const ZONE: &str = "责任区";
    pub const STAGE: &str = "学段";
    pub const OWNERSHIP: &str = "办学性质";
    pub const CITY_DIRECT: &str = "市直";
    pub const BOARDING: &str = "寄宿";
    pub const PRIMARY: &str = "主责督学";
    pub const SECONDARY: &str = "协同督学";
    pub const RECUSED: &str = "回避督学";

    pub const PERSON_NAME: &str = "姓名";
    pub const ROLE: &str = "角色";
    pub const INSPECTOR_TYPE: &str = "督学类型";
    pub const SCHOOL: &str = "学校";
    pub const TITLE: &str = "职务";
    pub const PHONE: &str = "手机";
    pub const QQ: &str = "QQ";
    pub const WECOM: &str = "企业微信";
    pub const TELEGRAM: &str = "Telegram";
    pub const NOTE: &str = "备注";
}

pub const ZONE_COLUMNS: &[&str] = &[col::CODE, col::NAME, col::LEVEL, col::LEADER];

pub const SCHOOL_COLUMNS: &[&str] = &[
    col::SCHOOL_CODE,
    col::SCHOOL_NAME,
    col::SHORT_NAME,
    col::ALIASES,
    col::ZONE,
    col::STAGE,
    col::OWNERSHIP,
    col::CITY_DIRECT,
    col::BOARDING,
    col::PRIMARY,
    col::SECONDARY,
    col::RECUSED,
];

pub const PERSON_COLUMNS: &[&str] = &[
    col::CODE,
    col::PERSON_NAME,
    col::ROLE,
    col::INSPECTOR_TYPE,
    col::ZONE,
    col::SCHOOL,
    col::TITLE,
    col::PHONE,
    col::QQ,
    col::WECOM,
    col::TELEGRAM,
    col::NOTE,
];

/// School stages accepted in the 学段 column (canonical spellings).
pub const STAGES: &[&str] =
    &["小学", "初中", "九年一贯制", "完全中学", "高中", "十二年一贯制", "特殊教育", "教学点", "幼儿园"];

/// County zones cover all schools; city zones cover high schools and city-direct schools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoneLevel {
    County,
    City,
}

impl ZoneLevel {
    pub fn as_str(&self) -> &'static str {
        match self {
            ZoneLevel::County => "county",
            ZoneLevel::City => "city",
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            ZoneLevel::County => "县级",
            ZoneLevel::City => "市级",
        }
    }

    pub fn parse_db(s: &str) -> Option<ZoneLevel> {
        [ZoneLevel::County, ZoneLevel::City].into_iter().find(|l| l.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZoneRow {
    /// Spreadsheet row number (header = 1).
    pub row: usize,
    pub code: String,
    pub name: String,
    pub level: ZoneLevel,
    /// Person 编号 of the leading inspector.
    pub leader_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchoolRow {
    pub row: usize,
    pub code: String,
    pub name: String,
    pub short_name: Option<String>,
    pub aliases: Vec<String>,
    /// Resolved to the zone's 编号 even when the sheet named the zone.
    pub zone_code: String,
    /// One of [`STAGES`].
    pub stage: String,
    pub private: bool,
    pub city_direct: bool,
    pub boarding: bool,
    /// Person 编号s; all refer to inspectors.
    pub primary_inspector: Option<String>,
    pub secondary_inspectors: Vec<String>,
    pub recused_inspectors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonRow {
    pub row: usize,
    pub code: String,
    pub name: String,
    pub role: Role,
    pub title: Option<String>,
    /// Set for inspectors only.
    pub inspector_type: Option<InspectorType>,
    /// Zone 编号; set for inspectors only.
    pub zone_code: Option<String>,
    /// 学校代码; set for school contacts only: the first (primary) school listed.
    pub school_code: Option<String>,
    /// Further schools the contact serves (the 学校 cell may list several, separated by 、，；).
    pub other_school_codes: Vec<String>,
    /// Normalised: 11-digit mobile, or landline with its area-code dash.
    pub phone: Option<String>,
    pub qq: Option<String>,
    pub wecom: Option<String>,
    pub telegram: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Roster {
    pub zones: Vec<ZoneRow>,
    pub schools: Vec<SchoolRow>,
    pub people: Vec<PersonRow>,
}

/// One problem in the roster, located the way the user sees the spreadsheet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub sheet: Sheet,
    /// 1-based row number (header = 1, first data row = 2); 0 for whole-table errors.
    pub row: usize,
    pub column: Option<String>,
    /// Simplified Chinese, addressed to the office staff who keep the spreadsheet.
    pub message: String,
    /// The worksheet's own name when the table came from an office sheet ("责任督学名单"), shown
    /// instead of the table label so the office finds the row in its own file.
    pub sheet_name: Option<String>,
}

impl RowError {
    pub fn new(sheet: Sheet, row: usize, column: Option<&str>, message: impl Into<String>) -> Self {
        RowError { sheet, row, column: column.map(str::to_string), message: message.into(), sheet_name: None }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sheet_name.as_deref().unwrap_or(self.sheet.label()))?;
        if self.row > 0 {
            write!(f, " 第{}行", self.row)?;
        }
        if let Some(c) = &self.column {
            write!(f, " [{c}]")?;
        }
        write!(f, "：{}", self.message)
    }
}

impl std::error::Error for RowError {}
