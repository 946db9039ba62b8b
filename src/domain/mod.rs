//! Domain rules: plain, synchronous Rust with no I/O.

pub mod actor;
pub mod bulletin;
pub mod calendar;
pub mod command;
pub mod dates;
pub mod evidence;
pub mod examples;
pub mod files;
pub mod group;
pub mod health;
pub mod info;
pub mod mask;
pub mod monthly;
pub mod notice;
pub mod rectify;
pub mod report_parse;
pub mod role;
pub mod school_match;
pub mod stats;
pub mod task;
pub mod text;
pub mod visit_parse;
pub mod web;
pub mod weekly;
pub mod weekly_form;
