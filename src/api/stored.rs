//! Fetching what a route's `store(notify=...)` action kept: the message and its attachments.

use reqwest::Method;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{ApiError, Call, Client};
use crate::{StoredMessage, Verified};

/// The default cap on a stored message or attachment download: 64 MiB.
pub const DEFAULT_MAX_DOWNLOAD: u64 = 64 * 1024 * 1024;

/// How to fetch a stored message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoredFormat {
    /// Mailgun's parsed fields as JSON (the same fields a `forward()` route posts).
    Json,
    /// The raw message as MIME (`Accept: message/rfc2822`): Mailgun answers a JSON object
    /// whose `body-mime` holds it.
    Mime,
}

impl StoredFormat {
    fn accept(self) -> &'static str {
        match self {
            StoredFormat::Json => "application/json",
            StoredFormat::Mime => "message/rfc2822",
        }
    }
}

impl Client {
    /// Fetches the stored message of a verified `store()` notification and decodes its JSON
    /// answer, under the download cap.
    ///
    /// The message URL must be `https` on a `mailgun.net` host (the crate's strict check);
    /// otherwise [`ApiError::UntrustedUrl`] is returned and nothing is sent: the API key never
    /// leaves for a host a sender's header could have chosen.
    pub async fn fetch_stored_message(
        &self,
        stored: &Verified<StoredMessage>,
        format: StoredFormat,
    ) -> Result<serde_json::Value, ApiError> {
        let url =
            stored.payload().message_url.as_deref().ok_or_else(|| {
                ApiError::InvalidInput("the notification has no message-url".into())
            })?;
        let mut body = Vec::new();
        self.download(url, format.accept(), &mut body).await?;
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::InvalidResponse(format!("stored message is not JSON: {e}")))
    }

    /// Streams the stored message's answer (JSON, or with [`StoredFormat::Mime`] the
    /// `message/rfc2822` answer) into `writer`; gives the number of bytes written.
    ///
    /// Checked and capped like [`fetch_stored_message`](Self::fetch_stored_message). On an
    /// error the writer may hold the first part of the download: discard it. Dropping the
    /// future stops the download where it is, with the same effect.
    pub async fn download_stored_message<W: AsyncWrite + Unpin + ?Sized>(
        &self,
        stored: &Verified<StoredMessage>,
        format: StoredFormat,
        writer: &mut W,
    ) -> Result<u64, ApiError> {
        let url =
            stored.payload().message_url.as_deref().ok_or_else(|| {
                ApiError::InvalidInput("the notification has no message-url".into())
            })?;
        self.download(url, format.accept(), writer).await
    }

    /// Streams attachment `index` (0-based, in the notification's `attachments` order) into
    /// `writer`; gives the number of bytes written. Checked and capped like the message.
    pub async fn download_stored_attachment<W: AsyncWrite + Unpin + ?Sized>(
        &self,
        stored: &Verified<StoredMessage>,
        index: usize,
        writer: &mut W,
    ) -> Result<u64, ApiError> {
        let attachment = stored.payload().attachments.get(index).ok_or_else(|| {
            ApiError::InvalidInput(format!("the notification has no attachment {index}"))
        })?;
        let url = attachment
            .url
            .as_deref()
            .ok_or_else(|| ApiError::InvalidInput(format!("attachment {index} has no url")))?;
        self.download(url, "*/*", writer).await
    }

    /// The one place a stored-message URL becomes a request: checked first, always.
    async fn download<W: AsyncWrite + Unpin + ?Sized>(
        &self,
        url: &str,
        accept: &'static str,
        writer: &mut W,
    ) -> Result<u64, ApiError> {
        if !crate::store_url::is_mailgun_storage_url(url) {
            return Err(ApiError::UntrustedUrl);
        }
        let target = match &self.inner.storage_origin {
            Some(origin) => {
                // Checked above: "https://" + host, then the path (or nothing).
                let rest = url.strip_prefix("https://").unwrap_or(url);
                let path = rest.find(['/', '?']).map_or("/", |i| &rest[i..]);
                format!("{origin}{path}")
            }
            None => url.to_owned(),
        };
        let limit = self.inner.max_download;
        let mut response = self
            .send(&Call::new(Method::GET, target).accept(accept))
            .await?;
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(ApiError::TooLarge { limit });
        }
        let mut written: u64 = 0;
        while let Some(chunk) = response.chunk().await.map_err(ApiError::transport)? {
            let len = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
            written = written
                .checked_add(len)
                .filter(|n| *n <= limit)
                .ok_or(ApiError::TooLarge { limit })?;
            writer.write_all(&chunk).await?;
        }
        writer.flush().await?;
        Ok(written)
    }
}
