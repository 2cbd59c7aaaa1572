//! Sign-in, the session list of an administrator, and the page shown for an error.

use crate::format::time;
use crate::{Chrome, Nav, esc, layout};

/// The sign-in page: an API key, and single sign-on when an issuer is configured.
pub fn login(chrome: &Chrome, error: Option<&str>, sso: bool, next: &str) -> String {
    let error = error
        .map(|e| format!(r#"<p class="problem" role="alert">{}</p>"#, esc(e)))
        .unwrap_or_default();
    let sso = if sso {
        format!(
            r#"<p><a class="button primary" href="/auth/sso?next={}">Sign in with single sign-on</a></p><p class="sub or">or</p>"#,
            crate::encode(next)
        )
    } else {
        String::new()
    };
    let body = format!(
        r#"<div class="login"><h1>Sign in to Gauntlet</h1>{error}{sso}<form method="post" action="/login"><input type="hidden" name="next" value="{next}"><label for="key">API key</label><input id="key" name="key" type="password" autocomplete="off" required placeholder="gnt_…"><p class="sub">A key from <code>gauntlet admin create</code> or <code>POST /api/v1/keys</code>. The dashboard keeps a session cookie, not the key.</p><button type="submit" class="primary">Sign in</button></form></div>"#,
        next = esc(next),
    );
    layout(chrome, Nav::None, "Sign in", &body)
}

/// A session as the administrator's list shows it.
pub struct SessionRow {
    pub id: String,
    pub user: String,
    pub method: String,
    pub address: String,
    pub user_agent: String,
    pub created_at: String,
    pub expires_at: String,
    pub current: bool,
}

pub fn sessions(chrome: &Chrome, rows: &[SessionRow]) -> String {
    let mut body = String::from(
        r#"<div class="title"><h1>Sessions</h1></div><p class="sub">Dashboard sessions of this tenant that have not expired. Revoking one signs its browser out at its next request.</p>"#,
    );
    if rows.is_empty() {
        body.push_str(r#"<p class="empty">No open sessions.</p>"#);
    } else {
        body.push_str(r#"<div class="scroll"><table><thead><tr><th scope="col">User</th><th scope="col">Signed in with</th><th scope="col">From</th><th scope="col">Since</th><th scope="col">Until</th><th scope="col"><span class="sr">Actions</span></th></tr></thead><tbody>"#);
        for r in rows {
            body.push_str(&format!(
                r#"<tr data-session="{id}"><td>{user}{me}</td><td>{method}</td><td>{addr}<div class="sub">{ua}</div></td><td>{created}</td><td>{expires}</td><td>{revoke}</td></tr>"#,
                id = esc(&r.id),
                user = esc(&r.user),
                me = if r.current { r#" <span class="badge">this session</span>"# } else { "" },
                method = esc(&r.method),
                addr = esc(&r.address),
                ua = esc(&gauntlet_report::clip(&r.user_agent, 60)),
                created = time(&r.created_at),
                expires = time(&r.expires_at),
                revoke = chrome.button(&format!("/sessions/{}/revoke", r.id), "Revoke", "danger small"),
            ));
        }
        body.push_str("</tbody></table></div>");
    }
    layout(chrome, Nav::Sessions, "Sessions", &body)
}

/// An error as a page: what happened and where to go.
pub fn error(chrome: &Chrome, status: u16, message: &str) -> String {
    let title = match status {
        403 => "Not allowed",
        404 => "Not found",
        409 => "Not possible now",
        429 => "Too many requests",
        _ if status >= 500 => "Something went wrong",
        _ => "That did not work",
    };
    let body = format!(
        r#"<div class="login"><h1>{title}</h1><p class="problem" role="alert">{}</p><p><a href="/">Back to the runs</a></p></div>"#,
        esc(message)
    );
    layout(chrome, Nav::None, title, &body)
}
