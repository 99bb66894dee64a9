//! The words of each message. One askama layout renders every message twice: HTML and
//! the plain-text alternative. Every link is absolute, on `LATCHKEY_APP_URL`.

use askama::Template;

/// What a message says; the layouts decide how it looks.
#[derive(Debug, Clone, Default)]
pub struct Content {
    pub subject: String,
    pub heading: String,
    pub intro: Vec<String>,
    /// Label and value rows (time, device, address …).
    pub facts: Vec<(String, String)>,
    /// A code to type, shown large.
    pub code: Option<String>,
    /// A button: label and absolute URL.
    pub action: Option<(String, String)>,
    pub after: Vec<String>,
    pub footer: String,
}

/// Who the message comes from, for its header and footer.
pub struct Brand<'a> {
    pub app_name: &'a str,
    pub app_url: &'a str,
    pub logo_url: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "mail/message.html")]
struct HtmlPart<'a> {
    m: &'a Content,
    app_name: &'a str,
    app_url: &'a str,
    logo_url: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "mail/message.txt")]
struct TextPart<'a> {
    m: &'a Content,
    app_name: &'a str,
    app_url: &'a str,
}

/// The two parts of a message: (plain text, HTML).
pub fn render(brand: &Brand<'_>, m: &Content) -> Result<(String, String), askama::Error> {
    let text = TextPart {
        m,
        app_name: brand.app_name,
        app_url: brand.app_url,
    }
    .render()?;
    let html = HtmlPart {
        m,
        app_name: brand.app_name,
        app_url: brand.app_url,
        logo_url: brand.logo_url,
    }
    .render()?;
    Ok((text, html))
}

fn footer(app: &str) -> String {
    format!("This message was sent by {app} because of activity on your account.")
}

/// Details of a sign-in from a device not seen before.
pub struct SignIn<'a> {
    pub when: &'a str,
    pub device: &'a str,
    pub ip: &'a str,
    pub location: Option<&'a str>,
}

pub fn new_device(app: &str, name: &str, s: &SignIn<'_>, not_me_url: &str) -> Content {
    let mut facts = vec![
        ("Time".to_string(), s.when.to_string()),
        ("Device".to_string(), s.device.to_string()),
        ("IP address".to_string(), s.ip.to_string()),
    ];
    if let Some(place) = s.location {
        facts.push(("Approximate location".into(), place.to_string()));
    }
    Content {
        subject: format!("New sign-in to {app}"),
        heading: "A new device signed in to your account".into(),
        intro: vec![format!(
            "Hello {name}, your {app} account was just used to sign in from a device or network it has not been used from before."
        )],
        facts,
        code: None,
        action: Some(("This wasn't me".into(), not_me_url.to_string())),
        after: vec![
            "If this was you, there is nothing to do.".into(),
            "If it was not you, use the button: it signs your account out everywhere, and then you set new credentials.".into(),
        ],
        footer: footer(app),
    }
}

pub fn verify_email(app: &str, name: &str, address: &str, url: &str) -> Content {
    Content {
        subject: format!("Confirm your email address for {app}"),
        heading: "Confirm your email address".into(),
        intro: vec![format!(
            "Hello {name}, please confirm that {address} is your email address for {app}."
        )],
        facts: vec![],
        code: None,
        action: Some(("Confirm my email address".into(), url.to_string())),
        after: vec![
            "The link works once, for 24 hours. If you did not expect this message, ignore it."
                .into(),
        ],
        footer: footer(app),
    }
}

pub fn account_exists(app: &str, name: &str, address: &str, url: &str) -> Content {
    Content {
        subject: format!("You already have a {app} account"),
        heading: "You already have an account".into(),
        intro: vec![format!(
            "Hello {name}, someone asked to create a new {app} account with {address}. This address already belongs to your account, so no new account was made."
        )],
        facts: vec![],
        code: None,
        action: Some(("Sign in".into(), url.to_string())),
        after: vec![
            "If it was you, sign in instead (you can ask for a login code by email there). If it was not, nothing changed and you need not do anything."
                .into(),
        ],
        footer: footer(app),
    }
}

pub fn email_changed(app: &str, name: &str, old: &str, new: &str, when: &str) -> Content {
    Content {
        subject: format!("Your {app} email address was changed"),
        heading: "Your email address was changed".into(),
        intro: vec![format!(
            "Hello {name}, the email address of your {app} account was changed from {old} to {new} at {when}."
        )],
        facts: vec![],
        code: None,
        action: None,
        after: vec![format!(
            "If you did not make this change, contact your {app} administrator at once: someone else may be using your account."
        )],
        footer: footer(app),
    }
}

pub fn login_code(
    app: &str,
    name: &str,
    code: &str,
    link: Option<&str>,
    minutes: i64,
    by_admin: bool,
) -> Content {
    let intro = if by_admin {
        format!("Hello {name}, an administrator of {app} sent you a code to sign in.")
    } else {
        format!("Hello {name}, here is the code you asked for to sign in to {app}.")
    };
    let how = if by_admin {
        format!(
            "Type the code on the sign-in page, or use the button. Either works once, for {minutes} minutes."
        )
    } else {
        format!(
            "Type it in the browser where you asked for it; it works there only, once, for {minutes} minutes."
        )
    };
    Content {
        subject: format!("Your {app} login code"),
        heading: "Your login code".into(),
        intro: vec![intro, how],
        facts: vec![],
        code: Some(code.to_string()),
        action: link.map(|l| ("Sign in".to_string(), l.to_string())),
        after: vec![
            "If you did not ask to sign in, ignore this message: nobody can use the code without it."
                .into(),
        ],
        footer: footer(app),
    }
}

pub fn api_key_expiring(app: &str, name: &str, key_name: &str, when: &str, url: &str) -> Content {
    Content {
        subject: format!("Your {app} API key \u{201c}{key_name}\u{201d} expires soon"),
        heading: "An API key expires in a week".into(),
        intro: vec![format!(
            "Hello {name}, your API key \u{201c}{key_name}\u{201d} expires at {when}. Scripts that use it stop working then."
        )],
        facts: vec![],
        code: None,
        action: Some((format!("Open {app}"), url.to_string())),
        after: vec![
            "Create a new key before then and replace the old one where it is used.".into(),
        ],
        footer: footer(app),
    }
}

pub fn test(app: &str, when: &str) -> Content {
    Content {
        subject: format!("Test email from {app}"),
        heading: "Email works".into(),
        intro: vec![format!(
            "This is a test message from {app}, sent at {when}. If you can read it, {app} can send email."
        )],
        facts: vec![],
        code: None,
        action: None,
        after: vec![],
        footer: format!("An administrator of {app} sent this test."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_parts_carry_the_words_and_html_is_escaped() {
        let brand = Brand {
            app_name: "Home <SSO>",
            app_url: "https://sso.example.org",
            logo_url: None,
        };
        let m = login_code(
            "Home",
            "Ann & Bob",
            "ABCD-EFGH",
            Some("https://sso.example.org/login/code/x"),
            15,
            true,
        );
        let (text, html) = render(&brand, &m).unwrap();
        assert!(text.contains("Ann & Bob"), "{text}");
        assert!(text.contains("ABCD-EFGH"));
        assert!(text.contains("https://sso.example.org/login/code/x"));
        assert!(
            html.contains("Ann &#38; Bob") || html.contains("Ann &amp; Bob"),
            "{html}"
        );
        assert!(html.contains("Home &#60;SSO&#62;") || html.contains("Home &lt;SSO&gt;"));
        assert!(html.contains("href=\"https://sso.example.org/login/code/x\""));
    }
}
