//! What the terminal UI shows and how keys change it.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::client::{File, Peer, Stats, Torrent};

/// The longest text the add prompt takes (a magnet link's limit).
const MAX_INPUT: usize = 64 * 1024;

/// Which screen is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum View {
    /// The table of torrents.
    List,
    /// One torrent's files and peers.
    Detail,
}

/// What keys do right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Navigation and commands.
    Normal,
    /// Typing a magnet link or .torrent path.
    Prompt(String),
    /// Asking before a removal.
    ConfirmRemove {
        /// Delete the files too.
        delete_files: bool,
    },
}

/// Something for the main loop to ask the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Add a magnet link or .torrent file.
    Add(String),
    /// Pause (`true`) or resume a torrent.
    SetPaused(String, bool),
    /// Recheck a torrent.
    Recheck(String),
    /// Remove a torrent.
    Remove(String, bool),
    /// Leave.
    Quit,
}

/// The UI's state.
#[derive(Debug)]
pub(crate) struct App {
    /// The daemon's address.
    pub(crate) url: String,
    /// The torrents, as last fetched.
    pub(crate) torrents: Vec<Torrent>,
    /// Session totals, as last fetched.
    pub(crate) stats: Option<Stats>,
    /// The selected row.
    pub(crate) selected: usize,
    /// The screen.
    pub(crate) view: View,
    /// The key mode.
    pub(crate) mode: Mode,
    /// Files of the selected torrent (detail view).
    pub(crate) files: Vec<File>,
    /// Peers of the selected torrent (detail view).
    pub(crate) peers: Vec<Peer>,
    /// Why the daemon cannot be reached, when it cannot.
    pub(crate) unreachable: Option<String>,
    /// The last command's outcome: text, and whether it failed.
    pub(crate) message: Option<(String, bool)>,
}

