//! The overlays drawn over the main screen (help, upload, playlist picker),
//! their keys, and the upload's progress.

use super::*;

#[derive(Debug, Clone)]
pub enum UploadPhase {
    Editing,
    Sending { sent: u64, total: u64 },
    Processing { percent: u8 },
    Ready { title: String },
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct UploadDialog {
    pub path: Input,
    /// Candidates for the last path completion.
    pub completions: Vec<String>,
    pub phase: UploadPhase,
}

#[derive(Debug, Clone)]
pub enum Overlay {
    Help,
    /// A line of text asked for (a playlist's name …).
    Prompt(Prompt),
    Upload(UploadDialog),
    Playlists(PlaylistPicker),
    /// A track's tags being edited.
    Tags(TagForm),
    /// "Delete …? y/n".
    Confirm(Confirm),
}

/// The playlist picker: open one, or add a track to one.
#[derive(Debug, Clone)]
pub struct PlaylistPicker {
    /// `Some`: the track to add to the chosen playlist.
    pub adding: Option<Box<Track>>,
    /// `None` until the list has loaded.
    pub playlists: Option<Vec<Playlist>>,
    pub state: ListState,
    /// The name being typed for a new playlist.
    pub new_name: Option<Input>,
}

/// A one-line question; Enter answers it, Esc drops it.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub title: String,
    pub input: Input,
    pub purpose: PromptFor,
}

/// What a [`Prompt`]'s answer is for.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptFor {
    /// The name of a new playlist holding what plays and the queue.
    SaveQueue,
    /// A playlist's new name.
    RenamePlaylist { id: String },
}

