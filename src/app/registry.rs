//! The workflow registry, built once at start-up. Each workflow declares its commands, the free
//! text it may claim (with a cheap in-memory pre-check), its jobs and schedules and its config
//! check; dispatch, the scheduler and start-up read them from here instead of lists kept by hand.

use super::{App, Ctx};
use crate::config::{ScheduleSettings, Settings};
use crate::db::Db;
use crate::domain::command::{CommandId, CommandSpec, CATALOG};
use crate::scheduler::{Host, JobCtx, Jobs};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::OnceLock;
use tokio::sync::Notify;

/// One workflow of the office's routine. Every method has a default, so a workflow states only
/// what it has.
#[async_trait]
pub trait Workflow: Send + Sync {
    /// A short name for logs and tests.
    fn name(&self) -> &'static str;

    /// The commands this workflow runs; each catalog command belongs to exactly one workflow.
    fn commands(&self) -> &'static [CommandId] {
        &[]
    }

    /// Runs one of [`Workflow::commands`] after its role and place were checked. `Some` overrides
    /// the catalog's intent for this message (e.g. a visit record that only asked a question).
    async fn command(&self, _ctx: &mut Ctx<'_>, _id: CommandId, _args: &str) -> anyhow::Result<Option<&'static str>> {
        Ok(None)
    }

    /// Whether [`Workflow::claim`] could take this free text. Pure and in memory (no query):
    /// when in doubt it says yes, so that it only spares the claim's reads, never changes the
    /// outcome.
    fn may_claim(&self, _ctx: &Ctx<'_>, _text: &str) -> bool {
        false
    }

    /// Takes free text that is not a command; the intent when it did.
    async fn claim(&self, _ctx: &mut Ctx<'_>, _text: &str) -> anyhow::Result<Option<&'static str>> {
        Ok(None)
    }

    /// Adds this workflow's jobs.
    fn jobs(&self, _jobs: &mut Jobs) {}

    /// Jobs that no built-in schedule runs: only a `[[schedules]]` entry or a run by hand does.
    fn manual_jobs(&self) -> &'static [&'static str] {
        &[]
    }

    /// The schedules this workflow derives from its settings.
    fn schedules(&self, _settings: &Settings) -> Vec<ScheduleSettings> {
        Vec::new()
    }

    /// Checks this workflow's configuration at start-up.
    fn check_config(&self, _settings: &Settings) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Implements [`Workflow`] for a workflow whose commands each run one handler returning
/// `anyhow::Result<()>` (the intent recorded is the catalog's), so each command is named once:
/// `workflow!(Leave, "leave", |ctx, args| { Leave => request(ctx, args), CancelLeave => cancel(ctx) });`
/// Further `Workflow` items (free-text claim, jobs, schedules) go in a trailing `{ … }` block.
macro_rules! workflow {
    ($ty:ty, $name:literal, |$ctx:ident, $args:ident| { $($id:ident => $call:expr),+ $(,)? } $({ $($rest:tt)* })?) => {
        #[async_trait::async_trait]
        impl $crate::app::registry::Workflow for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn commands(&self) -> &'static [$crate::domain::command::CommandId] {
                &[$($crate::domain::command::CommandId::$id),+]
            }
            async fn command(
                &self,
                $ctx: &mut $crate::app::Ctx<'_>,
                id: $crate::domain::command::CommandId,
                $args: &str,
            ) -> anyhow::Result<Option<&'static str>> {
                match id {
                    $($crate::domain::command::CommandId::$id => $call.await?,)+
                    _ => {}
                }
                Ok(None)
            }
            $($($rest)*)?
        }
    };
}
pub(crate) use workflow;

/// Every workflow, in the order free text is offered to them (the more specific claim first: a
/// visit record's follow-up answer before a weekly report).
fn builtin_workflows() -> Vec<Box<dyn Workflow>> {
    vec![
        Box::new(super::handlers::account::Account),
        Box::new(super::handlers::group::Groups),
        Box::new(super::handlers::school::Schools),
        Box::new(super::handlers::leave::Leave),
        Box::new(super::handlers::admin::Admin),
        Box::new(super::handlers::round::Round),
        Box::new(super::monthly::Monthly),
        Box::new(super::bulletin::Bulletins),
        Box::new(super::info::Info),
        Box::new(super::exports::Exports),
        Box::new(super::charts::Charts),
        Box::new(super::weekly::Weekly),
        Box::new(super::task::Tasks),
        Box::new(super::rectify::Rectify),
        Box::new(super::handlers::notice::Notices),
        Box::new(super::calendar::CalendarWorkflow),
        Box::new(super::web::Web),
        Box::new(Housekeeping),
    ]
}

/// The scheduler's own jobs: `announce` (configured schedules only), `retention` and `backup`.
struct Housekeeping;

impl Workflow for Housekeeping {
    fn name(&self) -> &'static str {
        "housekeeping"
    }
    fn jobs(&self, jobs: &mut Jobs) {
        crate::scheduler::jobs::register(jobs);
    }
    fn manual_jobs(&self) -> &'static [&'static str] {
        &[crate::scheduler::jobs::ANNOUNCE]
    }
    fn schedules(&self, settings: &Settings) -> Vec<ScheduleSettings> {
        crate::scheduler::jobs::schedules(settings)
    }
}

