//! The person behind a chat message, and the scope of what they may act on.

use super::role::Role;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub person_id: i64,
    pub code: String,
    pub name: String,
    pub role: Role,
    /// An inspector's zone.
    pub zone_id: Option<i64>,
    /// A school contact's primary school.
    pub school_id: Option<i64>,
    /// Every school a contact serves (the primary included): rural 中心校 staff cover several.
    pub contact_schools: Vec<i64>,
    /// Schools an inspector is assigned to without a conflict of interest.
    pub schools: Vec<i64>,
    /// Schools an inspector must not inspect (回避).
    pub recused: Vec<i64>,
}

/// Why an action was refused; each maps to a polite reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The command is not for this role.
    Role,
    /// The school is not one this person may act for.
    NotYourSchool,
    /// The inspector has a conflict of interest at this school.
    Recused,
}

impl Actor {
    /// May this person act (inspect, verify, report) for the school?
    pub fn check_act_for_school(&self, school_id: i64) -> Result<(), Denied> {
        match self.role {
            Role::Admin | Role::Supervisor => Ok(()),
            Role::Inspector if self.recused.contains(&school_id) => Err(Denied::Recused),
            Role::Inspector if self.schools.contains(&school_id) => Ok(()),
            Role::SchoolContact if self.serves_school(school_id) => Ok(()),
            _ => Err(Denied::NotYourSchool),
        }
    }

    /// Is this contact one of the school's contacts?
    fn serves_school(&self, school_id: i64) -> bool {
        self.school_id == Some(school_id) || self.contact_schools.contains(&school_id)
    }

    /// May this person see the school's details? Inspectors see their whole zone.
    pub fn check_view_school(&self, school_id: i64, school_zone: i64) -> Result<(), Denied> {
        match self.role {
            Role::Admin | Role::Supervisor => Ok(()),
            Role::Inspector if self.schools.contains(&school_id) || self.recused.contains(&school_id) => Ok(()),
            Role::Inspector if self.zone_id == Some(school_zone) => Ok(()),
            Role::SchoolContact if self.serves_school(school_id) => Ok(()),
            _ => Err(Denied::NotYourSchool),
        }
    }

    /// May this person see a problem's evidence photos? Only the office and the school's own
    /// (not recused) inspector: the photos show pupils and premises, and the school that sent
    /// them already has them.
    pub fn check_see_evidence(&self, school_id: i64) -> Result<(), Denied> {
        match self.role {
            Role::Admin | Role::Supervisor | Role::Inspector => self.check_act_for_school(school_id),
            Role::SchoolContact => Err(Denied::Role),
        }
    }

    /// May this person act for the zone (its statistics, its groups)?
    pub fn check_zone(&self, zone_id: i64) -> Result<(), Denied> {
        match self.role {
            Role::Admin | Role::Supervisor => Ok(()),
            Role::Inspector if self.zone_id == Some(zone_id) => Ok(()),
            _ => Err(Denied::NotYourSchool),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(role: Role) -> Actor {
        Actor {
            person_id: 1,
            code: "X".into(),
            name: "张三".into(),
            role,
            zone_id: Some(10),
            school_id: if role == Role::SchoolContact { Some(5) } else { None },
            contact_schools: if role == Role::SchoolContact { vec![5, 6] } else { Vec::new() },
            schools: vec![1, 2],
            recused: vec![3],
        }
    }

    #[test]
    fn scopes() {
        let i = actor(Role::Inspector);
        assert_eq!(i.check_act_for_school(1), Ok(()));
        assert_eq!(i.check_act_for_school(3), Err(Denied::Recused));
        assert_eq!(i.check_act_for_school(9), Err(Denied::NotYourSchool));
        assert_eq!(i.check_view_school(9, 10), Ok(()));
        assert_eq!(i.check_view_school(9, 11), Err(Denied::NotYourSchool));
        let c = actor(Role::SchoolContact);
        assert_eq!(c.check_act_for_school(5), Ok(()));
        assert_eq!(c.check_act_for_school(1), Err(Denied::NotYourSchool));
        // A contact serving two schools acts for both, and for no third.
        assert_eq!(c.check_act_for_school(6), Ok(()));
        assert_eq!(c.check_view_school(6, 11), Ok(()));
        assert_eq!(c.check_view_school(7, 10), Err(Denied::NotYourSchool));
        assert_eq!(c.check_zone(10), Err(Denied::NotYourSchool));
        assert_eq!(actor(Role::Supervisor).check_act_for_school(99), Ok(()));
    }

    #[test]
    fn evidence_is_for_the_office_and_the_responsible_inspector() {
        let i = actor(Role::Inspector);
        assert_eq!(i.check_see_evidence(1), Ok(()));
        // Same zone, but not their school; or recused: no.
        assert_eq!(i.check_see_evidence(9), Err(Denied::NotYourSchool));
        assert_eq!(i.check_see_evidence(3), Err(Denied::Recused));
        // The school's own contact neither.
        assert_eq!(actor(Role::SchoolContact).check_see_evidence(5), Err(Denied::Role));
        assert_eq!(actor(Role::Supervisor).check_see_evidence(99), Ok(()));
        assert_eq!(actor(Role::Admin).check_see_evidence(99), Ok(()));
    }
}
