//! Drawing: one function per part of the screen, each reading the [`App`]
//! and drawing into its area. Nothing here waits for anything; the only
//! thing drawing changes in the app is where the parts went ([`App::areas`],
//! for the mouse) and the lists' scroll offsets.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Cell, Clear, Gauge, LineGauge, List, ListItem, Paragraph, Row, Table, Wrap};

use super::app::{
    App, Focus, Input, LoginField, LoginForm, Overlay, PlaylistPicker, Screen, UploadDialog, UploadPhase,
};
use super::keys::{Action, Keymap};
use mist_core::api::clock;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Below this the layout cannot fit; a message says so instead.
const MIN_WIDTH: u16 = 60;
const MIN_HEIGHT: u16 = 16;

const ACCENT: Color = Color::Cyan;
/// The track table shows album and genre from this inner width on: 120
/// columns (88 inside the pane), the usual wide terminal, has them.
const ALBUM_FROM: u16 = 80;

/// Text from the server (titles, names, messages), with control and
/// bidi-override characters made visible: drawn as it came, a hostile title
/// could move the cursor or reorder the line.
fn shown(text: &str) -> String {
    mist_core::text::neutralise(text).into_owned()
}

pub fn draw(frame: &mut Frame<'_>, app: &mut App) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = format!(
            "mist needs at least {MIN_WIDTH}×{MIN_HEIGHT}; this terminal is {}×{}",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    match &app.screen {
        Screen::Login(form) => draw_login(frame, form),
        Screen::Main => draw_main(frame, app),
    }
}

fn draw_main(frame: &mut Frame<'_>, app: &mut App) {
    let [search, body, now, status] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(6),
        Constraint::Length(4),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let side_width = if body.width >= 120 { 30 } else { 22 };
    let [side, tracks] = Layout::horizontal([Constraint::Length(side_width), Constraint::Min(30)]).areas(body);
    let [genres, queue] = Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(side);

    draw_search(frame, app, search);
    draw_genres(frame, app, genres);
    draw_tracks(frame, app, tracks);
    draw_queue(frame, app, queue);
    draw_now_playing(frame, app, now);
    draw_status(frame, app, status);
    app.areas.search = search;
    app.areas.genres = genres;
    app.areas.tracks = tracks;
    app.areas.queue = queue;

    match &mut app.overlay {
        Some(Overlay::Help) => draw_help(frame, &app.keymap),
        Some(Overlay::Upload(dialog)) => draw_upload(frame, dialog),
        Some(Overlay::Playlists(picker)) => draw_playlists(frame, picker),
        None => {}
    }
}

fn pane(title: impl Into<String>, focused: bool) -> Block<'static> {
    let block = Block::bordered().title(format!(" {} ", title.into()));
    if focused {
        block
            .border_type(BorderType::Thick)
            .border_style(Style::new().fg(ACCENT))
    } else {
        block.border_style(Style::new().fg(Color::DarkGray))
    }
}

fn draw_search(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let focused = app.focus == Focus::Search && app.overlay.is_none();
    let block = pane(format!("Search ({})", app.keymap.keys(Action::Search)), focused);
    let inner = block.inner(area);
    let text = if app.search.text.is_empty() && !focused {
        Line::from("titles, artists, albums, genres…".dark_gray())
    } else {
        Line::from(app.search.text.clone())
    };
    frame.render_widget(Paragraph::new(text).block(block), area);
    if focused {
        set_cursor(frame, &app.search, inner, 0);
    }
}

/// Puts the terminal cursor in `input` drawn at `area` after `prefix` columns.
fn set_cursor(frame: &mut Frame<'_>, input: &Input, area: Rect, prefix: u16) {
    let before: String = input.text.chars().take(input.cursor).collect();
    let column = prefix + ratatui::text::Line::from(before).width() as u16;
    frame.set_cursor_position(Position::new(
        (area.x + column).min(area.right().saturating_sub(1)),
        area.y,
    ));
}

fn draw_genres(frame: &mut Frame<'_>, app: &mut App, area: Rect) {
    let focused = app.focus == Focus::Genres && app.overlay.is_none();
    let mut items = vec![genre_item("All genres", None, app.genre.is_none())];
    items.extend(app.genres.iter().map(|genre| {
        genre_item(
            &genre.name,
            Some(genre.track_count),
            app.genre.as_deref() == Some(genre.name.as_str()),
        )
    }));
    let list = List::new(items)
        .block(pane("Genres", focused))
        .highlight_style(highlight(focused));
    frame.render_stateful_widget(list, area, &mut app.genre_state);
}

