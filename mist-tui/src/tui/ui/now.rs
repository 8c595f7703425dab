//! The bottom of the main screen: what plays (the progress bar, volume,
//! quality) and the status line (messages, the quota and its banner, the user).

use super::*;

pub(super) fn draw_now_playing(frame: &mut Frame<'_>, app: &mut App, area: Rect) {
    let block = pane("Now playing", false);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let inner = if inner.height > 2 {
        beside_cover(frame, now_cover(app), inner)
    } else {
        inner
    };
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

pub(super) fn quota_text(app: &App) -> String {
    match &app.quota {
        None => "quota …".into(),
        Some(quota) => match quota.remaining_s {
            None => "unlimited".into(),
            Some(left) => format!("{} left today", clock(left)),
        },
    }
}

pub(super) fn draw_status(frame: &mut Frame<'_>, app: &App, area: Rect) {
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
pub(super) fn user_label(app: &App) -> String {
    app.user
        .as_ref()
        .map(|user| format!("{} · {} ", shown(&user.username), user.plan.as_str()))
        .unwrap_or_default()
}

pub(super) fn user_width(app: &App) -> usize {
    user_label(app).chars().count()
}
