//! `lapps-load idle`: open N connections and hold them, for memory and connection-rate
//! measurements.
//!
//! [`open`] returns once every connection completed its handshake (or failed), with the
//! report; [`Held::hold_until`] then keeps reading every connection, so that pings are
//! answered and closes seen, until the caller's signal (a timeout, stdin's EOF).

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::rc::Rc;

use tokio::sync::oneshot;
use tokio::task::{JoinSet, LocalSet};

use crate::BoxError;
use crate::args::IdleArgs;
use crate::client::{Target, Ws};
use crate::connect::{check_fd_limit, open_all};
use crate::report::{self, ErrorLog, IdleReport, Progress};

/// Opens the connections of `args` and returns them held, with the report.
///
/// # Errors
///
/// Setup errors only (an invalid URL or CA file, too few file descriptors); connections that
/// fail to open are counted in the report's `errors`.
pub async fn open(args: &IdleArgs, progress: &Progress) -> Result<Held, BoxError> {
    let local = LocalSet::new();
    let (report, tasks, closed) = local.run_until(open_local(args, progress)).await?;
    Ok(Held {
        local,
        tasks,
        closed,
        report,
    })
}

async fn open_local(
    args: &IdleArgs,
    progress: &Progress,
) -> Result<(IdleReport, JoinSet<()>, Rc<Cell<usize>>), BoxError> {
    let connections = args.connections as usize;
    check_fd_limit(connections)?;
    let common = &args.common;
    let target =
        Rc::new(Target::resolve(&common.url, common.ca.as_deref(), common.sources.into()).await?);
    let errors = ErrorLog::default();
    let opened = open_all(
        &target,
        connections,
        common.concurrency as usize,
        &errors,
        progress,
        |index| {
            let target = Rc::clone(&target);
            async move { Ws::connect(&target, index, 0).await }
        },
    )
    .await;
    progress.finish();
    let open = opened.items.len();
    let closed = Rc::new(Cell::new(0));
    let mut tasks = JoinSet::new();
    for ws in opened.items {
        tasks.spawn_local(hold_one(ws, Rc::clone(&closed)));
    }
    let seconds = report::seconds(opened.elapsed);
    let report = IdleReport {
        mode: "idle",
        url: common.url.clone(),
        connections,
        open,
        seconds,
        connect_per_sec: report::rate(open as u64, opened.elapsed.as_secs_f64()),
        errors: errors.count(),
        error_samples: errors.samples(),
    };
    Ok((report, tasks, closed))
}

/// Open connections, each read by its own task while [`hold_until`](Self::hold_until) runs.
pub struct Held {
    local: LocalSet,
    tasks: JoinSet<()>,
    closed: Rc<Cell<usize>>,
    report: IdleReport,
}

impl Held {
    /// Returns the report of the connect phase.
    pub fn report(&self) -> &IdleReport {
        &self.report
    }

    /// Returns how many connections are held (still being read).
    pub fn len(&self) -> usize {
        self.tasks.len() - self.closed.get()
    }

    /// Returns true if no connection is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps every connection read (pings answered, closes seen) until `until` completes;
    /// then drops them all. Returns how many the server closed in the meantime.
    pub async fn hold_until(self, until: impl Future<Output = ()>) -> usize {
        let Self {
            local,
            tasks,
            closed,
            ..
        } = self;
        local.run_until(until).await;
        drop(tasks);
        drop(local);
        closed.get()
    }
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("connections", &self.tasks.len())
            .field("closed", &self.closed.get())
            .finish_non_exhaustive()
    }
}

/// Completes when standard input reaches EOF (or fails).
///
/// A detached thread reads it, so the process can exit while it is blocked.
pub fn stdin_eof() -> impl Future<Output = ()> {
    let (tx, rx) = oneshot::channel();
    std::thread::spawn(move || {
        let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
        let _ = tx.send(());
    });
    async move {
        let _ = rx.await;
    }
}

/// Reads one connection until it ends; counts it in `closed` if the server ends it.
async fn hold_one(mut ws: Ws, closed: Rc<Cell<usize>>) {
    // Data messages are dropped; pings are answered inside `next_message`.
    while ws.next_message().await.is_ok() {}
    closed.set(closed.get() + 1);
}
