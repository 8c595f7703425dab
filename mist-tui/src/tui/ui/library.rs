//! The library's tabs and the lists beyond tracks: albums, artists,
//! playlists, and the album and artist pages (a header over the album's
//! tracks; an artist's albums over their most played tracks).

use super::*;

/// Every section's tab shows from this width on.
const TABS_FROM: u16 = 100;
/// The lyrics go beside the list from this width on, instead of over it.
const LYRICS_BESIDE_FROM: u16 = 80;

/// The sections, the current one marked, as the search pane's right-hand
/// title; a narrow terminal names only the current one.
pub(super) fn tabs(app: &App, width: u16) -> Line<'static> {
    if width < TABS_FROM {
        let current = app.section();
        let at = Section::ALL.iter().position(|s| *s == current).unwrap_or(0) + 1;
        return Line::from(vec![
            Span::styled(
                format!(" {at} {} ", current.name()),
                Style::new()
                    .fg(ACCENT)
                    .add_modifier(Modifier::BOLD | Modifier::REVERSED),
            ),
            Span::raw(" 1–5 sections ").dark_gray(),
        ])
        .right_aligned();
    }
    let mut spans = Vec::new();
    for (i, section) in Section::ALL.iter().enumerate() {
        let label = format!(" {} {} ", i + 1, section.name());
        spans.push(if *section == app.section() {
            Span::styled(
                label,
                Style::new()
                    .fg(ACCENT)
                    .add_modifier(Modifier::BOLD | Modifier::REVERSED),
            )
        } else {
            Span::raw(label).dark_gray()
        });
    }
    Line::from(spans).right_aligned()
}

/// The main pane: what the view lists, with the lyrics beside it (or
/// instead of it, when narrow) while they are open. Returns where its
/// selectable rows went (for the mouse and paging).
pub(super) fn draw_content(frame: &mut Frame<'_>, app: &mut App, area: Rect) -> Rect {
    if !app.show_lyrics {
        return draw_listing(frame, app, area);
    }
    if area.width < LYRICS_BESIDE_FROM {
        draw_lyrics(frame, app, area);
        return Rect::default();
    }
    let [listing, lyrics] = Layout::horizontal([Constraint::Min(40), Constraint::Percentage(40)]).areas(area);
    draw_lyrics(frame, app, lyrics);
    draw_listing(frame, app, listing)
}

/// The lyrics of what plays; timed ones keep the line at the playhead
/// marked and in the middle of the pane.
fn draw_lyrics(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let block = pane(format!("Lyrics ({} closes)", app.keymap.keys(Action::Lyrics)), false);
    let inner = block.inner(area);
    let lyrics = app
        .lyrics
        .as_ref()
        .filter(|l| app.now.as_ref().is_some_and(|now| now.track.id == l.track_id));
    let text: Vec<Line<'_>> = match lyrics.map(|l| &l.lyrics) {
        None => vec![Line::from("Nothing playing.".dark_gray())],
        Some(None) => vec![Line::from("loading…".dark_gray())],
        Some(Some(None)) => vec![Line::from("No lyrics for this track.".dark_gray())],
        Some(Some(Some(lyrics))) if lyrics.lines.is_empty() => {
            lyrics.plain.lines().map(|line| Line::from(shown(line))).collect()
        }
        Some(Some(Some(lyrics))) => {
            let at = app.lyric_line();
            lyrics
                .lines
                .iter()
                .enumerate()
                .map(|(i, line)| {
                    if Some(i) == at {
                        Line::from(Span::styled(
                            shown(&line.text),
                            Style::new().fg(ACCENT).add_modifier(Modifier::BOLD),
                        ))
                    } else {
                        Line::from(shown(&line.text).dark_gray())
                    }
                })
                .collect()
        }
    };
    // The line at the playhead in the middle, once past the first half page.
    let scroll = app
        .lyric_line()
        .map_or(0, |at| at.saturating_sub(usize::from(inner.height / 2)));
    frame.render_widget(
        Paragraph::new(text)
            .block(block)
            .wrap(Wrap { trim: true })
            .scroll((u16::try_from(scroll).unwrap_or(u16::MAX), 0)),
        area,
    );
}

fn draw_listing(frame: &mut Frame<'_>, app: &mut App, area: Rect) -> Rect {
    match app.view {
        View::Album { ref id, .. } => {
            let key = CoverKey::Album(id.clone());
            let height = if app.covers.get(&key).is_some() {
                COVER_ROWS + 2
            } else {
                4
            };
            let [header, tracks] = Layout::vertical([Constraint::Length(height), Constraint::Min(3)]).areas(area);
            draw_album_header(frame, app, header);
            draw_tracks(frame, app, tracks);
            tracks
        }
        View::Artist { .. } => {
            let [albums, top] = Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
            draw_rows(frame, app, albums);
            draw_top_tracks(frame, app, top);
            albums
        }
        _ if app.rows() == Rows::Tracks => {
            draw_tracks(frame, app, area);
            area
        }
        _ => {
            draw_rows(frame, app, area);
            area
        }
    }
}