fn genre_item(name: &str, count: Option<i64>, active: bool) -> ListItem<'static> {
    let mut spans = vec![Span::raw(if active { "• " } else { "  " }), Span::raw(shown(name))];
    if let Some(count) = count {
        spans.push(Span::raw(format!(" {count}")).dark_gray());
    }
    ListItem::new(Line::from(spans))
}

fn highlight(focused: bool) -> Style {
    if focused {
        Style::new().bg(ACCENT).fg(Color::Black).add_modifier(Modifier::BOLD)
    } else {
        Style::new().add_modifier(Modifier::REVERSED)
    }
}

fn draw_tracks(frame: &mut Frame<'_>, app: &mut App, area: Rect) {
    let focused = app.focus == Focus::Tracks && app.overlay.is_none();
    let mut title = format!("{} · {}", app.view.title(), app.tracks.len());
    if app.loading {
        title.push_str(" · loading…");
    }
    let block = pane(title, focused);
    if app.tracks.is_empty() {
        let hint = if app.loading {
            "loading…".to_string()
        } else {
            format!(
                "No tracks here. {} searches, {} uploads a file.",
                app.keymap.keys(Action::Search),
                app.keymap.keys(Action::Upload)
            )
        };
        frame.render_widget(Paragraph::new(hint.dark_gray()).block(block), area);
        return;
    }
    let wide = block.inner(area).width >= ALBUM_FROM;
    let playing = app.now.as_ref().map(|now| now.track.id.as_str());
    let rows = app.tracks.iter().map(|track| {
        let mark = if playing == Some(track.id.as_str()) {
            "▶"
        } else if app.liked.contains(&track.id) {
            "♥"
        } else {
            " "
        };
        let mut cells = vec![
            Cell::from(mark),
            Cell::from(shown(&track.title)),
            Cell::from(shown(track.artist.as_deref().unwrap_or_default())),
        ];
        if wide {
            cells.push(Cell::from(shown(track.album.as_deref().unwrap_or_default())));
            cells.push(Cell::from(shown(track.genre.as_deref().unwrap_or_default())));
        }
        cells.push(Cell::from(
            Line::from(clock(track.duration_s)).alignment(Alignment::Right),
        ));
        Row::new(cells)
    });
    let (header, widths): (Vec<&str>, Vec<Constraint>) = if wide {
        (
            vec!["", "Title", "Artist", "Album", "Genre", "Time"],
            vec![
                Constraint::Length(1),
                Constraint::Fill(3),
                Constraint::Fill(2),
                Constraint::Fill(2),
                Constraint::Length(14),
                Constraint::Length(6),
            ],
        )
    } else {
        (
            vec!["", "Title", "Artist", "Time"],
            vec![
                Constraint::Length(1),
                Constraint::Fill(3),
                Constraint::Fill(2),
                Constraint::Length(6),
            ],
        )
    };
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(Style::new().add_modifier(Modifier::BOLD).fg(ACCENT)))
        .block(block)
        .row_highlight_style(highlight(focused));
    frame.render_stateful_widget(table, area, &mut app.track_state);
}

fn draw_queue(frame: &mut Frame<'_>, app: &mut App, area: Rect) {
    let focused = app.focus == Focus::Queue && app.overlay.is_none();
    let total: f64 = app.queue.iter().map(|track| track.duration_s.max(0.0)).sum();
    let title = if app.queue.is_empty() {
        "Queue · 0".to_string()
    } else {
        format!("Queue · {} · {}", app.queue.len(), clock(total))
    };
    if app.queue.is_empty() {
        let hint = format!("{} adds the selected track", app.keymap.keys(Action::Queue));
        frame.render_widget(
            Paragraph::new(hint.dark_gray())
                .wrap(Wrap { trim: true })
                .block(pane(title, focused)),
            area,
        );
        return;
    }
    let width = usize::from(area.width.saturating_sub(2));
    let items: Vec<ListItem<'_>> = app
        .queue
        .iter()
        .enumerate()
        .map(|(i, track)| {
            let mut left = vec![Span::raw(format!("{}. {}", i + 1, shown(&track.title)))];
            if let Some(artist) = &track.artist {
                left.push(Span::raw(format!(" · {}", shown(artist))).dark_gray());
            }
            ListItem::new(with_right(left, clock(track.duration_s), width))
        })
        .collect();
    let list = List::new(items)
        .block(pane(title, focused))
        .highlight_style(highlight(focused));
    frame.render_stateful_widget(list, area, &mut app.queue_state);
}

