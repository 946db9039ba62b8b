//! The office roster: zones, schools and people, kept by offices in Excel.
//!
//! `read` turns files (or a folder of them) into raw tables, `validate` into a typed [`Roster`] (or every
//! problem found, by sheet and row), `write` exports in the same format. All pure: no
//! database here.

pub mod model;
pub mod office;
pub mod read;
pub mod sample;
pub mod template;
pub mod validate;
pub mod write;

pub use model::{
    PersonRow, Roster, RowError, SchoolRow, Sheet, ZoneLevel, ZoneRow, PERSON_COLUMNS, SCHOOL_COLUMNS, STAGES,
    ZONE_COLUMNS,
};
pub use read::{parse_csv, parse_workbook, read_file, read_files, RawRow, RawTable, RawTables, RosterError};
pub use validate::{normalize_phone, validate};
pub use write::{csv_bytes, write_csv_dir, write_xlsx};

#[cfg(test)]
mod sample_tests {
    use super::*;
    use crate::domain::role::{InspectorType, Role};
    use std::collections::HashMap;
    use std::path::PathBuf;

    fn sample_paths() -> Vec<PathBuf> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/sample-roster");
        ["zones.csv", "schools.csv", "people.csv"].iter().map(|f| dir.join(f)).collect()
    }

    #[test]
    fn shipped_sample_roster_validates() {
        let raw = read_files(&sample_paths()).expect("sample roster readable");
        let roster = match validate(raw) {
            Ok(r) => r,
            Err(errors) => panic!(
                "sample roster has errors:\n{}",
                errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
            ),
        };
        assert_eq!(roster.zones.len(), 6);
        assert_eq!(roster.schools.len(), 120);
        assert_eq!(roster.people.len(), 30 + 240 + 3 + 1);

        let count_role = |r| roster.people.iter().filter(|p| p.role == r).count();
        assert_eq!(count_role(Role::Inspector), 30);
        assert_eq!(count_role(Role::SchoolContact), 240);
        assert_eq!(count_role(Role::Supervisor), 3);
        assert_eq!(count_role(Role::Admin), 1);
        let count_type = |t| roster.people.iter().filter(|p| p.inspector_type == Some(t)).count();
        assert_eq!(count_type(InspectorType::FullTime), 6);
        assert_eq!(count_type(InspectorType::PartTime), 21);
        assert_eq!(count_type(InspectorType::Invited), 3);

        let mut per_zone: HashMap<&str, usize> = HashMap::new();
        for s in &roster.schools {
            *per_zone.entry(&s.zone_code).or_default() += 1;
        }
        assert!(per_zone.values().all(|n| (18..=22).contains(n)), "{per_zone:?}");
        assert_eq!(roster.schools.iter().filter(|s| s.private).count(), 8);
        assert_eq!(roster.schools.iter().filter(|s| s.city_direct).count(), 3);
        assert!(roster.schools.iter().all(|s| s.primary_inspector.is_some()));
        assert!(roster.schools.iter().filter(|s| !s.recused_inspectors.is_empty()).count() >= 3);

        // Each zone is led by its full-time inspector.
        let by_code: HashMap<&str, &PersonRow> = roster.people.iter().map(|p| (p.code.as_str(), p)).collect();
        for z in &roster.zones {
            let leader = by_code[z.leader_code.as_deref().unwrap_or_default()];
            assert_eq!(leader.inspector_type, Some(InspectorType::FullTime));
            assert_eq!(leader.zone_code.as_deref(), Some(z.code.as_str()));
        }
        // Primaries are non-invited inspectors of the school's own zone.
        for s in &roster.schools {
            let p = by_code[s.primary_inspector.as_deref().unwrap_or_default()];
            assert_ne!(p.inspector_type, Some(InspectorType::Invited), "{}", s.name);
            assert_eq!(p.zone_code.as_deref(), Some(s.zone_code.as_str()), "{}", s.name);
        }
        // Short names are unique county-wide, so contacts can name their school by them.
        let mut shorts: Vec<&str> = roster.schools.iter().filter_map(|s| s.short_name.as_deref()).collect();
        let n = shorts.len();
        shorts.sort_unstable();
        shorts.dedup();
        assert_eq!(shorts.len(), n);
    }

    #[test]
    fn sample_roster_round_trips_through_xlsx() {
        let roster = validate(read_files(&sample_paths()).unwrap()).unwrap();
        // The embedded copy is the same data.
        assert_eq!(validate(sample::raw_tables().unwrap()).unwrap(), roster);
        // Reading the directory finds the same three files.
        let dir_paths = [PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/sample-roster")];
        assert_eq!(validate(read_files(&dir_paths).unwrap()).unwrap(), roster);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sample.xlsx");
        write_xlsx(&roster, &path).unwrap();
        let back = validate(read_files(&[path]).unwrap()).unwrap();
        assert_eq!(back, roster);
    }
}
