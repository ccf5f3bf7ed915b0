//! The command line of `lapps-load` (clap derive). Scripts depend on these names.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;

/// Closed-loop WebSocket load generator for lapps (and any RFC 6455 server).
#[derive(Debug, Parser)]
#[command(name = "lapps-load", version, about, long_about = None)]
pub struct Cli {
    /// The benchmark to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The benchmarks.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Echo round trips: one message in flight per connection; messages/s and latency.
    Echo(EchoArgs),
    /// Open N connections and hold them (memory per connection, connection rate).
    Idle(IdleArgs),
    /// Broadcast through `benches/apps/bcast_bench`: deliveries/s and delivery latency.
    Bcast(BcastArgs),
}

/// `lapps-load echo`.
#[derive(Debug, Args)]
pub struct EchoArgs {
    /// Connections, each with one message in flight.
    #[arg(short = 'c', long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: u32,
    /// Payload size in bytes (for `--protocol lapps`: the size of the echoed string).
    #[arg(short = 's', long, default_value_t = 64)]
    pub size: usize,
    /// Seconds to measure, after the warm-up.
    #[arg(short = 'd', long, value_name = "SECS", default_value = "10", value_parser = parse_seconds)]
    pub duration: Duration,
    /// Measure this many round trips in all, instead of a duration (no warm-up unless
    /// `--warmup` is given).
    #[arg(short = 'n', long, value_name = "COUNT", conflicts_with = "duration")]
    pub messages: Option<u64>,
    /// Seconds of unmeasured traffic first [default: 1, or 0 with --messages].
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub warmup: Option<Duration>,
    /// Send text (ASCII) messages instead of binary.
    #[arg(long)]
    pub text: bool,
    /// `raw` WebSocket echo, or LAppS requests to the `echo_lapps` service.
    #[arg(long, value_enum, default_value_t = Protocol::Raw)]
    pub protocol: Protocol,
    /// The server and how to reach it.
    #[command(flatten)]
    pub common: Common,
}

impl EchoArgs {
    /// Returns the warm-up: as given, else 1 s for a timed run and none for a counted one.
    pub fn warmup(&self) -> Duration {
        self.warmup.unwrap_or(match self.messages {
            Some(_) => Duration::ZERO,
            None => DEFAULT_WARMUP,
        })
    }
}

/// `lapps-load idle`.
#[derive(Debug, Args)]
pub struct IdleArgs {
    /// Connections to open and hold.
    #[arg(short = 'c', long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: u32,
    /// Hold for this many seconds at most; without it, until stdin reaches EOF.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub hold: Option<Duration>,
    /// The server and how to reach it.
    #[command(flatten)]
    pub common: Common,
}

/// `lapps-load bcast`.
#[derive(Debug, Args)]
pub struct BcastArgs {
    /// Subscriber connections.
    #[arg(short = 'c', long, value_name = "SUBSCRIBERS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: u32,
    /// Padding bytes in each broadcast.
    #[arg(short = 's', long, default_value_t = 64)]
    pub size: usize,
    /// Seconds to measure, after the warm-up.
    #[arg(short = 'd', long, value_name = "SECS", default_value = "10", value_parser = parse_seconds)]
    pub duration: Duration,
    /// Measure this many broadcasts, instead of a duration (no warm-up unless `--warmup` is
    /// given).
    #[arg(short = 'n', long, value_name = "COUNT", conflicts_with = "duration")]
    pub messages: Option<u64>,
    /// Broadcasts in flight at most: the next is published when fewer are incomplete.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub window: u32,
    /// Seconds of unmeasured traffic first [default: 1, or 0 with --messages].
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub warmup: Option<Duration>,
    /// The server and how to reach it.
    #[command(flatten)]
    pub common: Common,
}

impl BcastArgs {
    /// Returns the warm-up: as given, else 1 s for a timed run and none for a counted one.
    pub fn warmup(&self) -> Duration {
        self.warmup.unwrap_or(match self.messages {
            Some(_) => Duration::ZERO,
            None => DEFAULT_WARMUP,
        })
    }
}

/// What every mode takes: the URL, how connections are opened, output.
#[derive(Debug, Args)]
pub struct Common {
    /// `ws://` or `wss://` URL of the service.
    pub url: String,
    /// Connection handshakes in flight at most while opening.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,
    /// Bind connections round-robin to 127.0.0.1 … 127.0.0.K (more than one source address's
    /// ephemeral ports).
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..))]
    pub sources: u8,
    /// CA certificates (PEM) to trust for `wss://`, instead of the system roots.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// No progress bar.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// The protocol of `lapps-load echo`.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// LAppS requests `{lapps: 1, method: "echo", params: [...]}` in CBOR, after a login.
    Lapps,
    /// Raw WebSocket messages, echoed as they are.
    Raw,
}

/// Parses a number of seconds (`10`, `0.5`).
///
/// # Errors
///
/// Not a number, negative, or not finite.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{text:?} is not a valid duration"))
}

