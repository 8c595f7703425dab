//! The main screen's panes: the search box, genres, the track table and the queue.

use super::*;

pub(super) fn draw_search(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let focused = app.focus == Focus::Search && app.overlay.is_none();
    let block = pane(format!("Search ({})", app.keymap.keys(Action::Search)), focused).title(tabs(app, area.width));
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
pub(super) fn draw_genres(frame: &mut Frame<'_>, app: &mut App, area: Rect) {
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

pub(super) fn genre_item(name: &str, count: Option<i64>, active: bool) -> ListItem<'static> {
    let mut spans = vec![Span::raw(if active { "• " } else { "  " }), Span::raw(shown(name))];
    if let Some(count) = count {
        spans.push(Span::raw(format!(" {count}")).dark_gray());
    }
    ListItem::new(Line::from(spans))
}

pub(super) fn draw_tracks(frame: &mut Frame<'_>, app: &mut App, area: Rect) {
    let focused = app.focus == Focus::Tracks && app.overlay.is_none();
    let mut title = format!("{} · {}", shown(&app.view.title()), app.tracks.len());
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

pub(super) fn draw_queue(frame: &mut Frame<'_>, app: &mut App, area: Rect) {
    let focused = app.focus == Focus::Queue && app.overlay.is_none();
    let total: f64 = app.queue.iter().map(|track| track.duration_s.max(0.0)).sum();
    let mut title = if app.queue.is_empty() {
        "Queue · 0".to_string()
    } else {
        format!("Queue · {} · {}", app.queue.len(), clock(total))
    };
    // The play order's modes, only when on.
    if app.shuffled() {
        title.push_str(" · shuffle");
    }
    match app.repeat {
        Repeat::Off => {}
        Repeat::All => title.push_str(" · repeat"),
        Repeat::One => title.push_str(" · repeat one"),
    }
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
