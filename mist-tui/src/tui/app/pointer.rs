//! The mouse: clicks on rows, panes and the progress bar, the wheel.

use super::*;

/// Where the last frame put each part, for mouse clicks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Areas {
    pub search: Rect,
    pub genres: Rect,
    pub tracks: Rect,
    pub queue: Rect,
    pub gauge: Rect,
}

impl App {
    pub(super) fn mouse(&mut self, mouse: MouseEvent) -> Vec<Effect> {
        if !matches!(self.screen, Screen::Main) || self.overlay.is_some() {
            return Vec::new();
        }
        let at = Position::new(mouse.column, mouse.row);
        match mouse.kind {
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                let step = if mouse.kind == MouseEventKind::ScrollDown {
                    1
                } else {
                    -1
                };
                if self.areas.tracks.contains(at) {
                    let mut selected = self.track_state.selected();
                    move_index(&mut selected, self.rows_len(), step);
                    self.track_state.select(selected);
                }
                Vec::new()
            }
            MouseEventKind::Down(MouseButton::Left) => {
                let double = self.last_click.is_some_and(|(when, column, row)| {
                    when.elapsed() < Duration::from_millis(400) && column == mouse.column && row == mouse.row
                });
                self.last_click = Some((Instant::now(), mouse.column, mouse.row));
                if self.areas.gauge.contains(at) {
                    return self.click_gauge(mouse.column);
                }
                if self.areas.search.contains(at) {
                    self.focus = Focus::Search;
                } else if let Some(row) = list_row(self.areas.tracks, 2, self.track_state.offset(), at) {
                    self.focus = Focus::Tracks;
                    if row < self.rows_len() {
                        self.track_state.select(Some(row));
                        if double {
                            return self.action(Action::Play, false);
                        }
                    }
                } else if let Some(row) = list_row(self.areas.genres, 1, self.genre_state.offset(), at) {
                    self.focus = Focus::Genres;
                    if row <= self.genres.len() {
                        self.genre_state.select(Some(row));
                        return self.pick_genre();
                    }
                } else if let Some(row) = list_row(self.areas.queue, 1, self.queue_state.offset(), at) {
                    self.focus = Focus::Queue;
                    if row < self.queue.len() {
                        self.queue_state.select(Some(row));
                        if double {
                            return self.action(Action::Play, false);
                        }
                    }
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    pub(super) fn click_gauge(&mut self, column: u16) -> Vec<Effect> {
        let Some(now) = &mut self.now else {
            return Vec::new();
        };
        if now.loading || self.areas.gauge.width == 0 {
            return Vec::new();
        }
        let fraction = f64::from(column - self.areas.gauge.x) / f64::from(self.areas.gauge.width);
        let target = fraction * now.track.duration_s;
        self.seek_to(target)
    }

    /// Moves the playhead to `target_s` (clamped to the track).
    pub(super) fn seek_to(&mut self, target_s: f64) -> Vec<Effect> {
        let Some(now) = &mut self.now else {
            return Vec::new();
        };
        if now.loading || !target_s.is_finite() {
            return Vec::new();
        }
        let target = target_s.clamp(0.0, now.track.duration_s.max(0.0));
        now.position_s = target;
        if self.restored {
            // Not loaded yet: resuming starts there.
            return Vec::new();
        }
        vec![player(Command::SeekTo(target))]
    }
}

/// The row of a bordered list under `at`: `header` rows (border, table
/// header) come before the first row.
pub(super) fn list_row(area: Rect, header: u16, offset: usize, at: Position) -> Option<usize> {
    let inner_top = area.y + header;
    let inner_bottom = area.bottom().saturating_sub(1);
    (area.contains(at) && at.y >= inner_top && at.y < inner_bottom).then(|| offset + usize::from(at.y - inner_top))
}