/// `left` cut to fit `width` columns (display width, so wide characters
/// count twice) with `right` at the right edge.
fn with_right(left: Vec<Span<'static>>, right: String, width: usize) -> Line<'static> {
    let mut room = width.saturating_sub(right.width() + 1);
    let mut spans = Vec::new();
    'spans: for span in left {
        let mut text = String::new();
        for c in span.content.chars() {
            let w = c.width().unwrap_or(0);
            if w > room {
                spans.push(Span::styled(text, span.style));
                break 'spans;
            }
            room -= w;
            text.push(c);
        }
        spans.push(Span::styled(text, span.style));
    }
    spans.push(Span::raw(" ".repeat(room + 1)));
    spans.push(Span::raw(right));
    Line::from(spans)
}

fn draw_now_playing(frame: &mut Frame<'_>, app: &mut App, area: Rect) {
    let block = pane("Now playing", false);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [info, bar] = Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(inner);

    let mut right = Vec::new();
    match &app.now {
        Some(now) if !now.rendition.is_empty() => right.push(format!("{} {}", app.quality, now.rendition)),
        _ => right.push(app.quality.to_string()),
    }
    right.push(if app.muted {
        "muted".to_string()
    } else {
        format!("vol {:.0}%", app.volume * 100.0)
    });
    right.push(quota_text(app));
    let right = right.join(" · ");
    let right_width = right.chars().count() as u16;
    let [left_area, right_area] =
        Layout::horizontal([Constraint::Min(10), Constraint::Length(right_width + 1)]).areas(info);
    frame.render_widget(
        Paragraph::new(Line::from(right).dark_gray()).alignment(Alignment::Right),
        right_area,
    );

    match &app.now {
        Some(now) => {
            let (symbol, state) = if now.loading {
                ("…", "loading")
            } else if now.paused {
                ("⏸", "paused")
            } else {
                ("▶", "")
            };
            let mut spans = vec![
                Span::styled(format!("{symbol} "), Style::new().fg(ACCENT)),
                Span::styled(shown(&now.track.title), Style::new().add_modifier(Modifier::BOLD)),
            ];
            if let Some(artist) = &now.track.artist {
                spans.push(Span::raw(format!(" — {}", shown(artist))));
            }
            if !state.is_empty() {
                spans.push(Span::raw(format!("  ({state})")).dark_gray());
            }
            frame.render_widget(Paragraph::new(Line::from(spans)), left_area);
            let duration = now.track.duration_s.max(0.001);
            let position = now.position_s.clamp(0.0, duration);
            let gauge = LineGauge::default()
                .ratio(position / duration)
                .label(format!("{} / {} ", clock(position), clock(duration)))
                .filled_symbol("━")
                .filled_style(Style::new().fg(ACCENT))
                .unfilled_style(Style::new().fg(Color::DarkGray));
            frame.render_widget(gauge, bar);
            // Clicks land on the bar itself, after the label.
            let label = format!("{} / {} ", clock(position), clock(duration)).chars().count() as u16;
            app.areas.gauge = Rect {
                x: bar.x + label,
                width: bar.width.saturating_sub(label),
                ..bar
            };
        }
        None => {
            let hint = format!("Nothing playing · {} plays", app.keymap.keys(Action::Play));
            frame.render_widget(Paragraph::new(hint.dark_gray()), left_area);
            app.areas.gauge = Rect::default();
        }
    }
}

fn quota_text(app: &App) -> String {
    match &app.quota {
        None => "quota …".into(),
        Some(quota) => match quota.remaining_s {
            None => "unlimited".into(),
            Some(left) => format!("{} left today", clock(left)),
        },
    }
}

fn draw_status(frame: &mut Frame<'_>, app: &App, area: Rect) {
    if let Some(resets_at) = app.quota_banner {
        let wait = (resets_at - app.clock).num_minutes().max(0);
        let text = format!(
            " Today's listening quota is used up. It resets at {} (in {}h {:02}m). ",
            resets_at.format("%H:%M UTC"),
            wait / 60,
            wait % 60
        );
        let style = Style::new()
            .bg(Color::Red)
            .fg(Color::White)
            .add_modifier(Modifier::BOLD);
        frame.render_widget(Paragraph::new(text).style(style), area);
        return;
    }
    let line = match &app.status {
        Some(status) if status.error => Line::from(format!(" {}", shown(&status.text))).red().bold(),
        Some(status) => Line::from(format!(" {}", shown(&status.text))),
        None => {
            let keys = &app.keymap;
            let hints = [
                (Action::Help, "help"),
                (Action::Search, "search"),
                (Action::Play, "play"),
                (Action::Pause, "pause"),
                (Action::Queue, "queue"),
                (Action::Upload, "upload"),
                (Action::Quit, "quit"),
            ];
            let room = usize::from(area.width).saturating_sub(user_width(app) + 2);
            let mut text = String::new();
            for (action, what) in hints {
                let hint = format!("{} {what}", keys.keys(action));
                if text.chars().count() + hint.chars().count() + 3 > room {
                    break;
                }
                if !text.is_empty() {
                    text.push_str(" · ");
                }
                text.push_str(&hint);
            }
            Line::from(format!(" {text}").dark_gray())
        }
    };
    // A message takes the whole line; the hints leave room for the user.
    if app.status.is_some() {
        frame.render_widget(Paragraph::new(line), area);
        return;
    }
    let user = user_label(app);
    let [left, right] =
        Layout::horizontal([Constraint::Min(10), Constraint::Length(user_width(app) as u16)]).areas(area);
    frame.render_widget(Paragraph::new(line), left);
    frame.render_widget(Paragraph::new(user.dark_gray()), right);
}

