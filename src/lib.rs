//! Dudao (督导): the routine of a county education supervision office, run through the group
//! chats it already uses.
#![forbid(unsafe_code)]

pub mod app;
pub mod backup;
pub mod charts;
pub mod chat;
pub mod clock;
pub mod config;
pub mod cron;
pub mod db;
pub mod domain;
pub mod export;
pub mod http;
pub mod lock;
pub mod logging;
pub mod metrics;
pub mod outbox;
pub mod roster;
pub mod scheduler;
pub mod secret;
pub mod service;
pub mod sql;
pub mod store;
pub mod web;

pub use chat::Channel;
