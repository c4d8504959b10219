//! bitswarm-tui: a terminal UI for bitswarmd, talking to its HTTP JSON API.
//!
//! ```text
//! bitswarm-tui                                  # the daemon at http://127.0.0.1:7246
//! bitswarm-tui --url http://10.0.0.2:7246 --token-file ~/.config/bitswarmd.token
//! ```
//!
//! A table of torrents with progress bars, rates, peers and ETA, refreshed
//! every second; `a` adds a magnet link or .torrent path, `p` pauses or
//! resumes, `r` rechecks, `d`/`D` removes (keeping or deleting files),
//! `Enter` shows a torrent's files and peers, `q` quits. When the daemon
//! cannot be reached it says so and keeps retrying.

mod app;
mod client;
mod ui;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ratatui::crossterm::event::{self, Event};
use tokio::sync::mpsc;

use crate::app::{Action, App, Mode, View};
use crate::client::Client;

/// A terminal UI for bitswarmd.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The daemon's API.
    #[arg(long, default_value = "http://127.0.0.1:7246")]
    url: String,
    /// A file holding the daemon's `api_token`, when it needs one.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Milliseconds between refreshes.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    refresh_ms: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let token = match &args.token_file {
        None => None,
        Some(path) => match std::fs::read_to_string(path) {
            Ok(t) => Some(t.trim().to_owned()),
            Err(e) => {
                eprintln!("bitswarm-tui: reading {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
    };
    let client = match Client::new(&args.url, token) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bitswarm-tui: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bitswarm-tui: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bitswarm-tui: setting up the terminal: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Pasted text arrives whole (a magnet link with a line break does not
    // submit the prompt early); not every terminal can, which is fine.
    let _ = ratatui::crossterm::execute!(std::io::stdout(), event::EnableBracketedPaste);
    let result = runtime.block_on(run(
        &mut terminal,
        client,
        Duration::from_millis(args.refresh_ms),
    ));
    let _ = ratatui::crossterm::execute!(std::io::stdout(), event::DisableBracketedPaste);
    ratatui::restore();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bitswarm-tui: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads terminal events on a thread of its own (crossterm's reads block),
/// until the UI stops listening.
fn spawn_input() -> mpsc::Receiver<Event> {
    let (tx, rx) = mpsc::channel(64);
    std::thread::spawn(move || {
        loop {
            match event::poll(Duration::from_millis(200)) {
                Ok(true) => match event::read() {
                    Ok(e) => {
                        if tx.blocking_send(e).is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                },
                Ok(false) if tx.is_closed() => return,
                Ok(false) => {}
                Err(_) => return,
            }
        }
    });
    rx
}

/// Draws, reads keys and refreshes until the user quits.
async fn run(
    terminal: &mut ratatui::DefaultTerminal,
    client: Client,
    every: Duration,
) -> std::io::Result<()> {
    let mut app = App::new(client.base());
    let mut input = spawn_input();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        terminal.draw(|f| ui::draw(f, &app))?;
        tokio::select! {
            e = input.recv() => match e {
                Some(Event::Key(key)) => {
                    let Some(action) = app.on_key(key) else { continue };
                    if action == Action::Quit {
                        return Ok(());
                    }
                    perform(&client, &mut app, action).await;
                    refresh(&client, &mut app).await;
                }
                Some(Event::Paste(text)) => {
                    if let Mode::Prompt(input) = &mut app.mode {
                        input.extend(text.chars().filter(|c| !c.is_control()));
                    }
                }
                Some(_) => {}
                None => return Ok(()),
            },
            _ = tick.tick() => refresh(&client, &mut app).await,
        }
    }
}

/// Asks the daemon to do what a key asked for, and notes how it went.
async fn perform(client: &Client, app: &mut App, action: Action) {
    let outcome = match &action {
        Action::Add(what) => client
            .add(what)
            .await
            .map(|t| format!("added {}", t.display_name())),
        Action::SetPaused(hash, paused) => client
            .set_paused(hash, *paused)
            .await
            .map(|()| if *paused { "paused" } else { "resumed" }.to_owned()),
        Action::Recheck(hash) => client
            .recheck(hash)
            .await
            .map(|()| "checking the files again".to_owned()),
        Action::Remove(hash, delete_files) => client.remove(hash, *delete_files).await.map(|()| {
            app.view = View::List;
            if *delete_files {
                "removed, files deleted".to_owned()
            } else {
                "removed, files kept".to_owned()
            }
        }),
        Action::Quit => return,
    };
    app.message = Some(match outcome {
        Ok(text) => (text, false),
        Err(e) => (e, true),
    });
}

/// Fetches what the screen shows.
async fn refresh(client: &Client, app: &mut App) {
    match client.torrents().await {
        Ok(list) => {
            app.unreachable = None;
            app.set_torrents(list);
        }
        Err(e) => {
            app.unreachable = Some(e);
            return;
        }
    }
    app.stats = client.stats().await.ok();
    if app.view == View::Detail
        && let Some(hash) = app.current().map(|t| t.info_hash.clone())
    {
        app.files = client.files(&hash).await.unwrap_or_default();
        app.peers = client.peers(&hash).await.unwrap_or_default();
    }
}
