//! Signals (spec §1.7): SIGINT, SIGTERM and SIGQUIT start the graceful shutdown, a second
//! one ends the process at once with exit code 1, and SIGHUP is ignored. Rust already
//! ignores SIGPIPE.

use lapps_server::ShutdownHandle;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// Waits for a stop signal and shuts the server down; exits on a second one.
pub(crate) async fn watch(handle: ShutdownHandle) {
    let (Ok(mut term), Ok(mut int), Ok(mut quit), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::quit()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install the signal handlers");
        return;
    };
    let name = next_stop(&mut term, &mut int, &mut quit, &mut hup).await;
    tracing::info!(signal = name, "shutting down");
    handle.shutdown();
    let name = next_stop(&mut term, &mut int, &mut quit, &mut hup).await;
    tracing::warn!(signal = name, "second signal during shutdown: exiting now");
    std::process::exit(1);
}

async fn next_stop(
    term: &mut Signal,
    int: &mut Signal,
    quit: &mut Signal,
    hup: &mut Signal,
) -> &'static str {
    loop {
        tokio::select! {
            _ = term.recv() => return "SIGTERM",
            _ = int.recv() => return "SIGINT",
            _ = quit.recv() => return "SIGQUIT",
            _ = hup.recv() => tracing::info!("SIGHUP ignored"),
        }
    }
}