/// The warm-up of a timed run.
const DEFAULT_WARMUP: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use clap::Parser as _;
    use clap::error::ErrorKind;

    use super::*;

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_from(std::iter::once("lapps-load").chain(args.iter().copied()))
            .map(|cli| cli.command)
    }

    #[test]
    fn echo_defaults() {
        let Command::Echo(echo) = parse(&["echo", "ws://127.0.0.1:5083/echo"]).unwrap() else {
            panic!("not echo");
        };
        assert_eq!(echo.connections, 100);
        assert_eq!(echo.size, 64);
        assert_eq!(echo.duration, Duration::from_secs(10));
        assert_eq!(echo.messages, None);
        assert_eq!(echo.warmup(), Duration::from_secs(1));
        assert!(!echo.text);
        assert_eq!(echo.protocol, Protocol::Raw);
        assert_eq!(echo.common.url, "ws://127.0.0.1:5083/echo");
        assert_eq!(echo.common.concurrency, 256);
        assert_eq!(echo.common.sources, 1);
        assert_eq!(echo.common.ca, None);
        assert!(!echo.common.quiet);
    }

    #[test]
    fn echo_every_flag() {
        let Command::Echo(echo) = parse(&[
            "echo",
            "wss://localhost:5083/echo_lapps",
            "-c",
            "10",
            "-s",
            "1024",
            "-d",
            "2.5",
            "--warmup",
            "0.5",
            "--text",
            "--protocol",
            "lapps",
            "--ca",
            "ca.pem",
            "--quiet",
        ])
        .unwrap() else {
            panic!("not echo");
        };
        assert_eq!(echo.connections, 10);
        assert_eq!(echo.size, 1024);
        assert_eq!(echo.duration, Duration::from_millis(2500));
        assert_eq!(echo.warmup(), Duration::from_millis(500));
        assert!(echo.text);
        assert_eq!(echo.protocol, Protocol::Lapps);
        assert_eq!(echo.common.ca, Some(PathBuf::from("ca.pem")));
        assert!(echo.common.quiet);

        let Command::Echo(echo) = parse(&[
            "echo",
            "ws://h/echo",
            "--connections",
            "3",
            "--size",
            "5",
            "--messages",
            "1000",
        ])
        .unwrap() else {
            panic!("not echo");
        };
        assert_eq!((echo.connections, echo.size), (3, 5));
        assert_eq!(echo.messages, Some(1000));
        assert_eq!(echo.warmup(), Duration::ZERO);
    }

    #[test]
    fn echo_refuses_duration_with_messages_and_bad_values() {
        let error = parse(&["echo", "ws://h/", "-d", "5", "-n", "10"]).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ArgumentConflict);
        for bad in [
            &["echo", "ws://h/", "-c", "0"][..],
            &["echo", "ws://h/", "-d", "-1"],
            &["echo", "ws://h/", "-d", "soon"],
            &["echo", "ws://h/", "--protocol", "json"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        assert_eq!(
            parse(&["echo"]).unwrap_err().kind(),
            ErrorKind::MissingRequiredArgument
        );
    }

    #[test]
    fn idle_flags() {
        let Command::Idle(idle) = parse(&["idle", "ws://h/echo"]).unwrap() else {
            panic!("not idle");
        };
        assert_eq!(idle.connections, 1000);
        assert_eq!(idle.hold, None);
        assert_eq!(idle.common.sources, 1);
        assert_eq!(idle.common.concurrency, 256);

        let Command::Idle(idle) = parse(&[
            "idle",
            "ws://h/echo",
            "-c",
            "50000",
            "--sources",
            "4",
            "--concurrency",
            "64",
            "--hold",
            "30",
            "--ca",
            "x.pem",
            "--quiet",
        ])
        .unwrap() else {
            panic!("not idle");
        };
        assert_eq!(idle.connections, 50_000);
        assert_eq!(idle.common.sources, 4);
        assert_eq!(idle.common.concurrency, 64);
        assert_eq!(idle.hold, Some(Duration::from_secs(30)));
        assert!(idle.common.quiet);
        assert!(parse(&["idle", "ws://h/", "--sources", "0"]).is_err());
    }

    #[test]
    fn bcast_flags() {
        let Command::Bcast(bcast) = parse(&["bcast", "ws://h/bcast_bench"]).unwrap() else {
            panic!("not bcast");
        };
        assert_eq!(bcast.connections, 10_000);
        assert_eq!(bcast.size, 64);
        assert_eq!(bcast.duration, Duration::from_secs(10));
        assert_eq!(bcast.window, 1);
        assert_eq!(bcast.warmup(), Duration::from_secs(1));
        assert_eq!(bcast.common.sources, 1);

        let Command::Bcast(bcast) = parse(&[
            "bcast",
            "ws://h/bcast_bench",
            "-c",
            "20",
            "-s",
            "128",
            "-d",
            "3",
            "--window",
            "8",
            "--warmup",
            "2",
            "--sources",
            "2",
            "--quiet",
        ])
        .unwrap() else {
            panic!("not bcast");
        };
        assert_eq!((bcast.connections, bcast.size, bcast.window), (20, 128, 8));
        assert_eq!(bcast.duration, Duration::from_secs(3));
        assert_eq!(bcast.warmup(), Duration::from_secs(2));
        assert_eq!(bcast.common.sources, 2);
        assert!(bcast.common.quiet);

        let Command::Bcast(bcast) = parse(&["bcast", "ws://h/b", "-n", "50"]).unwrap() else {
            panic!("not bcast");
        };
        assert_eq!(bcast.messages, Some(50));
        assert_eq!(bcast.warmup(), Duration::ZERO);
        assert!(parse(&["bcast", "ws://h/b", "--window", "0"]).is_err());
    }
}
