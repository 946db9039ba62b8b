//! Domain rules: plain, synchronous Rust with no I/O.

pub mod actor;
pub mod calendar;
pub mod command;
pub mod dates;
pub mod group;
pub mod mask;
pub mod role;
pub mod text;
