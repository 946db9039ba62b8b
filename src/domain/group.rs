//! What a chat group is for. A group's purpose decides what the bot posts there.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupPurpose {
    /// All inspectors of the county.
    CountyInspectors,
    /// One zone's inspectors (责任区督学群).
    ZoneInspectors,
    /// One zone's school contacts (责任区学校群).
    ZoneSchools,
    /// One school's group.
    School,
    /// The supervision office's own group (督导室群).
    Supervisors,
}

impl GroupPurpose {
    pub const ALL: [GroupPurpose; 5] = [
        GroupPurpose::CountyInspectors,
        GroupPurpose::ZoneInspectors,
        GroupPurpose::ZoneSchools,
        GroupPurpose::School,
        GroupPurpose::Supervisors,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GroupPurpose::CountyInspectors => "county_inspectors",
            GroupPurpose::ZoneInspectors => "zone_inspectors",
            GroupPurpose::ZoneSchools => "zone_schools",
            GroupPurpose::School => "school",
            GroupPurpose::Supervisors => "supervisors",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            GroupPurpose::CountyInspectors => "全县督学群",
            GroupPurpose::ZoneInspectors => "责任区督学群",
            GroupPurpose::ZoneSchools => "责任区学校群",
            GroupPurpose::School => "学校群",
            GroupPurpose::Supervisors => "督导室群",
        }
    }

    /// Accepts the stored name or a Chinese label (with a few natural variants).
    pub fn parse(s: &str) -> Option<GroupPurpose> {
        let s = s.trim();
        if let Some(p) = GroupPurpose::ALL.into_iter().find(|p| p.as_str() == s || p.label() == s) {
            return Some(p);
        }
        match s {
            "全县督学" | "县督学群" | "督学群" => Some(GroupPurpose::CountyInspectors),
            "责任区" | "责任区督学" | "片区督学群" => Some(GroupPurpose::ZoneInspectors),
            "责任区学校" | "片区学校群" => Some(GroupPurpose::ZoneSchools),
            "学校" => Some(GroupPurpose::School),
            "督导室" | "督导组" => Some(GroupPurpose::Supervisors),
            _ => None,
        }
    }

    pub fn needs_zone(self) -> bool {
        matches!(self, GroupPurpose::ZoneInspectors | GroupPurpose::ZoneSchools)
    }

    pub fn needs_school(self) -> bool {
        matches!(self, GroupPurpose::School)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels_and_names() {
        for p in GroupPurpose::ALL {
            assert_eq!(GroupPurpose::parse(p.as_str()), Some(p));
            assert_eq!(GroupPurpose::parse(p.label()), Some(p));
        }
        assert_eq!(GroupPurpose::parse("督导室"), Some(GroupPurpose::Supervisors));
        assert_eq!(GroupPurpose::parse("闲聊群"), None);
    }
}