impl App {
    /// A UI for the daemon at `url`, before the first fetch.
    pub(crate) fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            torrents: Vec::new(),
            stats: None,
            selected: 0,
            view: View::List,
            mode: Mode::Normal,
            files: Vec::new(),
            peers: Vec::new(),
            unreachable: None,
            message: None,
        }
    }

    /// The selected torrent.
    pub(crate) fn current(&self) -> Option<&Torrent> {
        self.torrents.get(self.selected)
    }

    /// Takes a fresh list, keeping the same torrent selected when it is still there.
    pub(crate) fn set_torrents(&mut self, torrents: Vec<Torrent>) {
        let keep = self.current().map(|t| t.info_hash.clone());
        self.torrents = torrents;
        if let Some(hash) = keep
            && let Some(i) = self.torrents.iter().position(|t| t.info_hash == hash)
        {
            self.selected = i;
        }
        self.selected = self.selected.min(self.torrents.len().saturating_sub(1));
        if self.torrents.is_empty() && self.view == View::Detail {
            self.view = View::List;
        }
    }

    /// Changes the state for a key, and says what to ask the daemon.
    pub(crate) fn on_key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Some(Action::Quit);
        }
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Prompt(mut input) => {
                match key.code {
                    KeyCode::Enter => {
                        let text = input.trim().to_owned();
                        if !text.is_empty() {
                            return Some(Action::Add(text));
                        }
                    }
                    KeyCode::Esc => {}
                    KeyCode::Backspace => {
                        input.pop();
                        self.mode = Mode::Prompt(input);
                    }
                    KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                        self.mode = Mode::Prompt(String::new());
                    }
                    KeyCode::Char(c) => {
                        if input.len() < MAX_INPUT {
                            input.push(c);
                        }
                        self.mode = Mode::Prompt(input);
                    }
                    _ => self.mode = Mode::Prompt(input),
                }
                None
            }
            Mode::ConfirmRemove { delete_files } => {
                if matches!(key.code, KeyCode::Char('y' | 'Y'))
                    && let Some(t) = self.current()
                {
                    return Some(Action::Remove(t.info_hash.clone(), delete_files));
                }
                self.message = Some(("not removed".to_owned(), false));
                None
            }
            Mode::Normal => self.on_normal_key(key),
        }
    }

    fn on_normal_key(&mut self, key: KeyEvent) -> Option<Action> {
        match key.code {
            KeyCode::Char('q') => return Some(Action::Quit),
            KeyCode::Esc | KeyCode::Backspace | KeyCode::Left if self.view == View::Detail => {
                self.view = View::List;
            }
            KeyCode::Esc => return Some(Action::Quit),
            KeyCode::Up | KeyCode::Char('k') => {
                self.selected = self.selected.saturating_sub(1);
                self.files.clear();
                self.peers.clear();
            }
            KeyCode::Down | KeyCode::Char('j') if self.selected + 1 < self.torrents.len() => {
                self.selected += 1;
                self.files.clear();
                self.peers.clear();
            }
            KeyCode::Enter | KeyCode::Right if self.current().is_some() => {
                self.view = View::Detail;
            }
            KeyCode::Char('a') => {
                self.mode = Mode::Prompt(String::new());
                self.message = None;
            }
            KeyCode::Char('p' | ' ') => {
                let t = self.current()?;
                return Some(Action::SetPaused(t.info_hash.clone(), t.state != "paused"));
            }
            KeyCode::Char('r') => {
                return Some(Action::Recheck(self.current()?.info_hash.clone()));
            }
            KeyCode::Char('d') | KeyCode::Delete if self.current().is_some() => {
                self.mode = Mode::ConfirmRemove {
                    delete_files: false,
                };
            }
            KeyCode::Char('D') if self.current().is_some() => {
                self.mode = Mode::ConfirmRemove { delete_files: true };
            }
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn torrent(hash: &str, state: &str) -> Torrent {
        Torrent {
            info_hash: hash.to_owned(),
            name: None,
            state: state.to_owned(),
            progress: 0.0,
            downloaded: 0,
            uploaded: 0,
            total_length: None,
            download_rate: 0,
            upload_rate: 0,
            peers: 0,
            eta_seconds: None,
            error: None,
            save_path: String::new(),
            pieces_done: 0,
            pieces_total: 0,
        }
    }

    #[test]
    fn prompt_collects_text_and_submits() {
        let mut app = App::new("http://x");
        assert_eq!(app.on_key(key(KeyCode::Char('a'))), None);
        for c in "magnet:?xx".chars() {
            app.on_key(key(KeyCode::Char(c)));
        }
        app.on_key(key(KeyCode::Backspace));
        assert_eq!(
            app.on_key(key(KeyCode::Enter)),
            Some(Action::Add("magnet:?x".into()))
        );
        assert_eq!(app.mode, Mode::Normal);
    }

    #[test]
    fn pause_toggles_and_removal_asks_first() {
        let mut app = App::new("http://x");
        app.set_torrents(vec![torrent("aa", "downloading"), torrent("bb", "paused")]);
        assert_eq!(
            app.on_key(key(KeyCode::Char('p'))),
            Some(Action::SetPaused("aa".into(), true))
        );
        app.on_key(key(KeyCode::Down));
        assert_eq!(
            app.on_key(key(KeyCode::Char('p'))),
            Some(Action::SetPaused("bb".into(), false))
        );
        assert_eq!(app.on_key(key(KeyCode::Char('D'))), None);
        assert_eq!(
            app.on_key(key(KeyCode::Char('y'))),
            Some(Action::Remove("bb".into(), true))
        );
        assert_eq!(app.on_key(key(KeyCode::Char('d'))), None);
        assert_eq!(app.on_key(key(KeyCode::Char('n'))), None);
    }

    #[test]
    fn selection_follows_its_torrent() {
        let mut app = App::new("http://x");
        app.set_torrents(vec![torrent("aa", "seeding"), torrent("bb", "seeding")]);
        app.on_key(key(KeyCode::Down));
        app.set_torrents(vec![torrent("bb", "seeding")]);
        assert_eq!(app.current().unwrap().info_hash, "bb");
        app.set_torrents(Vec::new());
        assert!(app.current().is_none());
    }
}
