//! The login and registration form.

use super::*;

pub(super) fn draw_login(frame: &mut Frame<'_>, form: &LoginForm) {
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
