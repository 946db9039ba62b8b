//! The fictional sample roster of 示例县, embedded so a fresh install can demo without files.
//! Regenerate the CSVs with `tools/gen_sample_roster.py`.

use super::model::Sheet;
use super::read::{parse_csv, RawTables, RosterError};
use std::path::Path;

pub const ZONES_CSV: &[u8] = include_bytes!("../../config/sample-roster/zones.csv");
pub const SCHOOLS_CSV: &[u8] = include_bytes!("../../config/sample-roster/schools.csv");
pub const PEOPLE_CSV: &[u8] = include_bytes!("../../config/sample-roster/people.csv");

/// The embedded sample as raw tables, ready for [`crate::roster::validate`].
pub fn raw_tables() -> Result<RawTables, RosterError> {
    let mut tables = RawTables::default();
    for sheet in Sheet::ALL {
        let bytes = match sheet {
            Sheet::Zones => ZONES_CSV,
            Sheet::Schools => SCHOOLS_CSV,
            Sheet::People => PEOPLE_CSV,
        };
        let path = Path::new("config/sample-roster").join(sheet.csv_file_name());
        tables.insert(parse_csv(&path, bytes)?)?;
    }
    Ok(tables)
}
