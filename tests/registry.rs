//! The workflow registry is complete and consistent: every catalog command has exactly one
//! workflow, intents are unique, and every job is scheduled or documented as manual-only.

use dudao::app::registry::{Registry, RegistryError, Workflow};
use dudao::config::Settings;
use dudao::domain::command::{CommandId, CATALOG};
use dudao::scheduler::{Firing, Job, JobCtx, Jobs};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

#[test]
fn every_catalog_command_has_exactly_one_workflow() {
    let reg = Registry::builtin();
    let mut owners: HashMap<CommandId, Vec<&'static str>> = HashMap::new();
    for wf in reg.workflows() {
        for &id in wf.commands() {
            owners.entry(id).or_default().push(wf.name());
        }
    }
    for spec in CATALOG {
        let o = owners.get(&spec.id).cloned().unwrap_or_default();
        assert_eq!(o.len(), 1, "{:?} is run by {o:?}", spec.id);
        assert_eq!(reg.owner(spec.id).map(|w| w.name()), Some(o[0]));
    }
    // A workflow lists no command the catalog lacks.
    let catalog: HashSet<CommandId> = CATALOG.iter().map(|s| s.id).collect();
    for id in owners.keys() {
        assert!(catalog.contains(id), "{id:?} is handled but not in the catalog");
    }
}

#[test]
fn intents_are_unique_and_named() {
    let mut seen = HashMap::new();
    for spec in CATALOG {
        assert!(!spec.intent.is_empty(), "{:?} has no intent", spec.id);
        assert!(spec.intent.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{:?}: {}", spec.id, spec.intent);
        if let Some(other) = seen.insert(spec.intent, spec.id) {
            panic!("intent \"{}\" is shared by {other:?} and {:?}", spec.intent, spec.id);
        }
    }
    // Intents the pipeline records for messages that ran no command stay apart from commands'.
    for word in ["chatter", "unbound", "denied", "wrong_place", "unknown"] {
        assert!(!seen.contains_key(word), "a command's intent is \"{word}\"");
    }
}

#[test]
fn every_job_is_scheduled_by_default_or_manual_only() {
    let reg = Registry::builtin();
    let defaults = Settings::from_toml_over_default("").unwrap();
    let scheduled: HashSet<String> = reg.schedules(&defaults).into_iter().map(|s| s.job).collect();
    let manual: HashSet<&str> = reg.manual_jobs().into_iter().collect();
    let names = reg.jobs().names();
    assert!(!names.is_empty());
    for name in &names {
        assert!(
            scheduled.contains(*name) || manual.contains(name),
            "job \"{name}\" has no built-in schedule and is not documented as manual-only"
        );
    }
    for name in &manual {
        assert!(names.contains(name), "manual-only job \"{name}\" is not registered");
        assert!(!scheduled.contains(*name), "manual-only job \"{name}\" has a built-in schedule");
    }
    // Every built-in schedule names a registered job, and schedule names are unique.
    let mut schedule_names = HashSet::new();
    for s in reg.schedules(&defaults) {
        assert!(reg.jobs().get(&s.job).is_some(), "schedule \"{}\" runs unknown job \"{}\"", s.name, s.job);
        assert!(schedule_names.insert(s.name.clone()), "schedule \"{}\" is declared twice", s.name);
    }
    // The service's lists are the registry's.
    assert_eq!(dudao::service::all_jobs().names(), names);
    assert_eq!(dudao::service::all_schedules(&defaults).len(), reg.schedules(&defaults).len());
}

#[test]
fn the_shipped_configuration_passes_every_workflows_check() {
    let defaults = Settings::from_toml_over_default("").unwrap();
    Registry::builtin().check_config(&defaults).unwrap();
}

// ---- Registry::new refuses inconsistent sets ----

struct Fake {
    name: &'static str,
    commands: &'static [CommandId],
    job: Option<&'static str>,
}

struct Nothing;

#[async_trait::async_trait]
impl Job for Nothing {
    async fn run(&self, _ctx: &JobCtx, _tx: &mut dudao::db::Tx<'static>, _f: &Firing) -> anyhow::Result<()> {
        Ok(())
    }
}

impl Workflow for Fake {
    fn name(&self) -> &'static str {
        self.name
    }
    fn commands(&self) -> &'static [CommandId] {
        self.commands
    }
    fn jobs(&self, jobs: &mut Jobs) {
        if let Some(j) = self.job {
            jobs.register(j, Arc::new(Nothing));
        }
    }
}

/// Every catalog command, for a fake workflow that takes them all.
fn all_commands() -> &'static [CommandId] {
    let v: Vec<CommandId> = CATALOG.iter().map(|s| s.id).collect();
    Box::leak(v.into_boxed_slice())
}

#[test]
fn a_command_with_two_workflows_is_refused() {
    let r = Registry::new(vec![
        Box::new(Fake { name: "甲", commands: all_commands(), job: None }),
        Box::new(Fake { name: "乙", commands: &[CommandId::Help], job: None }),
    ]);
    assert_eq!(r.err(), Some(RegistryError::SharedCommand(CommandId::Help, "甲", "乙")));
}

#[test]
fn a_command_without_a_workflow_is_refused() {
    let rest: Vec<CommandId> = CATALOG.iter().map(|s| s.id).filter(|id| *id != CommandId::Queue).collect();
    let r =
        Registry::new(vec![Box::new(Fake { name: "甲", commands: Box::leak(rest.into_boxed_slice()), job: None })]);
    assert_eq!(r.err(), Some(RegistryError::Unhandled(CommandId::Queue)));
}

#[test]
fn a_job_with_two_workflows_is_refused() {
    let r = Registry::new(vec![
        Box::new(Fake { name: "甲", commands: all_commands(), job: Some("测试任务") }),
        Box::new(Fake { name: "乙", commands: &[], job: Some("测试任务") }),
    ]);
    assert_eq!(r.err(), Some(RegistryError::SharedJob("测试任务", "甲", "乙")));
}
