//! Roles a roster person can hold, and what each may see and do.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A person's role in the supervision routine. One role per roster person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the bot itself: everything a supervisor can, plus queue and roster administration.
    Admin,
    /// 督导室 staff: broadcast themes, assign tasks, read statistics, escalate.
    Supervisor,
    /// 责任督学: the named inspector for a set of schools.
    Inspector,
    /// A school's 联络员 / 校长: receives notices for their own school.
    SchoolContact,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Supervisor, Role::Inspector, Role::SchoolContact];

    /// The value stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Inspector => "inspector",
            Role::SchoolContact => "school_contact",
        }
    }

    pub fn parse_db(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Parses the roster's 角色 column (Chinese labels, with common variants).
    pub fn parse_label(s: &str) -> Option<Role> {
        match s.trim() {
            "管理员" | "系统管理员" | "admin" => Some(Role::Admin),
            "督导室" | "督导室主任" | "督导室副主任" | "督管员" | "督导员" | "督导室工作人员" | "supervisor" => {
                Some(Role::Supervisor)
            }
            "督学" | "责任督学" | "inspector" => Some(Role::Inspector),
            "学校联络员" | "联络员" | "校长" | "副校长" | "分管副校长" | "学校" | "school_contact" => {
                Some(Role::SchoolContact)
            }
            _ => None,
        }
    }

    /// Chinese label shown to users.
    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "管理员",
            Role::Supervisor => "督导室",
            Role::Inspector => "责任督学",
            Role::SchoolContact => "学校联络员",
        }
    }

    /// Admins hold every supervisor power.
    pub fn is_supervisor(self) -> bool {
        matches!(self, Role::Admin | Role::Supervisor)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// 专职 / 兼职 / 特约.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InspectorType {
    FullTime,
    PartTime,
    Invited,
}

impl InspectorType {
    pub fn as_str(self) -> &'static str {
        match self {
            InspectorType::FullTime => "full_time",
            InspectorType::PartTime => "part_time",
            InspectorType::Invited => "invited",
        }
    }

    pub fn parse_db(s: &str) -> Option<Self> {
        [Self::FullTime, Self::PartTime, Self::Invited].into_iter().find(|t| t.as_str() == s)
    }

    pub fn parse_label(s: &str) -> Option<Self> {
        match s.trim() {
            "专职" | "专职督学" => Some(Self::FullTime),
            "兼职" | "兼职督学" => Some(Self::PartTime),
            "特约" | "特约督学" => Some(Self::Invited),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::FullTime => "专职",
            Self::PartTime => "兼职",
            Self::Invited => "特约",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse_db(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse_label(" 校长 "), Some(Role::SchoolContact));
        assert_eq!(Role::parse_label("督管员"), Some(Role::Supervisor));
        assert_eq!(Role::parse_label("路人"), None);
        assert_eq!(InspectorType::parse_label("特约督学"), Some(InspectorType::Invited));
    }
}
