//! Load client for the pywebsocket-rs benchmark: echo, handshake, idle and subscribe modes,
//! JSON on stdout.

mod args;
mod conn;
mod echo;
mod handshake;
mod histogram;
mod idle;
mod payload;
mod rawws;
mod stats;
mod subscribe;

use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let opts = match args::Options::parse(&argv) {
        Ok(opts) => opts,
        Err(message) => {
            eprintln!("loadclient: {message}\n\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    let runtime = if opts.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(opts.threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("loadclient: cannot start runtime: {err}");
            return ExitCode::from(1);
        }
    };
    let report = runtime.block_on(async {
        match opts.mode {
            args::Mode::Echo => echo::run(&opts).await,
            args::Mode::Handshake => handshake::run(&opts).await,
            args::Mode::Idle => idle::run(&opts).await,
            args::Mode::Subscribe => subscribe::run(&opts).await,
        }
    });
    println!("{}", report.to_json());
    if report.errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
