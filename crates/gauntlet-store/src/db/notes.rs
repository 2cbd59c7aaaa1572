//! Notes between processes on one PostgreSQL database: `NOTIFY` to send, a dedicated
//! `LISTEN` connection to receive. They only make other processes look sooner; every decision
//! is still taken from the rows, so a note lost while a listener reconnects costs latency,
//! never correctness (the heartbeat and the claim poll are the fallbacks).

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

use super::pg::describe;

/// The largest payload PostgreSQL accepts is 8,000 bytes; callers stay under this.
pub const MAX_PAYLOAD: usize = 7_900;

/// What a listener hands over.
#[derive(Clone, Debug, PartialEq)]
pub enum Heard {
    /// A note's payload.
    Note(String),
    /// The listening connection was (re)established: notes sent while it was down are lost,
    /// so a receiver that keeps state from notes should refresh it from the rows.
    Connected,
    /// The connection failed or was lost; the listener tries again every second.
    Lost(String),
}

/// Listens on `channel` until the receiver is dropped, reconnecting after a second when the
/// connection is lost. Must be called inside a tokio runtime.
pub(super) fn listen(config: tokio_postgres::Config, channel: String) -> mpsc::Receiver<Heard> {
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(async move {
        while !tx.is_closed() {
            if let Err(e) = session(&config, &channel, &tx).await {
                let message = format!("listening on {} failed: {e}", describe(&config));
                if tx.send(Heard::Lost(message)).await.is_err() {
                    return;
                }
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
    rx
}

/// One listening connection, until it fails or nobody receives any more.
async fn session(
    config: &tokio_postgres::Config,
    channel: &str,
    tx: &mpsc::Sender<Heard>,
) -> Result<(), String> {
    let mut config = config.clone();
    config.connect_timeout(std::time::Duration::from_secs(10));
    config.keepalives_idle(std::time::Duration::from_secs(10));
    let (client, mut connection) = config.connect(NoTls).await.map_err(|e| e.to_string())?;
    let (note_tx, mut notes) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    if note_tx.send(n.payload().to_owned()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    let quoted = format!("\"{}\"", channel.replace('"', "\"\""));
    if let Err(e) = client.batch_execute(&format!("LISTEN {quoted}")).await {
        driver.abort();
        return Err(e.to_string());
    }
    if tx.send(Heard::Connected).await.is_err() {
        driver.abort();
        return Ok(());
    }
    while let Some(payload) = notes.recv().await {
        if tx.send(Heard::Note(payload)).await.is_err() {
            break;
        }
    }
    driver.abort();
    drop(client);
    Err("the listening connection closed".into())
}
