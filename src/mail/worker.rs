//! The outbox worker: delivers due messages, then sleeps until a message is queued in
//! this process, a few seconds pass (messages queued by another instance, retries that
//! come due), or the server stops.

use std::time::Duration;

use tokio::sync::watch;

use super::{LEASE_SECS, Mail};
use crate::store::now;

/// How often the outbox is looked at when nothing wakes the worker.
const POLL: Duration = Duration::from_secs(5);
/// The first look at the outbox (messages left from before a restart) waits a moment,
/// so that a server that has just started answers its first requests, health checks
/// included, without this beside them. A message queued in the meantime wakes it.
const FIRST_LOOK: Duration = Duration::from_secs(1);

/// Run until `stop` turns true. A message being sent when asked to stop is finished
/// first, so that a restart does not send it twice.
pub async fn run(mail: Mail, mut stop: watch::Receiver<bool>) {
    let mut wait = FIRST_LOOK;
    loop {
        tokio::select! {
            () = mail.woken() => {}
            () = tokio::time::sleep(wait) => {}
            changed = stop.changed() => {
                // The server is gone without saying stop: so is the worker.
                if changed.is_err() {
                    return;
                }
            }
        }
        if *stop.borrow() {
            return;
        }
        drain(&mail, &stop).await;
        wait = POLL;
    }
}

/// Send everything that is due now.
async fn drain(mail: &Mail, stop: &watch::Receiver<bool>) {
    match mail.settings().await {
        // Without a server there is nothing to try: messages wait, queued.
        Ok(s) if s.smtp.is_none() => return,
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "the outbox worker cannot read the email settings");
            return;
        }
    }
    while !*stop.borrow() {
        let t = now();
        match mail
            .store
            .claim_due_mail(mail.owner(), t, t + LEASE_SECS)
            .await
        {
            Ok(Some(message)) => {
                if let Err(error) = mail.deliver(&message, true).await {
                    tracing::warn!(mail_id = %message.id, kind = %message.kind, %error, "email not delivered");
                    // The server is likely down for the others too: wait for the next round.
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "the outbox worker cannot read the outbox");
                return;
            }
        }
    }
}