/// Who is logged in, at the right of the status line.
fn user_label(app: &App) -> String {
    app.user
        .as_ref()
        .map(|user| format!("{} · {} ", shown(&user.username), user.plan.as_str()))
        .unwrap_or_default()
}

fn user_width(app: &App) -> usize {
    user_label(app).chars().count()
}

/// A box of at most `width`×`height` in the middle of the screen, cleared.
fn popup(frame: &mut Frame<'_>, width: u16, height: u16, title: &str) -> Rect {
    let area = frame.area();
    let width = width.min(area.width.saturating_sub(2));
    let height = height.min(area.height.saturating_sub(2));
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(Style::new().fg(ACCENT))
        .title(format!(" {title} "));
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    inner
}

fn draw_help(frame: &mut Frame<'_>, keymap: &Keymap) {
    let notes = [
        "Mouse: click a row to select it, twice to play; click the",
        "progress bar to seek. Ctrl-C quits. Keys can be changed",
        "in the [keys] table of config.toml.",
    ];
    let actions = Action::ALL.len() as u16;
    // One column when it fits, else two side by side.
    let columns: u16 = if frame.area().height >= actions + notes.len() as u16 + 5 {
        1
    } else {
        2
    };
    let rows = actions.div_ceil(columns);
    let width = if columns == 1 { 62 } else { 78 };
    let inner = popup(frame, width, rows + notes.len() as u16 + 3, "Keys");
    let [keys_area, _, notes_area] =
        Layout::vertical([Constraint::Length(rows), Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    let column_areas = Layout::horizontal(vec![Constraint::Fill(1); usize::from(columns)]).split(keys_area);
    // Keys right-aligned in a column as wide as the widest binding (within reason).
    let key_width = Action::ALL
        .iter()
        .map(|&action| keymap.keys(action).width())
        .max()
        .unwrap_or(0)
        .min(13);
    for (column, actions) in Action::ALL.chunks(usize::from(rows)).enumerate() {
        let lines: Vec<Line<'_>> = actions
            .iter()
            .map(|&action| {
                Line::from(vec![
                    Span::styled(
                        format!("{:>key_width$}  ", keymap.keys(action)),
                        Style::new().fg(ACCENT),
                    ),
                    Span::raw(action.describe()),
                ])
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), column_areas[column]);
    }
    let notes: Vec<Line<'_>> = notes.iter().map(|note| Line::from(note.dark_gray())).collect();
    frame.render_widget(Paragraph::new(notes), notes_area);
}

fn draw_upload(frame: &mut Frame<'_>, dialog: &UploadDialog) {
    let inner = popup(frame, 72, 10, "Upload a file");
    let [path, candidates, progress, _, hint] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(inner);
    let editing = matches!(dialog.phase, UploadPhase::Editing | UploadPhase::Failed(_));
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::raw("Path: ").bold(),
            Span::raw(dialog.path.text.clone()),
        ])),
        path,
    );
    if editing {
        set_cursor(frame, &dialog.path, path, 6);
    }
    if !dialog.completions.is_empty() {
        frame.render_widget(
            Paragraph::new(dialog.completions.join("  ").dark_gray()).wrap(Wrap { trim: true }),
            candidates,
        );
    }
    match &dialog.phase {
        UploadPhase::Editing => {}
        UploadPhase::Sending { sent, total } => {
            let ratio = if *total == 0 { 0.0 } else { *sent as f64 / *total as f64 };
            let label = format!("sending {} of {} KiB", sent / 1024, total / 1024);
            frame.render_widget(gauge(ratio, label), progress);
        }
        UploadPhase::Processing { percent } => {
            let label = format!("processing on the server: {percent}%");
            frame.render_widget(gauge(f64::from(*percent) / 100.0, label), progress);
        }
        UploadPhase::Ready { title } => frame.render_widget(
            Paragraph::new(format!("ready: {title} is in the catalogue").green().bold()),
            progress,
        ),
        UploadPhase::Failed(reason) => {
            frame.render_widget(Paragraph::new(reason.clone().red().bold()), progress);
        }
    }
    let text = if editing {
        "Tab completes · Enter uploads · Esc closes"
    } else {
        "Esc or Enter hides this; the upload goes on"
    };
    frame.render_widget(Paragraph::new(text.dark_gray()), hint);
}

