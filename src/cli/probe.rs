//! `faultline probe` (hidden): the small network and clock programs that the
//! integration tests run inside node namespaces to see whether a fault
//! really happened — an HTTP server, a TCP connect, a UDP receiver and
//! sender, a clock ticker. They are part of the binary so that the tests
//! need no tool the project does not install itself (a fresh Debian has no
//! `python3`, `curl` or `nc`). Not meant for users; their output formats
//! are what the tests parse, kept as plain lines.

use crate::checker::Validity;
use crate::exit::{CliError, CmdResult};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Arguments of `faultline probe`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which probe to run.
    #[command(subcommand)]
    pub probe: Probe,
}

/// The probes.
#[derive(Debug, clap::Subcommand)]
pub enum Probe {
    /// Serve `HTTP/1.0 200` to every request on ADDR, until killed.
    HttpServe {
        /// The address to listen on, `IP:PORT`.
        addr: SocketAddr,
    },
    /// Open one TCP connection to ADDR: exit 0 when it connects, 1 when it
    /// fails (the OS error on stderr, e.g. "Connection refused"), 2 when
    /// nothing answers within the timeout (a silent drop).
    TcpConnect {
        /// The address to connect to, `IP:PORT`.
        addr: SocketAddr,
        /// How long to wait for an answer, in milliseconds.
        #[arg(long, default_value_t = 1000)]
        timeout_ms: u64,
    },
    /// Print every datagram received on ADDR as one line, until killed.
    UdpRecv {
        /// The address to bind, `IP:PORT`.
        addr: SocketAddr,
    },
    /// Send COUNT datagrams holding TAG to ADDR, GAP_US microseconds apart.
    UdpSend {
        /// The destination, `IP:PORT`.
        addr: SocketAddr,
        /// The datagram's content.
        #[arg(long)]
        tag: String,
        /// How many datagrams.
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// The pause between two datagrams, in microseconds.
        #[arg(long, default_value_t = 500)]
        gap_us: u64,
    },
    /// Print the wall clock (seconds since the epoch, as this process sees
    /// it, e.g. under libfaketime) every INTERVAL_MS, until killed; with
    /// `--once`, print it once and exit.
    Clock {
        /// The pause between two lines, in milliseconds.
        #[arg(long, default_value_t = 50)]
        interval_ms: u64,
        /// Print one line and exit.
        #[arg(long)]
        once: bool,
    },
}

/// Run `faultline probe`. The probes that serve run until killed.
pub fn run(args: Args) -> CmdResult {
    let io =
        |what: String| move |e: std::io::Error| CliError::internal(anyhow::anyhow!("{what}: {e}"));
    match args.probe {
        Probe::HttpServe { addr } => {
            let listener = TcpListener::bind(addr).map_err(io(format!("bind {addr}")))?;
            for conn in listener.incoming() {
                match conn {
                    Ok(conn) => {
                        std::thread::spawn(move || answer_http(conn));
                    }
                    // A client that went away, or no file descriptor left:
                    // wait a little rather than spin, and serve on.
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            Ok(Validity::Valid)
        }
        Probe::TcpConnect { addr, timeout_ms } => {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(timeout_ms)) {
                Ok(_) => Ok(Validity::Valid),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    eprintln!("connect {addr}: timed out after {timeout_ms} ms");
                    Ok(Validity::Unknown)
                }
                Err(e) => {
                    eprintln!("connect {addr}: {e}");
                    Ok(Validity::Invalid)
                }
            }
        }
        Probe::UdpRecv { addr } => {
            let socket = UdpSocket::bind(addr).map_err(io(format!("bind {addr}")))?;
            let mut buf = [0u8; 512];
            let mut out = std::io::stdout();
            loop {
                let (n, _) = socket
                    .recv_from(&mut buf)
                    .map_err(io(format!("recv on {addr}")))?;
                let line = String::from_utf8_lossy(&buf[..n]);
                writeln!(out, "{line}")
                    .and_then(|()| out.flush())
                    .map_err(io("stdout".into()))?;
            }
        }
        Probe::UdpSend {
            addr,
            tag,
            count,
            gap_us,
        } => {
            let any: SocketAddr = if addr.is_ipv4() {
                "0.0.0.0:0".parse()
            } else {
                "[::]:0".parse()
            }
            .map_err(|e| CliError::internal(anyhow::anyhow!("{e}")))?;
            let socket = UdpSocket::bind(any).map_err(io("bind a UDP socket".into()))?;
            for _ in 0..count {
                // A datagram the network drops (or refuses) is what the
                // test measures, not an error of the probe.
                let _ = socket.send_to(tag.as_bytes(), addr);
                std::thread::sleep(Duration::from_micros(gap_us));
            }
            Ok(Validity::Valid)
        }
        Probe::Clock { interval_ms, once } => {
            let mut out = std::io::stdout();
            loop {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    // A clock skewed before 1970 reads as negative seconds.
                    .unwrap_or_else(|e| -e.duration().as_secs_f64());
                writeln!(out, "{now:.6}")
                    .and_then(|()| out.flush())
                    .map_err(io("stdout".into()))?;
                if once {
                    return Ok(Validity::Valid);
                }
                std::thread::sleep(Duration::from_millis(interval_ms));
            }
        }
    }
}

/// Read a request's head (or whatever arrives within a second) and answer
/// 200 with a one-line body.
fn answer_http(mut conn: TcpStream) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(1)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match conn.read(&mut buf) {
            Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let body = "faultline probe\n";
    let _ = write!(
        conn,
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
}
