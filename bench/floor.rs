//! The floor of the GET benchmarks: a raw reqwest loop, sequential requests on
//! one kept connection with a bearer header, no Python anywhere.
//!
//! ```sh
//! cargo run --release --example bench_floor -- URL TOKEN N [--json] [--warmup W]
//! ```
//!
//! Prints one JSON line: requests, wall and CPU seconds of the timed loop
//! (CPU from `getrusage`, so the whole process), peak RSS in KiB and the body
//! size. `--json` also decodes each body into a `serde_json::Value`, the
//! floor for a GET followed by `.json()`. It speaks plain `http://` only
//! (`FakeDruva` on loopback), but installs ring as the crypto provider anyway,
//! since reqwest is built here without a default one.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};

struct Arguments {
    url: String,
    token: String,
    requests: u64,
    warmup: u64,
    decode_json: bool,
}

const USAGE: &str = "usage: bench_floor URL TOKEN N [--json] [--warmup W]";

fn parse_arguments() -> Result<Arguments, String> {
    let mut positional = Vec::new();
    let mut decode_json = false;
    let mut warmup = 100;
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "--json" => decode_json = true,
            "--warmup" => {
                let value = arguments.next().ok_or(USAGE)?;
                warmup = value
                    .parse()
                    .map_err(|_| format!("bad --warmup: {value}"))?;
            }
            _ => positional.push(argument),
        }
    }
    let [url, token, requests] = <[String; 3]>::try_from(positional).map_err(|_| USAGE)?;
    let requests = requests.parse().map_err(|_| format!("bad N: {requests}"))?;
    Ok(Arguments {
        url,
        token,
        requests,
        warmup,
        decode_json,
    })
}

/// CPU time (user + system) and peak RSS in KiB of this process so far.
fn process_usage() -> (Duration, i64) {
    // SAFETY: getrusage only writes into the zeroed struct we own.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &raw mut usage);
        usage
    };
    let seconds = |time: libc::timeval| {
        Duration::from_secs(u64::try_from(time.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(time.tv_usec).unwrap_or(0))
    };
    (
        seconds(usage.ru_utime) + seconds(usage.ru_stime),
        usage.ru_maxrss,
    )
}

async fn fetch(
    client: &reqwest::Client,
    url: &str,
    decode_json: bool,
) -> Result<usize, Box<dyn std::error::Error>> {
    let body = client
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    if decode_json {
        let value: serde_json::Value = serde_json::from_slice(&body)?;
        std::hint::black_box(value);
    }
    Ok(body.len())
}

async fn run(arguments: Arguments) -> Result<String, Box<dyn std::error::Error>> {
    let mut headers = HeaderMap::new();
    let mut bearer = HeaderValue::from_str(&format!("Bearer {}", arguments.token))?;
    bearer.set_sensitive(true);
    headers.insert(AUTHORIZATION, bearer);
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .no_proxy()
        .build()?;
    let mut body_bytes = 0;
    for _ in 0..arguments.warmup {
        body_bytes = fetch(&client, &arguments.url, arguments.decode_json).await?;
    }
    let (cpu_before, _) = process_usage();
    let started = Instant::now();
    for _ in 0..arguments.requests {
        body_bytes = fetch(&client, &arguments.url, arguments.decode_json).await?;
    }
    let wall = started.elapsed();
    let (cpu_after, max_rss_kib) = process_usage();
    Ok(format!(
        "{{\"requests\": {}, \"wall_s\": {}, \"cpu_s\": {}, \"max_rss_kib\": {}, \"body_bytes\": {}}}",
        arguments.requests,
        wall.as_secs_f64(),
        (cpu_after.saturating_sub(cpu_before)).as_secs_f64(),
        max_rss_kib,
        body_bytes,
    ))
}

fn main() -> ExitCode {
    let arguments = match parse_arguments() {
        Ok(arguments) => arguments,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    // Harmless if one is already installed: the result says which won.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // One thread: a sequential loop gains nothing from work stealing, and
    // this is the cheapest way reqwest can be driven.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start a tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(arguments)) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("bench_floor: {error}");
            ExitCode::FAILURE
        }
    }
}