/// Why a set of workflows does not make a registry.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    #[error("command {0:?} is claimed by both {1} and {2}")]
    SharedCommand(CommandId, &'static str, &'static str),
    #[error("command {0:?} is in the catalog but no workflow runs it")]
    Unhandled(CommandId),
    #[error("job \"{0}\" is registered by both {1} and {2}")]
    SharedJob(&'static str, &'static str, &'static str),
}

pub struct Registry {
    workflows: Vec<Box<dyn Workflow>>,
    by_command: HashMap<CommandId, usize>,
    jobs: Jobs,
}

impl Registry {
    /// The registry of the built-in workflows, built on first use.
    pub fn builtin() -> &'static Registry {
        static REGISTRY: OnceLock<Registry> = OnceLock::new();
        REGISTRY.get_or_init(|| match Registry::new(builtin_workflows()) {
            Ok(r) => r,
            // The set is fixed at compile time and tests/registry.rs builds it.
            Err(e) => unreachable!("the built-in workflows are inconsistent: {e}"),
        })
    }

    /// Checks that every catalog command has exactly one workflow and every job one owner.
    pub fn new(workflows: Vec<Box<dyn Workflow>>) -> Result<Registry, RegistryError> {
        let mut by_command = HashMap::new();
        let mut jobs = Jobs::default();
        let mut job_owner: HashMap<&'static str, &'static str> = HashMap::new();
        for (i, wf) in workflows.iter().enumerate() {
            for &id in wf.commands() {
                if let Some(j) = by_command.insert(id, i) {
                    return Err(RegistryError::SharedCommand(id, workflows[j].name(), wf.name()));
                }
            }
            let mut own = Jobs::default();
            wf.jobs(&mut own);
            for name in own.names() {
                if let Some(other) = job_owner.insert(name, wf.name()) {
                    return Err(RegistryError::SharedJob(name, other, wf.name()));
                }
                if let Some(job) = own.get(name) {
                    jobs.register(name, job);
                }
            }
        }
        if let Some(spec) = CATALOG.iter().find(|s| !by_command.contains_key(&s.id)) {
            return Err(RegistryError::Unhandled(spec.id));
        }
        Ok(Registry { workflows, by_command, jobs })
    }

    pub fn workflows(&self) -> impl Iterator<Item = &dyn Workflow> {
        self.workflows.iter().map(|w| w.as_ref())
    }

    /// The workflow that runs a command.
    pub fn owner(&self, id: CommandId) -> Option<&dyn Workflow> {
        self.by_command.get(&id).map(|&i| self.workflows[i].as_ref())
    }

    /// Runs a checked command in its workflow; the intent to record.
    pub async fn command(&self, ctx: &mut Ctx<'_>, id: CommandId, args: &str) -> anyhow::Result<&'static str> {
        let spec = CommandSpec::get(id);
        let Some(wf) = self.owner(id) else {
            // Registry::new refuses a catalog command without a workflow.
            anyhow::bail!("no workflow runs command {id:?}");
        };
        Ok(wf.command(ctx, id, args).await?.unwrap_or(spec.intent))
    }

    /// Offers free text to each workflow whose pre-check allows it, in order; the first claim wins.
    pub async fn claim(&self, ctx: &mut Ctx<'_>, text: &str) -> anyhow::Result<Option<&'static str>> {
        for wf in &self.workflows {
            if !wf.may_claim(ctx, text) {
                continue;
            }
            if let Some(intent) = wf.claim(ctx, text).await? {
                return Ok(Some(intent));
            }
        }
        Ok(None)
    }

    /// Every workflow's jobs.
    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    /// Configured schedules plus those the workflows derive from their own sections.
    pub fn schedules(&self, settings: &Settings) -> Vec<ScheduleSettings> {
        let mut s = settings.schedules.clone();
        for wf in &self.workflows {
            s.extend(wf.schedules(settings));
        }
        s
    }

    /// Jobs documented as run only by configuration or by hand.
    pub fn manual_jobs(&self) -> Vec<&'static str> {
        self.workflows.iter().flat_map(|w| w.manual_jobs().iter().copied()).collect()
    }

    /// Every workflow's configuration check, in order; the first failure.
    pub fn check_config(&self, settings: &Settings) -> anyhow::Result<()> {
        self.workflows.iter().try_for_each(|w| w.check_config(settings))
    }
}

impl Host for App {
    fn db(&self) -> &Db {
        &self.db
    }
    fn job_ctx(&self) -> &JobCtx {
        &self.job_ctx
    }
    fn outbox_notify(&self) -> &Notify {
        &self.outbox_notify
    }
    fn ticked(&self, at: chrono::DateTime<chrono::Utc>, report: &crate::scheduler::TickReport) {
        use crate::metrics::FiringOutcome;
        self.metrics.firing(FiringOutcome::Fired, report.fired);
        self.metrics.firing(FiringOutcome::Skipped, report.skipped);
        self.metrics.firing(FiringOutcome::Failed, report.failed);
        self.metrics.ticked(at);
    }
}

impl AsRef<JobCtx> for App {
    fn as_ref(&self) -> &JobCtx {
        &self.job_ctx
    }
}
