//! Example values for usage hints. The app layer fills them from the deployment's own roster,
//! so a real county never reads the sample county's people, zones or schools in a reply.

/// One real-looking value of each kind, all taken from the same roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Examples {
    /// An inspector's name.
    pub person_name: String,
    /// An inspector's roster code (another inspector when there is one).
    pub person_code: String,
    pub zone_name: String,
    pub zone_code: String,
    /// A school's full name.
    pub school: String,
    /// The name people use for it (简称, else the full name).
    pub school_short: String,
}

impl Default for Examples {
    /// Placeholders for an empty roster: a hint that names nobody rather than someone invented.
    fn default() -> Self {
        Examples {
            person_name: "<姓名>".into(),
            person_code: "<编号>".into(),
            zone_name: "<责任区名称>".into(),
            zone_code: "<责任区编号>".into(),
            school: "<学校全称>".into(),
            school_short: "<学校简称>".into(),
        }
    }
}
