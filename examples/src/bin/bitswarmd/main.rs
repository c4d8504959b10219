//! bitswarmd: a BitTorrent daemon with an HTTP JSON API, built on
//! `bitswarm-session`.
//!
//! ```text
//! bitswarmd --config bitswarmd.toml
//! bitswarmd --api-bind 127.0.0.1:7246 --download-dir ~/Downloads --state-dir ~/.local/state/bitswarmd
//! curl -s http://127.0.0.1:7246/v1/torrents
//! ```
//!
//! It starts a session from a TOML file (`examples/bitswarmd.example.toml`)
//! with command-line overrides, restores every torrent saved in its state
//! folder, and serves the API of [`api`] (its OpenAPI document at
//! `/v1/openapi.json`). On SIGINT or SIGTERM it stops taking requests,
//! saves every torrent's resume data, announces `stopped` to trackers and
//! exits 0. Once ready it prints one line to standard output:
//! `bitswarmd: api=http://ADDR peers=ADDR[,ADDR...]`.

mod api;
mod config;
mod listener;

use std::process::ExitCode;
use std::time::Duration;

use bitswarm_examples::init_tracing;
use bitswarm_session::Session;
use clap::Parser;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{Args, Config};

/// How long open requests get to finish once the daemon is stopping.
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// How often resume data is saved while running (besides at exit).
const SAVE_EVERY: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    init_tracing("info");
    let args = Args::parse();
    let config = match args.config.as_deref() {
        Some(path) => Config::load(path),
        None => Ok(Config::default()),
    }
    .and_then(|c| c.with_args(&args));
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bitswarmd: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bitswarmd: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bitswarmd: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the daemon until a signal, then stops it cleanly.
async fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    for dir in [&config.download_dir, &config.resume_dir()] {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("creating the folder {}: {e}", dir.display()))?;
    }
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let tcp = TcpListener::bind(config.api_bind)
        .await
        .map_err(|e| format!("binding the API to {}: {e}", config.api_bind))?;
    let api_addr = tcp.local_addr()?;
    let session = Session::start(config.session_config())
        .await
        .map_err(|e| format!("starting the session: {e}"))?;
    let restored = session.torrents().await.len();
    let (stop_tx, stop_rx) = watch::channel(false);
    let state = api::AppState::new(
        session.clone(),
        config.download_dir.clone(),
        config.api_token.clone(),
        stop_rx.clone(),
    );
    let mut stopped = stop_rx.clone();
    let bounded = listener::BoundedListener::new(tcp, listener::MAX_CONNECTIONS);
    let server = axum::serve(bounded, api::router(state)).with_graceful_shutdown(async move {
        let _ = stopped.wait_for(|s| *s).await;
    });
    let mut server = tokio::spawn(async move { server.await });
    let peers = session
        .listen_addrs()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    tracing::info!(api = %api_addr, peers, restored, "bitswarmd ready");
    println!("bitswarmd: api=http://{api_addr} peers={peers}");

    let mut save = tokio::time::interval(SAVE_EVERY);
    save.tick().await;
    let server_ended = loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break false,
            _ = terminate.recv() => break false,
            r = &mut server => {
                tracing::error!("the API server ended: {r:?}");
                break true;
            }
            _ = save.tick() => {
                if let Err(e) = session.save_resume_data().await {
                    tracing::warn!("saving resume data: {e}");
                }
            }
        }
    };
    tracing::info!("stopping");
    let _ = stop_tx.send(true);
    if !server_ended && tokio::time::timeout(DRAIN_TIME, &mut server).await.is_err() {
        tracing::warn!("requests still open after {DRAIN_TIME:?}; closing them");
        server.abort();
    }
    session
        .shutdown()
        .await
        .map_err(|e| format!("saving state and stopping the session: {e}"))?;
    tracing::info!("stopped; state saved");
    if server_ended {
        return Err("the API server failed".into());
    }
    Ok(())
}
