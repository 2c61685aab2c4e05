//! Command-line options (hand-rolled to keep the client's build small).

use std::time::Duration;

pub const USAGE: &str =
    "usage: loadclient echo|handshake|idle|subscribe --url ws://127.0.0.1:PORT/PATH [options]
  --conns N        connections (echo, idle) or concurrent handshakers (handshake) [10]
  --msgs N         messages per connection (echo); 0 means use --duration [0]
  --duration SEC   run time for echo without --msgs, and for handshake [5]
  --warmup SEC     echo: messages in this first stretch are not counted [0]
  --size BYTES     message size [16]
  --binary         binary messages (default text)
  --inflight N     messages in flight per connection (echo) [1]
  --hold SEC       idle: hold the connections this long, or until a line on stdin [5]
  --open-parallel N  idle: handshakes in progress at once while opening [256]
  --max-open-errors N  idle: stop opening after this many failures [50]
  --threads N      client runtime threads; 1 = current-thread runtime [1]
  --timeout SEC    give up on a connection that stays silent this long [20]
  subscribe: --conns subscribers on --url, one publisher on --pub-url (default --url);
  --size >= 17; --duration and --warmup as for echo
  --pub-url URL    the publisher's URL
  --window N       keep at most N messages not yet delivered to every subscriber [32]
  --rate R         instead publish R messages/s, whatever the deliveries [0 = window]";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Echo,
    Handshake,
    Idle,
    Subscribe,
}

#[derive(Clone, Debug)]
pub struct Options {
    pub mode: Mode,
    pub url: String,
    pub conns: usize,
    pub msgs: u64,
    pub duration: Duration,
    pub warmup: Duration,
    pub size: usize,
    pub binary: bool,
    pub inflight: usize,
    pub hold: Duration,
    pub open_parallel: usize,
    pub max_open_errors: usize,
    pub threads: usize,
    pub timeout: Duration,
    pub pub_url: String,
    pub window: usize,
    pub rate: f64,
}

impl Options {
    pub fn parse(argv: &[String]) -> Result<Options, String> {
        let mut it = argv.iter();
        let mode = match it.next().map(String::as_str) {
            Some("echo") => Mode::Echo,
            Some("handshake") => Mode::Handshake,
            Some("idle") => Mode::Idle,
            Some("subscribe") => Mode::Subscribe,
            other => return Err(format!("unknown mode {other:?}")),
        };
        let mut opts = Options {
            mode,
            url: String::new(),
            conns: 10,
            msgs: 0,
            duration: Duration::from_secs(5),
            warmup: Duration::ZERO,
            size: 16,
            binary: false,
            inflight: 1,
            hold: Duration::from_secs(5),
            open_parallel: 256,
            max_open_errors: 50,
            threads: 1,
            timeout: Duration::from_secs(20),
            pub_url: String::new(),
            window: 32,
            rate: 0.0,
        };
        while let Some(flag) = it.next() {
            if flag == "--binary" {
                opts.binary = true;
                continue;
            }
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--url" => opts.url = value.clone(),
                "--conns" => opts.conns = number(flag, value)?,
                "--msgs" => opts.msgs = number(flag, value)?,
                "--duration" => opts.duration = seconds(flag, value)?,
                "--warmup" => opts.warmup = seconds(flag, value)?,
                "--size" => opts.size = number(flag, value)?,
                "--inflight" => opts.inflight = number(flag, value)?,
                "--hold" => opts.hold = seconds(flag, value)?,
                "--open-parallel" => opts.open_parallel = number(flag, value)?,
                "--max-open-errors" => opts.max_open_errors = number(flag, value)?,
                "--threads" => opts.threads = number(flag, value)?,
                "--timeout" => opts.timeout = seconds(flag, value)?,
                "--pub-url" => opts.pub_url = value.clone(),
                "--window" => opts.window = number(flag, value)?,
                "--rate" => opts.rate = number(flag, value)?,
                _ => return Err(format!("unknown option {flag}")),
            }
        }
        if opts.url.is_empty() {
            return Err("--url is required".into());
        }
        if opts.pub_url.is_empty() {
            opts.pub_url = opts.url.clone();
        }
        if opts.mode == Mode::Subscribe
            && (opts.size < crate::subscribe::HEADER || opts.window == 0)
        {
            return Err("subscribe needs --size of at least 17 and a positive --window".into());
        }
        if opts.conns == 0 || opts.inflight == 0 || opts.open_parallel == 0 {
            return Err("--conns, --inflight and --open-parallel must be positive".into());
        }
        Ok(opts)
    }
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: not a number: {value}"))
}

fn seconds(flag: &str, value: &str) -> Result<Duration, String> {
    let secs: f64 = number(flag, value)?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{flag}: bad duration {value}"))
}
