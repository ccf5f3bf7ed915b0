//! The connect phase shared by every mode: open N connections with at most C handshakes in
//! flight, and the file descriptor check that comes before it.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::BoxError;
use crate::client::{ClientError, Target};
use crate::report::{ErrorLog, Progress};

/// What the connect phase opened, and how long it took.
#[derive(Debug)]
pub struct Opened<T> {
    /// The connections that opened, in no particular order.
    pub items: Vec<T>,
    /// From the first connect to the last connection opened or failed.
    pub elapsed: Duration,
}

/// Opens `count` connections with `open(index)`, at most `concurrency` at a time, each within
/// [`OPEN_TIMEOUT`]. Failures are counted in `errors` with the peer, the connection number
/// and the reason.
///
/// Must run inside a [`tokio::task::LocalSet`]: connections are not `Send`.
pub async fn open_all<T, F, Fut>(
    target: &Target,
    count: usize,
    concurrency: usize,
    errors: &ErrorLog,
    progress: &Progress,
    mut open: F,
) -> Opened<T>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<T, ClientError>> + 'static,
    T: 'static,
{
    progress.count("connect", count as u64);
    let start = Instant::now();
    let mut pending = JoinSet::new();
    let mut items = Vec::with_capacity(count);
    let mut next = 0;
    let mut done = 0_u64;
    loop {
        while next < count && pending.len() < concurrency.max(1) {
            let opening = open(next);
            let index = next;
            pending.spawn_local(async move {
                let result = tokio::time::timeout(OPEN_TIMEOUT, opening)
                    .await
                    .unwrap_or(Err(ClientError::Timeout(OPEN_TIMEOUT)));
                (index, result)
            });
            next += 1;
        }
        let Some(joined) = pending.join_next().await else {
            break;
        };
        match joined {
            Ok((_, Ok(item))) => items.push(item),
            Ok((index, Err(error))) => {
                errors.record(format!("{} connection {index}: {error}", target.addr()));
            }
            Err(error) => errors.record(format!("{}: {error}", target.addr())),
        }
        done += 1;
        progress.set(done);
    }
    Opened {
        items,
        elapsed: start.elapsed(),
    }
}

/// Checks that `connections` sockets (plus a margin for the runtime, stdio and TLS files)
/// fit under the process's open file limit (`ulimit -n`).
///
/// The soft limit is not raised: that takes `setrlimit`, which needs `unsafe` or a libc
/// crate; raise it in the shell (`ulimit -n`) instead.
///
/// # Errors
///
/// A message naming both numbers when the limit is too low. A system without
/// `/proc/self/limits` passes.
pub fn check_fd_limit(connections: usize) -> Result<(), BoxError> {
    let Some(limit) = open_files_limit() else {
        return Ok(());
    };
    let needed = connections as u64 + FD_MARGIN;
    if needed > limit {
        return Err(format!(
            "{connections} connections need about {needed} file descriptors, but the open \
             file limit (ulimit -n) is {limit}; lower -c or raise the limit"
        )
        .into());
    }
    Ok(())
}

/// Returns the soft `Max open files` limit of this process, from `/proc/self/limits`.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_files(&limits)
}

/// Reads the soft limit from the `Max open files` line of a `/proc/<pid>/limits` text;
/// `None` when it is missing or `unlimited`.
fn parse_open_files(limits: &str) -> Option<u64> {
    limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// How long opening one connection may take: TCP, TLS, the upgrade and, for some modes, a
/// login or subscription.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(15);

/// File descriptors besides the connections: stdio, the runtime's epoll and wake-up
/// descriptors, a CA file, a publisher.
const FD_MARGIN: u64 = 32;

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: &str = "\
Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            20000                20000                files
Max locked memory         8388608              8388608              bytes
";

    #[test]
    fn reads_the_soft_open_files_limit() {
        assert_eq!(parse_open_files(LIMITS), Some(20_000));
        assert_eq!(
            parse_open_files("Max open files            unlimited    unlimited    files"),
            None
        );
        assert_eq!(parse_open_files("nothing"), None);
    }

    #[test]
    fn refuses_more_connections_than_descriptors() {
        let Some(limit) = open_files_limit() else {
            return;
        };
        let too_many = usize::try_from(limit).unwrap();
        let error = check_fd_limit(too_many).unwrap_err().to_string();
        assert!(error.contains("ulimit -n"), "{error}");
        assert!(check_fd_limit(10).is_ok());
    }
}
