//! SQLite repositories. Functions take a connection (usually a write transaction) so that a
//! workflow's state change, its audit entry and its outgoing messages commit together.

pub mod alerts;
pub mod audit;
pub mod binding;
pub mod bulletin;
pub mod calendar;
pub mod export;
pub mod files;
pub mod groups;
pub mod inbound;
pub mod info;
pub mod keys;
pub mod leave;
pub mod monthly;
pub mod notices;
pub mod once;
pub mod outbox;
pub mod pages;
pub mod people;
pub mod rectify;
pub mod retention;
pub mod roster;
pub mod schedules;
pub mod stats;
pub mod tasks;
pub mod web;
pub mod weekly;

pub use crate::db::Conn;
