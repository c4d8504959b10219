//! Drawing the screens.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell, Clear, Gauge, Paragraph, Row, Table, TableState, Wrap,
};

use crate::app::{App, Mode, View};
use crate::client::Torrent;

/// Draws the whole screen.
pub(crate) fn draw(frame: &mut Frame<'_>, app: &App) {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(2),
    ])
    .areas(frame.area());
    draw_header(frame, header, app);
    match app.view {
        View::List => draw_list(frame, body, app),
        View::Detail => draw_detail(frame, body, app),
    }
    draw_footer(frame, footer, app);
    if let Some(why) = &app.unreachable {
        draw_unreachable(frame, body, &app.url, why);
    }
}

fn draw_header(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let mut spans = vec![
        Span::styled("bitswarm", Style::new().bold().fg(Color::Cyan)),
        Span::raw(format!("  {}  ", app.url)),
        Span::raw(match app.torrents.len() {
            1 => "1 torrent".to_owned(),
            n => format!("{n} torrents"),
        }),
    ];
    if let Some(s) = &app.stats {
        spans.push(Span::raw(format!(
            "  ↓ {}  ↑ {}  {} peers  DHT {} nodes",
            rate(s.download_rate),
            rate(s.upload_rate),
            s.peers,
            s.dht_nodes
        )));
    }
    frame.render_widget(Line::from(spans), area);
}

/// A text progress bar: `width` cells and a percentage.
pub(crate) fn bar(progress: f64, width: usize) -> String {
    let p = if progress.is_finite() {
        progress.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let full = ((p * width as f64).floor() as usize).min(width);
    format!(
        "{}{} {:>5.1}%",
        "█".repeat(full),
        "░".repeat(width - full),
        p * 100.0
    )
}

/// Bytes as B, KiB, MiB, GiB or TiB.
pub(crate) fn size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Bytes per second.
pub(crate) fn rate(n: u64) -> String {
    format!("{}/s", size(n))
}

/// Seconds as `1h02m`, `3m07s` or `12s`; `-` when unknown.
pub(crate) fn eta(seconds: Option<u64>) -> String {
    match seconds {
        None => "-".to_owned(),
        Some(s) if s >= 100 * 3600 => "∞".to_owned(),
        Some(s) if s >= 3600 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        Some(s) if s >= 60 => format!("{}m{:02}s", s / 60, s % 60),
        Some(s) => format!("{s}s"),
    }
}

/// A state as shown: the API's name, shortened where it is long.
pub(crate) fn state_label(state: &str) -> &str {
    match state {
        "fetching_metadata" => "metadata",
        other => other,
    }
}

fn state_style(state: &str) -> Style {
    match state {
        "seeding" => Style::new().fg(Color::Green),
        "downloading" => Style::new().fg(Color::Cyan),
        "paused" => Style::new().fg(Color::DarkGray),
        "error" => Style::new().fg(Color::Red),
        _ => Style::new().fg(Color::Yellow),
    }
}

fn torrent_row(t: &Torrent) -> Row<'static> {
    Row::new(vec![
        Cell::from(t.display_name().to_owned()),
        Cell::from(state_label(&t.state).to_owned()).style(state_style(&t.state)),
        Cell::from(bar(t.progress, 20)),
        Cell::from(t.total_length.map_or_else(|| "?".to_owned(), size)),
        Cell::from(rate(t.download_rate)),
        Cell::from(rate(t.upload_rate)),
        Cell::from(t.peers.to_string()),
        Cell::from(eta(t.eta_seconds)),
    ])
}