fn draw_playlists(frame: &mut Frame<'_>, picker: &mut PlaylistPicker) {
    let title = match &picker.adding {
        Some(track) => format!("Add “{}” to a playlist", shown(&track.title)),
        None => "Your playlists".into(),
    };
    let inner = popup(frame, 60, 16, &title);
    let [list, name, hint] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(1), Constraint::Length(1)]).areas(inner);
    match &picker.playlists {
        None => frame.render_widget(Paragraph::new("loading…".dark_gray()), list),
        Some(playlists) if playlists.is_empty() => {
            frame.render_widget(Paragraph::new("No playlists yet: n makes one.".dark_gray()), list);
        }
        Some(playlists) => {
            let items: Vec<ListItem<'_>> = playlists
                .iter()
                .map(|p| {
                    ListItem::new(Line::from(vec![
                        Span::raw(shown(&p.name)),
                        Span::raw(format!(" · {}", p.track_count)).dark_gray(),
                    ]))
                })
                .collect();
            let widget = List::new(items).highlight_style(highlight(true));
            frame.render_stateful_widget(widget, list, &mut picker.state);
        }
    }
    if let Some(input) = &picker.new_name {
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::raw("New playlist: ").bold(),
                Span::raw(input.text.clone()),
            ])),
            name,
        );
        set_cursor(frame, input, name, 14);
    }
    let text = match (&picker.new_name, &picker.adding) {
        (Some(_), _) => "Enter makes it · Esc cancels",
        (None, Some(_)) => "Enter adds the track · n new playlist · Esc closes",
        (None, None) => "Enter opens · n new playlist · Esc closes",
    };
    frame.render_widget(Paragraph::new(text.dark_gray()), hint);
}

fn gauge(ratio: f64, label: String) -> Gauge<'static> {
    Gauge::default()
        .ratio(ratio.clamp(0.0, 1.0))
        .label(label)
        .gauge_style(Style::new().fg(ACCENT).bg(Color::DarkGray))
}