fn draw_album_header(frame: &mut Frame<'_>, app: &mut App, area: Rect) {
    let block = pane("Album", false);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let key = match &app.view {
        View::Album { id, .. } => Some(CoverKey::Album(id.clone())),
        _ => None,
    };
    let cover = key.and_then(|key| app.covers.get(&key));
    let text_area = beside_cover(frame, cover, inner);
    let block = Block::new();
    let area = text_area;
    let Some(album) = &app.listing.album else {
        frame.render_widget(Paragraph::new("loading…".dark_gray()).block(block), area);
        return;
    };
    let mut facts = vec![shown(album.artist.as_deref().unwrap_or("Unknown artist"))];
    facts.extend(album.year.map(|year| year.to_string()));
    facts.extend(album.genre.as_deref().map(shown));
    facts.push(format!("{} tracks · {}", album.track_count, clock(album.duration_s)));
    let hint = format!(
        "{} plays all · {} shuffles · {} queues all",
        app.keymap.keys(Action::PlayAll),
        app.keymap.keys(Action::ShuffleAll),
        app.keymap.keys(Action::QueueAll)
    );
    let lines = vec![
        Line::from(Span::styled(
            shown(&album.title),
            Style::new().add_modifier(Modifier::BOLD),
        )),
        Line::from(format!("{} · {hint}", facts.join(" · ")).dark_gray()),
    ];
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn draw_top_tracks(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let title = format!(
        "Most played · {} · {} plays them",
        app.tracks.len(),
        app.keymap.keys(Action::PlayAll)
    );
    let width = usize::from(area.width.saturating_sub(2));
    let items: Vec<ListItem<'_>> = app
        .tracks
        .iter()
        .enumerate()
        .map(|(i, track)| {
            let left = vec![Span::raw(format!("{}. {}", i + 1, shown(&track.title)))];
            ListItem::new(with_right(left, clock(track.duration_s), width))
        })
        .collect();
    frame.render_widget(List::new(items).block(pane(title, false)), area);
}

/// Albums, artists or playlists as a table.
fn draw_rows(frame: &mut Frame<'_>, app: &mut App, area: Rect) {
    let focused = app.focus == Focus::Tracks && app.overlay.is_none();
    let mut title = format!("{} · {}", shown(&app.view.title()), app.rows_len());
    if app.loading {
        title.push_str(" · loading…");
    }
    let block = pane(title, focused);
    if app.rows_len() == 0 {
        let hint = if app.loading { "loading…" } else { "Nothing here yet." };
        frame.render_widget(Paragraph::new(hint.dark_gray()).block(block), area);
        return;
    }
    let number = |n: i64| Line::from(n.to_string()).alignment(Alignment::Right);
    let (header, widths, rows): (Vec<&str>, Vec<Constraint>, Vec<Row<'_>>) = match app.rows() {
        Rows::Albums => (
            vec!["Album", "Artist", "Year", "Tracks"],
            vec![
                Constraint::Fill(3),
                Constraint::Fill(2),
                Constraint::Length(4),
                Constraint::Length(6),
            ],
            app.listing
                .albums
                .iter()
                .map(|album| {
                    Row::new(vec![
                        Cell::from(shown(&album.title)),
                        Cell::from(shown(album.artist.as_deref().unwrap_or_default())),
                        Cell::from(album.year.map(|y| y.to_string()).unwrap_or_default()),
                        Cell::from(number(album.track_count)),
                    ])
                })
                .collect(),
        ),
        Rows::Artists => (
            vec!["Artist", "Albums", "Tracks"],
            vec![Constraint::Fill(1), Constraint::Length(6), Constraint::Length(6)],
            app.listing
                .artists
                .iter()
                .map(|artist| {
                    Row::new(vec![
                        Cell::from(shown(&artist.name)),
                        Cell::from(number(artist.album_count)),
                        Cell::from(number(artist.track_count)),
                    ])
                })
                .collect(),
        ),
        Rows::Playlists | Rows::Tracks => (
            vec!["Playlist", "Tracks"],
            vec![Constraint::Fill(1), Constraint::Length(6)],
            app.listing
                .playlists
                .iter()
                .map(|playlist| {
                    Row::new(vec![
                        Cell::from(shown(&playlist.name)),
                        Cell::from(number(playlist.track_count)),
                    ])
                })
                .collect(),
        ),
    };
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(Style::new().add_modifier(Modifier::BOLD).fg(ACCENT)))
        .block(block)
        .row_highlight_style(highlight(focused));
    frame.render_stateful_widget(table, area, &mut app.track_state);
}
