//! Talking to the SMTP server with lettre over rustls (aws-lc-rs): STARTTLS that is
//! required (a server that does not offer it is an error, never a plain-text
//! fallback), implicit TLS, or — only when asked — no encryption. Certificates are
//! checked against the system roots plus `LATCHKEY_SMTP_CA_FILE`.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, header};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::settings::Smtp;
use crate::config::SmtpSecurity;

/// How long one conversation with the server may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A message ready to hand to the server.
pub struct Envelope<'a> {
    pub to: &'a str,
    pub subject: &'a str,
    pub message_id: &'a str,
    pub text: String,
    pub html: String,
}

/// The whole chain of an error, outermost first: "…: invalid peer certificate: UnknownIssuer",
/// each part once (lettre repeats its kind in the error and in its source).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        for part in err.to_string().split(": ") {
            if !parts.iter().any(|p| p == part) {
                parts.push(part.to_string());
            }
        }
        next = err.source();
    }
    parts.join(": ")
}

fn tls_parameters(smtp: &Smtp) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(smtp.host.clone());
    if let Some(path) = &smtp.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
        let cert = Certificate::from_pem(&pem).map_err(|e| {
            format!(
                "the CA file {} is not a PEM certificate: {}",
                path.display(),
                error_chain(&e)
            )
        })?;
        builder = builder.add_root_certificate(cert);
    }
    if smtp.skip_verification {
        builder = builder
            .dangerous_accept_invalid_certs(true)
            .dangerous_accept_invalid_hostnames(true);
    }
    builder
        .build_rustls()
        .map_err(|e| format!("cannot set up TLS: {}", error_chain(&e)))
}

/// A transport for these settings (cheap: nothing connects until a message is sent).
pub fn transport(smtp: &Smtp) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let tls = match smtp.security {
        SmtpSecurity::StartTls => Tls::Required(tls_parameters(smtp)?),
        SmtpSecurity::Tls => Tls::Wrapper(tls_parameters(smtp)?),
        SmtpSecurity::None => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.as_str())
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(TIMEOUT));
    if let Some(user) = &smtp.username {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            smtp.password.clone().unwrap_or_default(),
        ));
    }
    Ok(builder.build())
}

/// Build the MIME message: plain text and HTML as alternatives.
pub fn message(smtp: &Smtp, e: &Envelope<'_>) -> Result<Message, String> {
    let from = Mailbox::new(
        Some(smtp.from_name.clone()),
        smtp.from_address.parse().map_err(|err| {
            format!(
                "the From address {} is not usable: {err}",
                smtp.from_address
            )
        })?,
    );
    let to: Mailbox =
        e.to.parse()
            .map_err(|err| format!("the address {} is not usable: {err}", e.to))?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(e.subject)
        .message_id(Some(e.message_id.to_string()))
        .header(header::MIME_VERSION_1_0)
        .multipart(MultiPart::alternative_plain_html(
            e.text.clone(),
            e.html.clone(),
        ))
        .map_err(|err| format!("cannot build the message: {err}"))
}

/// Send one message; `Err` is the exact SMTP or TLS error.
pub async fn send(smtp: &Smtp, e: &Envelope<'_>) -> Result<(), String> {
    let message = message(smtp, e)?;
    let transport = transport(smtp)?;
    match transport.send(message).await {
        Ok(_) => Ok(()),
        Err(err) => Err(error_chain(&err)),
    }
}

#[cfg(test)]
mod tests {
    #[derive(Debug)]
    struct Chain(&'static str, Option<Box<Chain>>);
    impl std::fmt::Display for Chain {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Chain {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|c| c as _)
        }
    }

    #[test]
    fn error_chains_read_once() {
        let e = Chain(
            "Connection error: Connection error: invalid peer certificate",
            Some(Box::new(Chain(
                "invalid peer certificate: UnknownIssuer",
                None,
            ))),
        );
        assert_eq!(
            super::error_chain(&e),
            "Connection error: invalid peer certificate: UnknownIssuer"
        );
    }
}
