//! The login and registration form and its keys.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginField {
    Server,
    Email,
    Username,
    /// Registration only; optional (servers with invite-only registration ask for one).
    Invite,
    Password,
}

#[derive(Debug, Clone)]
pub struct LoginForm {
    pub server: Input,
    pub email: Input,
    pub username: Input,
    pub invite: Input,
    pub password: Input,
    pub register: bool,
    pub focus: LoginField,
    pub error: Option<String>,
    pub busy: bool,
}

impl LoginForm {
    pub fn new(server: &str, error: Option<String>) -> LoginForm {
        LoginForm {
            server: Input::with(server),
            email: Input::default(),
            username: Input::default(),
            invite: Input::default(),
            password: Input::default(),
            register: false,
            focus: LoginField::Email,
            error,
            busy: false,
        }
    }

    pub fn fields(&self) -> Vec<LoginField> {
        let mut fields = vec![LoginField::Server, LoginField::Email];
        if self.register {
            fields.push(LoginField::Username);
            fields.push(LoginField::Invite);
        }
        fields.push(LoginField::Password);
        fields
    }

    fn input(&mut self, field: LoginField) -> &mut Input {
        match field {
            LoginField::Server => &mut self.server,
            LoginField::Email => &mut self.email,
            LoginField::Username => &mut self.username,
            LoginField::Invite => &mut self.invite,
            LoginField::Password => &mut self.password,
        }
    }

    fn move_focus(&mut self, forward: bool) {
        let fields = self.fields();
        let at = fields.iter().position(|f| *f == self.focus).unwrap_or(0);
        let n = fields.len();
        self.focus = fields[if forward { (at + 1) % n } else { (at + n - 1) % n }];
    }
}

impl App {
    pub(super) fn login_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Screen::Login(form) = &mut self.screen else {
            return Vec::new();
        };
        if form.busy {
            return Vec::new();
        }
        match key.code {
            KeyCode::Esc => {
                self.quit = true;
                vec![Effect::Quit]
            }
            KeyCode::Char('r') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                form.register = !form.register;
                if !form.fields().contains(&form.focus) {
                    form.focus = LoginField::Email;
                }
                Vec::new()
            }
            KeyCode::Tab | KeyCode::Down => {
                form.move_focus(true);
                Vec::new()
            }
            KeyCode::BackTab | KeyCode::Up => {
                form.move_focus(false);
                Vec::new()
            }
            KeyCode::Enter => {
                let fields = form.fields();
                if form.focus != LoginField::Password {
                    form.move_focus(true);
                    return Vec::new();
                }
                let required = fields.iter().filter(|f| **f != LoginField::Invite);
                if let Some(empty) = required.into_iter().find(|f| form.input(**f).text.trim().is_empty()) {
                    form.error = Some(format!("{} is empty", field_name(*empty)));
                    form.focus = *empty;
                    return Vec::new();
                }
                form.busy = true;
                form.error = None;
                vec![Effect::Login {
                    server: form.server.text.trim().to_string(),
                    email: form.email.text.trim().to_string(),
                    password: form.password.text.clone(),
                    username: form.register.then(|| form.username.text.trim().to_string()),
                    invite: Some(form.invite.text.trim().to_string()).filter(|code| form.register && !code.is_empty()),
                }]
            }
            _ => {
                let focus = form.focus;
                form.input(focus).edit(&key);
                Vec::new()
            }
        }
    }
}

pub(super) fn field_name(field: LoginField) -> &'static str {
    match field {
        LoginField::Server => "the server",
        LoginField::Email => "the email",
        LoginField::Username => "the username",
        LoginField::Invite => "the invite code",
        LoginField::Password => "the password",
    }
}
