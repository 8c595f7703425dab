//! The overlays: help, the upload dialog and the playlist picker.

use super::*;

pub(super) fn draw_help(frame: &mut Frame<'_>, keymap: &Keymap) {
    let notes = [
        "Mouse: click a row to select it, twice to play; click the",
        "progress bar to seek. Ctrl-C quits. Keys can be changed",
        "in the [keys] table of config.toml (all in docs/tui.md).",
    ];
    let actions = Action::ALL.len() as u16;
    // One column when it fits, else two or three side by side (the keys
    // added last are the ones a small terminal cuts off).
    let columns: u16 = if frame.area().height >= actions + notes.len() as u16 + 5 {
        1
    } else if frame.area().width >= 120 {
        3
    } else {
        2
    };
    // As many rows as the terminal has room for: the keys listed last are
    // the ones a small terminal leaves out (the notes say where they are).
    let room = frame.area().height.saturating_sub(notes.len() as u16 + 5).max(1);
    let rows = actions.div_ceil(columns).min(room);
    let width = match columns {
        1 => 62,
        2 => 78,
        _ => 118,
    };
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
    for (column, actions) in Action::ALL
        .chunks(usize::from(rows))
        .take(column_areas.len())
        .enumerate()
    {
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

pub(super) fn draw_upload(frame: &mut Frame<'_>, dialog: &UploadDialog) {
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

pub(super) fn draw_playlists(frame: &mut Frame<'_>, picker: &mut PlaylistPicker) {
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

pub(super) fn draw_prompt(frame: &mut Frame<'_>, prompt: &Prompt) {
    let inner = popup(frame, 60, 5, &prompt.title);
    let [line, _, hint] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0), Constraint::Length(1)]).areas(inner);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::raw("Name: ").bold(),
            Span::raw(shown(&prompt.input.text)),
        ])),
        line,
    );
    set_cursor(frame, &prompt.input, line, 6);
    frame.render_widget(Paragraph::new("Enter saves · Esc cancels".dark_gray()), hint);
}

pub(super) fn draw_tags(frame: &mut Frame<'_>, form: &TagForm) {
    let inner = popup(frame, 64, 8, "Edit the tags");
    let rows = Layout::vertical([Constraint::Length(1); 6]).split(inner);
    for (i, (label, input)) in TagForm::LABELS.iter().zip(&form.inputs).enumerate() {
        let style = if i == form.focus {
            Style::new().fg(ACCENT).add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        };
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(format!("{label:>7}: "), style),
                Span::raw(shown(&input.text)),
            ])),
            rows[i],
        );
        if i == form.focus {
            set_cursor(frame, input, rows[i], 9);
        }
    }
    frame.render_widget(
        Paragraph::new("Tab next field · Enter saves · Esc cancels".dark_gray()),
        rows[5],
    );
}

pub(super) fn draw_confirm(frame: &mut Frame<'_>, confirm: &Confirm) {
    let inner = popup(frame, 64, 5, "Are you sure?");
    let [question, _, hint] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0), Constraint::Length(1)]).areas(inner);
    frame.render_widget(
        Paragraph::new(shown(&confirm.question)).wrap(Wrap { trim: true }),
        question,
    );
    frame.render_widget(Paragraph::new("y deletes · any other key keeps it".dark_gray()), hint);
}