fn draw_list(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let header = Row::new([
        "Name", "State", "Progress", "Size", "Down", "Up", "Peers", "ETA",
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    let rows: Vec<Row<'_>> = app.torrents.iter().map(torrent_row).collect();
    let empty = rows.is_empty();
    let table = Table::new(
        rows,
        [
            Constraint::Min(16),
            Constraint::Length(11),
            Constraint::Length(27),
            Constraint::Length(10),
            Constraint::Length(12),
            Constraint::Length(12),
            Constraint::Length(5),
            Constraint::Length(7),
        ],
    )
    .header(header)
    .block(Block::default().borders(Borders::ALL).title(" Torrents "))
    .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default().with_selected((!empty).then_some(app.selected));
    frame.render_stateful_widget(table, area, &mut state);
    if empty && app.unreachable.is_none() {
        let inner = Rect {
            x: area.x + 2,
            y: area.y + 2,
            width: area.width.saturating_sub(4),
            height: 1.min(area.height.saturating_sub(3)),
        };
        frame.render_widget(
            Paragraph::new("No torrents yet: press a to add a magnet link or .torrent file."),
            inner,
        );
    }
}

fn draw_detail(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let Some(t) = app.current() else {
        return;
    };
    let info_height = if t.error.is_some() { 6 } else { 5 };
    let [info, gauge, files, peers] = Layout::vertical([
        Constraint::Length(info_height),
        Constraint::Length(1),
        Constraint::Min(4),
        Constraint::Min(4),
    ])
    .areas(area);
    let mut lines = vec![
        Line::from(vec![
            Span::styled(t.display_name().to_owned(), Style::new().bold()),
            Span::raw("  "),
            Span::styled(state_label(&t.state).to_owned(), state_style(&t.state)),
        ]),
        Line::from(format!("info-hash {}   in {}", t.info_hash, t.save_path)),
        Line::from(format!(
            "{} of {}  pieces {}/{}   ↓ {} ({} total)  ↑ {} ({} total)   {} peers   ETA {}",
            size((t.progress * t.total_length.unwrap_or(0) as f64) as u64),
            t.total_length.map_or_else(|| "?".to_owned(), size),
            t.pieces_done,
            t.pieces_total,
            rate(t.download_rate),
            size(t.downloaded),
            rate(t.upload_rate),
            size(t.uploaded),
            t.peers,
            eta(t.eta_seconds)
        )),
    ];
    if let Some(e) = &t.error {
        lines.push(Line::from(Span::styled(
            format!("error: {e}"),
            Style::new().fg(Color::Red),
        )));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(Block::default().borders(Borders::ALL).title(" Torrent ")),
        info,
    );
    let p = if t.progress.is_finite() {
        t.progress.clamp(0.0, 1.0)
    } else {
        0.0
    };
    frame.render_widget(
        Gauge::default()
            .gauge_style(state_style(&t.state))
            .ratio(p)
            .label(format!("{:.1}%", p * 100.0)),
        gauge,
    );
    let file_rows = app.files.iter().map(|f| {
        let progress = if f.length == 0 {
            1.0
        } else {
            f.downloaded as f64 / f.length as f64
        };
        Row::new(vec![
            f.path.clone(),
            size(f.length),
            bar(progress, 10),
            if f.priority == 0 {
                "skip".to_owned()
            } else {
                f.priority.to_string()
            },
        ])
    });
    frame.render_widget(
        Table::new(
            file_rows,
            [
                Constraint::Min(20),
                Constraint::Length(10),
                Constraint::Length(17),
                Constraint::Length(8),
            ],
        )
        .header(Row::new(["File", "Size", "Progress", "Priority"]).bold())
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" Files ({}) ", app.files.len())),
        ),
        files,
    );
    let peer_rows = app.peers.iter().map(|p| {
        Row::new(vec![
            p.addr.clone(),
            p.client.clone().unwrap_or_else(|| "?".to_owned()),
            rate(p.download_rate),
            rate(p.upload_rate),
            bar(p.progress, 10),
        ])
    });
    frame.render_widget(
        Table::new(
            peer_rows,
            [
                Constraint::Length(22),
                Constraint::Min(12),
                Constraint::Length(12),
                Constraint::Length(12),
                Constraint::Length(17),
            ],
        )
        .header(Row::new(["Peer", "Client", "Down", "Up", "Has"]).bold())
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" Peers ({}) ", app.peers.len())),
        ),
        peers,
    );
}

fn draw_footer(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let [first, second] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let help = match (&app.mode, &app.view) {
        (Mode::Prompt(_), _) => "Enter add   Esc cancel   Ctrl-U clear",
        (Mode::ConfirmRemove { .. }, _) => "y remove   any other key keeps it",
        (Mode::Normal, View::List) => {
            "a add  p pause/resume  r recheck  d remove  D remove+files  Enter details  q quit"
        }
        (Mode::Normal, View::Detail) => {
            "Esc back  p pause/resume  r recheck  d remove  D remove+files  q quit"
        }
    };
    frame.render_widget(
        Line::from(help).style(Style::new().fg(Color::DarkGray)),
        second,
    );
    let line = match &app.mode {
        Mode::Prompt(input) => {
            // Show the end of a long input, where the cursor is.
            let room = usize::from(first.width).saturating_sub(24);
            let shown: String = {
                let n = input.chars().count();
                input.chars().skip(n.saturating_sub(room)).collect()
            };
            Line::from(vec![
                Span::styled("magnet or .torrent: ", Style::new().bold()),
                Span::raw(shown),
                Span::styled("█", Style::new().fg(Color::Gray)),
            ])
        }
        Mode::ConfirmRemove { delete_files } => {
            let name = app.current().map_or("", Torrent::display_name);
            Line::from(Span::styled(
                if *delete_files {
                    format!("Remove {name} and DELETE its files? (y/n)")
                } else {
                    format!("Remove {name} (files are kept)? (y/n)")
                },
                Style::new().fg(Color::Yellow).bold(),
            ))
        }
        Mode::Normal => match &app.message {
            Some((text, true)) => {
                Line::from(Span::styled(text.clone(), Style::new().fg(Color::Red)))
            }
            Some((text, false)) => Line::from(text.clone()),
            None => Line::default(),
        },
    };
    frame.render_widget(line, first);
}

fn draw_unreachable(frame: &mut Frame<'_>, body: Rect, url: &str, why: &str) {
    let width = body.width.saturating_sub(4).min(76);
    let area = Rect {
        x: body.x + (body.width.saturating_sub(width)) / 2,
        y: body.y + body.height.saturating_sub(7) / 2,
        width,
        height: 7.min(body.height),
    };
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(Span::styled(
                format!("Cannot reach bitswarmd at {url}"),
                Style::new().bold(),
            )),
            Line::from(why.to_owned()),
            Line::from(""),
            Line::from("Start it with `bitswarmd --config bitswarmd.toml`; retrying..."),
        ])
        .wrap(Wrap { trim: true })
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(" daemon unreachable ")
                .border_style(Style::new().fg(Color::Red)),
        ),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(bar(0.5, 4), "██░░  50.0%");
        assert_eq!(bar(1.0, 2), "██ 100.0%");
        assert_eq!(bar(f64::NAN, 2), "░░   0.0%");
        assert_eq!(size(512), "512 B");
        assert_eq!(size(3 << 20), "3.0 MiB");
        assert_eq!(eta(Some(3725)), "1h02m");
        assert_eq!(eta(Some(187)), "3m07s");
        assert_eq!(eta(None), "-");
    }
}