fn draw_login(frame: &mut Frame<'_>, form: &LoginForm) {
    let fields = form.fields();
    let title = if form.register {
        "MIST · create an account"
    } else {
        "MIST · log in"
    };
    let inner = popup(frame, 64, fields.len() as u16 * 2 + 7, title);
    let mut constraints = vec![Constraint::Length(1)];
    constraints.extend(fields.iter().map(|_| Constraint::Length(2)));
    constraints.extend([Constraint::Length(2), Constraint::Min(1)]);
    let areas = Layout::vertical(constraints).split(inner);
    frame.render_widget(
        Paragraph::new("Stream music from your MIST server.".dark_gray()),
        areas[0],
    );
    for (i, field) in fields.iter().enumerate() {
        let area = areas[i + 1];
        let (label, input) = match field {
            LoginField::Server => ("Server", &form.server),
            LoginField::Email => ("Email", &form.email),
            LoginField::Username => ("Username", &form.username),
            LoginField::Invite => ("Invite", &form.invite),
            LoginField::Password => ("Password", &form.password),
        };
        let focused = *field == form.focus;
        let shown = if *field == LoginField::Password {
            "•".repeat(input.text.chars().count())
        } else {
            input.text.clone()
        };
        let label_style = if focused {
            Style::new().fg(ACCENT).add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        let value_style = if focused {
            Style::new().add_modifier(Modifier::UNDERLINED)
        } else {
            Style::new()
        };
        let marker = if focused { "▸ " } else { "  " };
        let mut line = vec![
            Span::styled(format!("{marker}{label:<10}"), label_style),
            Span::styled(shown, value_style),
        ];
        if *field == LoginField::Invite && input.text.is_empty() && !focused {
            line.push(Span::styled(
                "only if the server asks for one",
                Style::new().fg(Color::DarkGray),
            ));
        }
        frame.render_widget(Paragraph::new(Line::from(line)), area);
        if focused && !form.busy {
            set_cursor(frame, input, area, 12);
        }
    }
    let message_area = areas[fields.len() + 1];
    if form.busy {
        frame.render_widget(Paragraph::new("contacting the server…".dark_gray()), message_area);
    } else if let Some(error) = &form.error {
        frame.render_widget(
            Paragraph::new(shown(error).red().bold()).wrap(Wrap { trim: true }),
            message_area,
        );
    }
    let switch = if form.register {
        "Ctrl-R: log in instead"
    } else {
        "Ctrl-R: create an account"
    };
    frame.render_widget(
        Paragraph::new(format!("Enter: next / submit · Tab: next field · {switch} · Esc: quit").dark_gray())
            .wrap(Wrap { trim: true }),
        areas[fields.len() + 2],
    );
}

#[cfg(test)]
mod tests {
    //! Every screen drawn at 80×24 and 200×50 and compared with the
    //! snapshots in `src/tui/snapshots/` (`MIST_UPDATE_SNAPSHOTS=1` rewrites
    //! them; review the diff). Beyond the text, each frame is checked for a
    //! layout that holds: panes closed by their borders on every row.

    use std::path::PathBuf;

    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use mist_core::api::{NameCount, Quota};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::super::app::tests::track;
    use super::super::app::{Msg, NowPlaying, UploadDialog, UploadPhase, View};
    use super::*;

    /// The smallest usual terminal, the common wide one, and a big one.
    const SIZES: [(u16, u16); 3] = [(80, 24), (120, 40), (200, 50)];

    fn render(app: &mut App, width: u16, height: u16) -> Vec<String> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
        terminal.draw(|frame| draw(frame, app)).expect("draws");
        let buffer = terminal.backend().buffer();
        (0..height)
            .map(|y| {
                let mut line = String::new();
                let mut x = 0;
                while x < width {
                    // A wide character fills the cells after it too.
                    let symbol = buffer[(x, y)].symbol();
                    line.push_str(symbol);
                    x += symbol.width().max(1) as u16;
                }
                line
            })
            .collect()
    }

    fn snapshot(name: &str, app: &mut App) -> Vec<Vec<String>> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/tui/snapshots");
        let update = std::env::var_os("MIST_UPDATE_SNAPSHOTS").is_some();
        let mut frames = Vec::new();
        for (width, height) in SIZES {
            let lines = render(app, width, height);
            let text = lines.join("\n") + "\n";
            let path = dir.join(format!("{name}_{width}x{height}.txt"));
            if update {
                std::fs::create_dir_all(&dir).expect("snapshot dir");
                std::fs::write(&path, &text).expect("writes snapshot");
            } else {
                let expected = std::fs::read_to_string(&path)
                    .unwrap_or_else(|_| panic!("no snapshot {}; run with MIST_UPDATE_SNAPSHOTS=1", path.display()));
                assert_eq!(
                    text,
                    expected,
                    "{} changed; run with MIST_UPDATE_SNAPSHOTS=1 and review",
                    path.display()
                );
            }
            for line in &lines {
                assert_eq!(Line::from(line.as_str()).width(), usize::from(width), "{line}");
            }
            frames.push(lines);
        }
        frames
    }

    /// Rows `top..bottom` of the main screen's body all start and end with a
    /// pane border: nothing overflows or leaves a pane open.
    fn assert_panes_closed(lines: &[String]) {
        let height = lines.len();
        for line in &lines[..height - 1] {
            let first = line.chars().next().unwrap_or(' ');
            let last = line.chars().last().unwrap_or(' ');
            assert!("│┃┌┏└┗".contains(first), "left edge of {line:?}");
            assert!("│┃┐┓┘┛".contains(last), "right edge of {line:?}");
        }
    }

    fn user() -> mist_core::api::User {
        serde_json::from_value(serde_json::json!({
            "id": "u1", "email": "ada@example.org", "username": "ada",
            "role": "user", "plan": "free", "created_at": "2026-01-01T00:00:00Z"
        }))
        .expect("user")
    }

    fn quota(remaining: f64) -> Quota {
        serde_json::from_value(serde_json::json!({
            "plan": "free", "limit_s": 300.0, "used_s": 300.0 - remaining,
            "remaining_s": remaining, "resets_at": "2099-01-01T00:00:00Z"
        }))
        .expect("quota")
    }

    fn main_app() -> App {
        let (mut app, effects) = App::new("http://mist.example", Keymap::default(), true);
        let generation = effects
            .iter()
            .find_map(|e| match e {
                super::super::app::Effect::LoadTracks { generation, .. } => Some(*generation),
                _ => None,
            })
            .expect("loads tracks");
        app.user = Some(user());
        app.update(Msg::Genres(Ok(vec![
            NameCount {
                name: "ambient".into(),
                track_count: 12,
            },
            NameCount {
                name: "jazz".into(),
                track_count: 3,
            },
        ])));
        let tracks = (1..=30)
            .map(|i| track(&format!("t{i}"), &format!("Track number {i}"), 60.0 + f64::from(i)))
            .collect();
        app.update(Msg::Tracks {
            generation,
            view: View::All { genre: None },
            result: Ok(tracks),
        });
        app.update(Msg::Quota(Ok(quota(250.0))));
        app.liked.insert("t2".into());
        app
    }

    fn playing(app: &mut App) {
        app.queue.push_back(track("q1", "Queued first", 100.0));
        app.queue.push_back(track("q2", "Queued second", 200.0));
        app.queue_state.select(Some(0));
        app.now = Some(NowPlaying {
            track: track("t1", "Track number 1", 61.0),
            position_s: 20.0,
            rendition: "128k".into(),
            paused: false,
            loading: false,
        });
    }

    #[test]
    fn the_login_screen() {
        let (mut app, _) = App::new("http://mist.example", Keymap::default(), false);
        for c in "ada@example.org".chars() {
            app.update(Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
        }
        let frames = snapshot("login", &mut app);
        assert!(frames[0].iter().any(|l| l.contains("MIST · log in")));
        assert!(frames[0].iter().any(|l| l.contains("ada@example.org")));
        app.update(Msg::Key(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL)));
        let frames = snapshot("register", &mut app);
        assert!(frames[1].iter().any(|l| l.contains("Username")));
    }

    #[test]
    fn the_main_screen_with_tracks() {
        let mut app = main_app();
        let frames = snapshot("main", &mut app);
        for frame in &frames {
            assert_panes_closed(&frame[..frame.len() - 1]);
            assert!(frame.iter().any(|l| l.contains("Track number 1")));
            assert!(frame.iter().any(|l| l.contains("4:10 left today")));
        }
        // Album and genre columns where they fit: at 120 columns, the usual
        // wide terminal, and up.
        assert!(!frames[0].iter().any(|l| l.contains("Album")));
        for frame in &frames[1..] {
            assert!(frame.iter().any(|l| l.contains("♥ Track number 2")), "{frame:#?}");
            let header = frame.iter().find(|l| l.contains("Title")).expect("a header");
            assert!(header.contains("Album") && header.contains("Genre"), "{header}");
        }
    }

    #[test]
    fn the_main_screen_playing_with_a_queue() {
        let mut app = main_app();
        playing(&mut app);
        let frames = snapshot("playing", &mut app);
        for frame in &frames {
            assert_panes_closed(&frame[..frame.len() - 1]);
            assert!(frame.iter().any(|l| l.contains("0:20 / 1:01")));
            // The queue: title, artist and length, and the total.
            assert!(frame.iter().any(|l| l.contains("Queue · 2 · 5:00")));
            let row = frame.iter().find(|l| l.contains("1. Queued first")).expect("queued");
            assert!(row.contains("1:40"), "{row}");
            assert!(frame.iter().any(|l| l.contains("vol 100%")));
            assert!(frame.iter().any(|l| l.contains("128k")));
        }
        assert!(app.areas.gauge.width > 0);
    }

    #[test]
    fn the_help_overlay() {
        let mut app = main_app();
        app.update(Msg::Key(KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE)));
        let frames = snapshot("help", &mut app);
        for frame in &frames {
            assert!(frame.iter().any(|l| l.contains("pause / resume")));
            assert!(frame.iter().any(|l| l.contains("tracks that sound alike")));
            assert!(frame.iter().any(|l| l.contains("Esc Bksp  back to the last list")));
            assert!(frame.iter().any(|l| l.contains("PgDn ctrl-d  a page down")));
        }
    }

    #[test]
    fn the_upload_dialog() {
        let mut app = main_app();
        app.overlay = Some(Overlay::Upload(UploadDialog {
            path: Input::with("~/music/song.flac"),
            completions: Vec::new(),
            phase: UploadPhase::Processing { percent: 40 },
        }));
        let frames = snapshot("upload", &mut app);
        assert!(frames[0].iter().any(|l| l.contains("processing on the server: 40%")));
        // It ends with the track's title, not its id.
        app.overlay = Some(Overlay::Upload(UploadDialog {
            path: Input::with("~/music/song.flac"),
            completions: Vec::new(),
            phase: UploadPhase::Ready {
                title: "“Night Drive”".into(),
            },
        }));
        let frames = snapshot("uploaded", &mut app);
        assert!(
            frames[0]
                .iter()
                .any(|l| l.contains("ready: “Night Drive” is in the catalogue"))
        );
    }

    #[test]
    fn the_queue_fits_wide_titles_and_muting_shows() {
        let mut app = main_app();
        playing(&mut app);
        app.queue
            .push_back(track("q3", "夜に駆ける 夜に駆ける 夜に駆ける", 261.0));
        app.muted = true;
        for (width, height) in SIZES {
            let lines = render(&mut app, width, height);
            assert_panes_closed(&lines[..lines.len() - 1]);
            let row = lines
                .iter()
                .find(|l| l.contains("3. 夜に"))
                .unwrap_or_else(|| panic!("the CJK row: {lines:#?}"));
            assert!(row.contains("4:21"), "the length stays in view: {row}");
            assert_eq!(Line::from(row.as_str()).width(), usize::from(width), "{row}");
            assert!(lines.iter().any(|l| l.contains("muted")));
        }
    }

    #[test]
    fn the_playlist_picker() {
        let mut app = main_app();
        app.update(Msg::Key(KeyEvent::new(KeyCode::Char('A'), KeyModifiers::SHIFT)));
        app.update(Msg::Playlists(Ok(vec![
            super::super::app::tests::playlist("p1", "Road trip"),
            super::super::app::tests::playlist("p2", "Quiet evenings"),
        ])));
        let frames = snapshot("playlists", &mut app);
        for frame in &frames {
            assert!(frame.iter().any(|l| l.contains("Add “Track number 1” to a playlist")));
            assert!(frame.iter().any(|l| l.contains("Quiet evenings · 1")));
        }
    }

    #[test]
    fn the_quota_banner_and_an_error() {
        let mut app = main_app();
        app.update(Msg::Quota(Ok(quota(0.0))));
        app.clock = "2098-12-31T21:30:00Z".parse().expect("time");
        let frames = snapshot("quota", &mut app);
        for frame in &frames {
            let last = frame.last().expect("a status line");
            assert!(
                last.contains("quota is used up. It resets at 00:00 UTC (in 2h 30m)"),
                "{last}"
            );
        }
        app.update(Msg::Quota(Ok(quota(10.0))));
        app.set_status("lost the server after 5 attempts: cannot connect", true);
        let frames = snapshot("error", &mut app);
        assert!(frames[0].last().is_some_and(|l| l.contains("lost the server")));
    }

    #[test]
    fn every_screen_draws_at_the_smallest_size_and_odd_ones() {
        let mut app = main_app();
        playing(&mut app);
        let overlays = [
            None,
            Some(Overlay::Help),
            Some(Overlay::Upload(UploadDialog {
                path: Input::with("a/very/long/path/that/does/not/fit/in/a/small/dialog/at/all/song.flac"),
                completions: vec!["one.flac".into(), "two.flac".into()],
                phase: UploadPhase::Sending { sent: 10, total: 100 },
            })),
        ];
        for overlay in overlays {
            app.overlay = overlay;
            for (width, height) in [(60, 16), (61, 17), (97, 31), (300, 80), (1, 1), (59, 40)] {
                let lines = render(&mut app, width, height);
                assert_eq!(lines.len(), usize::from(height));
            }
        }
        let (mut login, _) = App::new("http://mist.example", Keymap::default(), false);
        for (width, height) in [(60, 16), (300, 80)] {
            let lines = render(&mut login, width, height);
            assert!(lines.iter().any(|l| l.contains("Password")), "{lines:#?}");
        }
    }

    #[test]
    fn a_tiny_terminal_says_so() {
        let mut app = main_app();
        let lines = render(&mut app, 40, 10);
        assert!(lines.join(" ").contains("mist needs at least 60×16"), "{lines:?}");
    }

    /// A title and genre full of escape sequences and bidi overrides, as a
    /// hostile uploader or an old database could hold them: nothing of them
    /// reaches the terminal as a control or bidi character.
    #[test]
    fn hostile_text_from_the_server_is_drawn_harmless() {
        let mut app = main_app();
        let mut hostile = track("t1", "Evil\u{1b}]0;pwned\u{7}\u{9b}2J\u{202E}Title", 61.0);
        hostile.artist = Some("\u{1b}[5mBlink".into());
        app.tracks[0] = hostile;
        app.update(Msg::Genres(Ok(vec![NameCount {
            name: "\u{2066}jazz\u{1b}[31m".into(),
            track_count: 1,
        }])));
        for (width, height) in SIZES {
            let screen = render(&mut app, width, height).join("\n");
            assert!(
                !screen.chars().any(|c| c != '\n' && mist_core::text::is_unsafe(c)),
                "{screen}"
            );
            assert!(
                screen.contains("Evil\u{241b}]0;pwned"),
                "shown, made harmless: {screen}"
            );
        }
    }
}
