//! Drawing: one function per part of the screen, each reading the [`App`]
//! and drawing into its area. Nothing here waits for anything; the only
//! thing drawing changes in the app is where the parts went ([`App::areas`],
//! for the mouse) and the lists' scroll offsets.

mod library;
mod login;
mod now;
mod overlay;
mod panes;
#[cfg(test)]
mod tests;

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Cell, Clear, Gauge, LineGauge, List, ListItem, Paragraph, Row, Table, Wrap};

use super::app::{
    App, Confirm, CoverKey, Focus, Input, LoginField, LoginForm, Overlay, PlaylistPicker, Prompt, Repeat, Rows, Screen,
    Section, TagForm, UploadDialog, UploadPhase, View,
};
use super::keys::{Action, Keymap};
use mist_core::api::clock;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Below this the layout cannot fit; a message says so instead.
const MIN_WIDTH: u16 = 60;
const MIN_HEIGHT: u16 = 16;

const ACCENT: Color = Color::Cyan;
/// How tall a cover is drawn (in rows; twice as many columns, cells being
/// about half as wide as tall).
const COVER_ROWS: u16 = 6;
/// The track table shows album and genre from this inner width on: 120
/// columns (88 inside the pane), the usual wide terminal, has them.
const ALBUM_FROM: u16 = 80;

/// Text from the server (titles, names, messages), with control and
/// bidi-override characters made visible: drawn as it came, a hostile title
/// could move the cursor or reorder the line.
fn shown(text: &str) -> String {
    mist_core::text::neutralise(text).into_owned()
}

use library::{draw_content, tabs};
use login::draw_login;
use now::{draw_now_playing, draw_status};
use overlay::{draw_confirm, draw_help, draw_playlists, draw_prompt, draw_tags, draw_upload};
use panes::{draw_genres, draw_queue, draw_search, draw_tracks};

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
    // With a cover to show, the now-playing pane grows to give it room.
    let now_height = if now_cover(app).is_some() && frame.area().height >= 30 {
        COVER_ROWS + 2
    } else {
        4
    };
    let [search, body, now, status] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(6),
        Constraint::Length(now_height),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let side_width = if body.width >= 120 { 30 } else { 22 };
    let [side, tracks] = Layout::horizontal([Constraint::Length(side_width), Constraint::Min(30)]).areas(body);
    let [genres, queue] = Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(side);

    draw_search(frame, app, search);
    draw_genres(frame, app, genres);
    let rows = draw_content(frame, app, tracks);
    draw_queue(frame, app, queue);
    draw_now_playing(frame, app, now);
    draw_status(frame, app, status);
    app.areas.search = search;
    app.areas.genres = genres;
    app.areas.tracks = rows;
    app.areas.queue = queue;

    match &mut app.overlay {
        Some(Overlay::Help) => draw_help(frame, &app.keymap),
        Some(Overlay::Upload(dialog)) => draw_upload(frame, dialog),
        Some(Overlay::Playlists(picker)) => draw_playlists(frame, picker),
        Some(Overlay::Prompt(prompt)) => draw_prompt(frame, prompt),
        Some(Overlay::Tags(form)) => draw_tags(frame, form),
        Some(Overlay::Confirm(confirm)) => draw_confirm(frame, confirm),
        None => {}
    }
}

/// The cover of what plays, once loaded.
fn now_cover(app: &mut App) -> Option<&mut ratatui_image::protocol::StatefulProtocol> {
    let key = CoverKey::Track(app.now.as_ref()?.track.id.clone());
    app.covers.get(&key)
}

/// Draws `cover` in the left of `area` (as tall as it is); the rest of the area.
fn beside_cover(
    frame: &mut Frame<'_>,
    cover: Option<&mut ratatui_image::protocol::StatefulProtocol>,
    area: Rect,
) -> Rect {
    let Some(cover) = cover else {
        return area;
    };
    let width = (area.height * 2).min(area.width / 3);
    let [picture, _, rest] =
        Layout::horizontal([Constraint::Length(width), Constraint::Length(1), Constraint::Min(0)]).areas(area);
    frame.render_stateful_widget(ratatui_image::StatefulImage::default(), picture, cover);
    rest
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

/// Puts the terminal cursor in `input` drawn at `area` after `prefix` columns.
fn set_cursor(frame: &mut Frame<'_>, input: &Input, area: Rect, prefix: u16) {
    let before: String = input.text.chars().take(input.cursor).collect();
    let column = prefix + ratatui::text::Line::from(before).width() as u16;
    frame.set_cursor_position(Position::new(
        (area.x + column).min(area.right().saturating_sub(1)),
        area.y,
    ));
}

fn highlight(focused: bool) -> Style {
    if focused {
        Style::new().bg(ACCENT).fg(Color::Black).add_modifier(Modifier::BOLD)
    } else {
        Style::new().add_modifier(Modifier::REVERSED)
    }
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
        .title(format!(" {} ", shown(title)));
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    inner
}

fn gauge(ratio: f64, label: String) -> Gauge<'static> {
    Gauge::default()
        .ratio(ratio.clamp(0.0, 1.0))
        .label(label)
        .gauge_style(Style::new().fg(ACCENT).bg(Color::DarkGray))
}
