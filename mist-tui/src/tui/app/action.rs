//! Keys on the main screen: which handler a key goes to, and what each
//! [`Action`] does.

use super::*;

impl App {
    pub(super) fn key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            self.quit = true;
            return vec![Effect::Quit];
        }
        if let Screen::Login(_) = self.screen {
            return self.login_key(key);
        }
        match &mut self.overlay {
            Some(Overlay::Help) => {
                self.overlay = None;
                return Vec::new();
            }
            Some(Overlay::Upload(_)) => return self.upload_key(key),
            Some(Overlay::Prompt(_)) => return self.prompt_key(key),
            Some(Overlay::Tags(_)) => return self.tags_key(key),
            Some(Overlay::Confirm(_)) => return self.confirm_key(key),
            Some(Overlay::Playlists(_)) => return self.playlists_key(key),
            None => {}
        }
        if self.focus == Focus::Search {
            match key.code {
                KeyCode::Esc | KeyCode::Enter | KeyCode::Down => {
                    self.focus = Focus::Tracks;
                    return self.search_now();
                }
                KeyCode::Tab | KeyCode::BackTab => {}
                _ => {
                    if self.search.edit(&key) {
                        self.search_due = Some(Instant::now() + SEARCH_DEBOUNCE);
                    }
                    return Vec::new();
                }
            }
        }
        if key.code == KeyCode::BackTab {
            return self.action(Action::Focus, true);
        }
        let Some(action) = self.keymap.action(&key) else {
            return Vec::new();
        };
        self.action(action, false)
    }

    pub(super) fn action(&mut self, action: Action, backwards: bool) -> Vec<Effect> {
        match action {
            Action::Quit => {
                self.quit = true;
                vec![Effect::Quit]
            }
            Action::Help => {
                self.overlay = Some(Overlay::Help);
                Vec::new()
            }
            Action::Search => {
                self.focus = Focus::Search;
                Vec::new()
            }
            Action::Focus => {
                let order = [Focus::Search, Focus::Genres, Focus::Tracks, Focus::Queue];
                let at = order.iter().position(|f| *f == self.focus).unwrap_or(0);
                self.focus = order[if backwards { (at + 3) % 4 } else { (at + 1) % 4 }];
                Vec::new()
            }
            Action::Up | Action::Down | Action::PageUp | Action::PageDown | Action::Top | Action::Bottom => {
                // A page is what the focused pane shows; top and bottom go as far as there is.
                let (area, header) = match self.focus {
                    Focus::Genres => (self.areas.genres, 2),
                    Focus::Queue => (self.areas.queue, 2),
                    _ => (self.areas.tracks, 3),
                };
                let page = usize::from(area.height.saturating_sub(header).max(1));
                let step = match action {
                    Action::Up => -1,
                    Action::Down => 1,
                    Action::PageUp => -(page as isize),
                    Action::PageDown => page as isize,
                    Action::Top => isize::MIN / 2,
                    _ => isize::MAX / 2,
                };
                // A page key turns the page: the view moves with the selection.
                let paging = matches!(action, Action::PageUp | Action::PageDown).then_some(page);
                self.move_focused(step, paging);
                Vec::new()
            }
            Action::Back => {
                // From another pane, back to the table first; then to the last list.
                if self.focus == Focus::Tracks {
                    self.go_back();
                }
                self.focus = Focus::Tracks;
                Vec::new()
            }
            Action::Play => match self.focus {
                Focus::Genres => self.pick_genre(),
                Focus::Queue => {
                    let Some(track) = self.queue_state.selected().and_then(|i| self.queue.remove(i)) else {
                        return Vec::new();
                    };
                    self.clamp_queue_selection();
                    self.play(track)
                }
                _ if self.rows() != Rows::Tracks => self.open_selected(),
                _ => match self.selected_track() {
                    Some(track) => self.play(track),
                    None => Vec::new(),
                },
            },
            Action::Pause => match &self.now {
                Some(_) if self.restored => self.start_restored(),
                Some(_) => vec![player(Command::TogglePause)],
                None => Vec::new(),
            },
            Action::Next => match self.queue.pop_front().or_else(|| {
                // Repeating all with nothing queued: the track playing again.
                (self.repeat == Repeat::All)
                    .then(|| self.now.as_ref().map(|now| now.track.clone()))
                    .flatten()
            }) {
                Some(track) => {
                    self.clamp_queue_selection();
                    self.play(track)
                }
                None => {
                    self.set_status("the queue is empty (a adds the selected track)", false);
                    Vec::new()
                }
            },
            Action::Previous => match &self.now {
                Some(now) if now.position_s > RESTART_AFTER_S => vec![player(Command::SeekTo(0.0))],
                _ => match self.history.pop() {
                    Some(track) => {
                        // The track left goes to the front of the queue, so
                        // `next` comes back to it.
                        let left = self.now.as_ref().map(|now| now.track.clone());
                        if let Some(left) = left {
                            self.queue.push_front(left);
                            self.clamp_queue_selection();
                        }
                        let effects = self.play_from(track, false);
                        // Nor is it history twice.
                        self.history.pop();
                        effects
                    }
                    None => Vec::new(),
                },
            },
            Action::SeekBack | Action::SeekForward => match &mut self.now {
                Some(now) if !now.loading => {
                    let delta = if action == Action::SeekBack {
                        -SEEK_STEP_S
                    } else {
                        SEEK_STEP_S
                    };
                    now.position_s = (now.position_s + delta).clamp(0.0, now.track.duration_s);
                    vec![player(Command::SeekBy(delta))]
                }
                _ => Vec::new(),
            },
            Action::VolumeUp | Action::VolumeDown => {
                let step = if action == Action::VolumeUp {
                    VOLUME_STEP
                } else {
                    -VOLUME_STEP
                };
                let effects = self.set_volume(self.volume + step);
                self.set_status(format!("volume {:.0}%", self.volume * 100.0), false);
                effects
            }
            Action::Mute => {
                self.muted = !self.muted;
                let state = if self.muted { "muted" } else { "unmuted" };
                self.set_status(format!("{state} (volume {:.0}%)", self.volume * 100.0), false);
                vec![player(Command::Volume(self.output_volume()))]
            }
            Action::Queue => match self.selected_track() {
                Some(track) => {
                    self.set_status(format!("queued {}", track.title), false);
                    self.queue.push_back(track);
                    if self.queue_state.selected().is_none() {
                        self.queue_state.select(Some(0));
                    }
                    vec![self.next_for_player()]
                }
                None => Vec::new(),
            },
            Action::Remove if self.focus == Focus::Tracks => self.remove_from_playlist(),
            Action::Remove => {
                if self.focus != Focus::Queue {
                    return Vec::new();
                }
                if let Some(i) = self.queue_state.selected() {
                    self.queue.remove(i);
                    self.clamp_queue_selection();
                }
                vec![self.next_for_player()]
            }
            Action::GoTracks => self.go_to(Section::Tracks),
            Action::GoAlbums => self.go_to(Section::Albums),
            Action::GoArtists => self.go_to(Section::Artists),
            Action::GoPlaylists => self.go_to(Section::Playlists),
            Action::GoLiked => self.go_to(Section::Liked),
            Action::PlayAll => self.play_all_shown(false),
            Action::ShuffleAll => self.play_all_shown(true),
            Action::QueueAll => self.queue_all_shown(),
            Action::Shuffle => self.toggle_shuffle(),
            Action::Repeat => self.cycle_repeat(),
            Action::MoveUp | Action::MoveDown if self.focus == Focus::Queue => {
                self.move_queued(action == Action::MoveUp)
            }
            Action::MoveUp | Action::MoveDown if self.focus == Focus::Tracks => {
                self.move_in_playlist(action == Action::MoveUp)
            }
            Action::MoveUp | Action::MoveDown => Vec::new(),
            Action::Edit => self.edit_selected(),
            Action::Lyrics => self.toggle_lyrics(),
            Action::Delete if self.focus == Focus::Tracks => self.delete_selected(),
            Action::Delete => Vec::new(),
            Action::ClearQueue => self.clear_queue(),
            Action::PlayNext => match self.selected_track() {
                Some(track) if self.focus != Focus::Queue => self.play_next(track),
                _ => Vec::new(),
            },
            Action::SaveQueue => {
                if self.queue_ids().is_empty() {
                    self.set_status("nothing plays and the queue is empty", false);
                    return Vec::new();
                }
                self.overlay = Some(Overlay::Prompt(Prompt {
                    title: "Save the queue as a playlist".into(),
                    input: Input::default(),
                    purpose: PromptFor::SaveQueue,
                }));
                Vec::new()
            }
            Action::Similar => {
                let Some(track) = self.focused_track() else {
                    return Vec::new();
                };
                vec![Effect::LoadSimilar {
                    generation: self.start_loading(),
                    view: View::Similar { title: track.title },
                    track_id: track.id,
                }]
            }
            Action::Like => {
                let Some(track) = self.focused_track() else {
                    return Vec::new();
                };
                // The opposite of the ♥ shown.
                let like = !self.liked.contains(&track.id);
                vec![Effect::Like {
                    track_id: track.id,
                    title: track.title,
                    like,
                }]
            }
            Action::Likes => {
                vec![Effect::LoadLikes {
                    generation: self.start_loading(),
                    view: View::Likes,
                }]
            }
            Action::Playlists | Action::AddToPlaylist => {
                let adding = if action == Action::AddToPlaylist {
                    let Some(track) = self.focused_track() else {
                        return Vec::new();
                    };
                    Some(Box::new(track))
                } else {
                    None
                };
                self.overlay = Some(Overlay::Playlists(PlaylistPicker {
                    adding,
                    playlists: None,
                    state: ListState::default(),
                    new_name: None,
                }));
                vec![Effect::LoadPlaylists]
            }
            Action::Quality => {
                self.quality = match self.quality {
                    Quality::Auto => Quality::Low,
                    Quality::Low => Quality::Normal,
                    Quality::Normal => Quality::High,
                    Quality::High => Quality::Auto,
                };
                self.set_status(format!("quality: {}", self.quality), false);
                vec![player(Command::SetQuality(self.quality))]
            }
            Action::Upload => {
                self.overlay = Some(Overlay::Upload(UploadDialog {
                    path: Input::default(),
                    completions: Vec::new(),
                    phase: UploadPhase::Editing,
                }));
                Vec::new()
            }
        }
    }
}