impl App {
    pub(super) fn prompt_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(Overlay::Prompt(prompt)) = &mut self.overlay else {
            return Vec::new();
        };
        match key.code {
            KeyCode::Esc => {
                self.overlay = None;
                Vec::new()
            }
            KeyCode::Enter => {
                let answer = prompt.input.text.trim().to_string();
                if answer.is_empty() {
                    return Vec::new();
                }
                let purpose = prompt.purpose.clone();
                self.overlay = None;
                match purpose {
                    PromptFor::RenamePlaylist { id } => self.rename_playlist(id, answer),
                    PromptFor::SaveQueue => {
                        self.set_status(format!("saving the queue as {answer}…"), false);
                        vec![Effect::SaveQueue {
                            name: answer,
                            track_ids: self.queue_ids(),
                        }]
                    }
                }
            }
            _ => {
                prompt.input.edit(&key);
                Vec::new()
            }
        }
    }

    pub(super) fn playlists_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(Overlay::Playlists(picker)) = &mut self.overlay else {
            return Vec::new();
        };
        if let Some(name) = &mut picker.new_name {
            match key.code {
                KeyCode::Esc => picker.new_name = None,
                KeyCode::Enter if !name.text.trim().is_empty() => {
                    let name = name.text.trim().to_string();
                    picker.new_name = None;
                    return vec![Effect::CreatePlaylist { name }];
                }
                _ => {
                    name.edit(&key);
                }
            }
            return Vec::new();
        }
        let count = picker.playlists.as_ref().map_or(0, Vec::len);
        match key.code {
            KeyCode::Esc | KeyCode::Char('q') => self.overlay = None,
            KeyCode::Char('n') => picker.new_name = Some(Input::default()),
            KeyCode::Up | KeyCode::Char('k') => move_selection(&mut picker.state, count, -1),
            KeyCode::Down | KeyCode::Char('j') => move_selection(&mut picker.state, count, 1),
            KeyCode::Enter => {
                let chosen = picker
                    .state
                    .selected()
                    .and_then(|i| picker.playlists.as_ref()?.get(i))
                    .cloned();
                let Some(playlist) = chosen else {
                    return Vec::new();
                };
                let adding = picker.adding.clone();
                self.overlay = None;
                return match adding {
                    Some(track) => {
                        self.set_status(format!("adding {} to {}…", track.title, playlist.name), false);
                        vec![Effect::AddToPlaylist {
                            playlist,
                            track: *track,
                        }]
                    }
                    None => {
                        vec![Effect::LoadPlaylistTracks {
                            generation: self.start_loading(),
                            view: View::Playlist {
                                id: playlist.id.clone(),
                                name: playlist.name,
                            },
                            playlist_id: playlist.id,
                        }]
                    }
                };
            }
            _ => {}
        }
        Vec::new()
    }

    pub(super) fn upload_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(Overlay::Upload(dialog)) = &mut self.overlay else {
            return Vec::new();
        };
        let editing = matches!(dialog.phase, UploadPhase::Editing | UploadPhase::Failed(_));
        match key.code {
            KeyCode::Esc => {
                self.overlay = None;
                Vec::new()
            }
            _ if !editing => {
                // Sending or processing: any other key hides the dialog; the
                // status line keeps reporting.
                if matches!(dialog.phase, UploadPhase::Ready { .. }) || key.code == KeyCode::Enter {
                    self.overlay = None;
                }
                Vec::new()
            }
            KeyCode::Tab => {
                let (completed, candidates) = complete_path(&dialog.path.text);
                dialog.path = Input::with(&completed);
                dialog.completions = candidates;
                Vec::new()
            }
            KeyCode::Enter => {
                let path = expand_home(dialog.path.text.trim());
                if !path.is_file() {
                    dialog.phase = UploadPhase::Failed(format!("{} is not a file", path.display()));
                    return Vec::new();
                }
                dialog.phase = UploadPhase::Sending { sent: 0, total: 0 };
                dialog.completions.clear();
                vec![Effect::Upload(path)]
            }
            _ => {
                if dialog.path.edit(&key) {
                    dialog.completions.clear();
                    if matches!(dialog.phase, UploadPhase::Failed(_)) {
                        dialog.phase = UploadPhase::Editing;
                    }
                }
                Vec::new()
            }
        }
    }

    pub(super) fn upload_progress(&mut self, progress: UploadProgress) -> Vec<Effect> {
        let phase = match progress {
            UploadProgress::Sending { sent, total } => UploadPhase::Sending { sent, total },
            UploadProgress::Processing { percent } => UploadPhase::Processing { percent },
            UploadProgress::Done(Ok((job, title))) if job.status == JobStatus::Ready => {
                // The title the server settled on (the file's tags), else the id.
                let title = title.map_or_else(|| format!("track {}", job.track_id), |title| format!("“{title}”"));
                self.set_status(format!("uploaded {title}"), false);
                UploadPhase::Ready { title }
            }
            UploadProgress::Done(Ok((job, _))) => {
                let reason = job.error.unwrap_or_else(|| job.status.as_str().to_string());
                self.set_status(format!("upload failed: {reason}"), true);
                UploadPhase::Failed(reason)
            }
            UploadProgress::Done(Err(message)) => {
                self.set_status(format!("upload failed: {message}"), true);
                UploadPhase::Failed(message)
            }
        };
        let ready = matches!(phase, UploadPhase::Ready { .. });
        if let UploadPhase::Sending { sent, total } = &phase
            && *total > 0
            && self.overlay.is_none()
        {
            self.set_status(format!("uploading: {}%", sent * 100 / total), false);
        }
        if let UploadPhase::Processing { percent } = &phase
            && self.overlay.is_none()
        {
            self.set_status(format!("processing upload: {percent}%"), false);
        }
        if let Some(Overlay::Upload(dialog)) = &mut self.overlay {
            dialog.phase = phase;
        }
        // A new track: refresh the listing.
        if ready {
            vec![self.load(self.view_for_reload()), Effect::LoadGenres]
        } else {
            Vec::new()
        }
    }

    pub(super) fn view_for_reload(&self) -> View {
        match &self.view {
            view @ (View::All { .. } | View::Search { .. }) => view.clone(),
            _ => View::All {
                genre: self.genre.clone(),
            },
        }
    }
}
