//! The Events API: a paging stream of events, each parsed as an [`Event`].

use std::collections::VecDeque;

use futures_util::Stream;
use reqwest::Method;
use serde_json::Value;

use super::{ApiError, Call, Client, domain};
use crate::Event;

/// Filters for [`Client::events`]. Times are unix seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct EventsQuery {
    begin: Option<u64>,
    end: Option<u64>,
    ascending: Option<bool>,
    limit: Option<u32>,
    event: Option<String>,
    recipient: Option<String>,
}

impl EventsQuery {
    /// No filter: Mailgun's defaults (newest first, its retention window).
    pub fn new() -> Self {
        Self::default()
    }

    /// `begin`: events from this time (unix seconds).
    pub fn begin(mut self, secs: u64) -> Self {
        self.begin = Some(secs);
        self
    }

    /// `end`: events up to this time (unix seconds).
    pub fn end(mut self, secs: u64) -> Self {
        self.end = Some(secs);
        self
    }

    /// `ascending`: oldest first (`yes`) or newest first (`no`).
    pub fn ascending(mut self, ascending: bool) -> Self {
        self.ascending = Some(ascending);
        self
    }

    /// `limit`: events per page (Mailgun allows up to 300).
    pub fn limit(mut self, per_page: u32) -> Self {
        self.limit = Some(per_page);
        self
    }

    /// `event`: an event filter expression (`delivered`, `failed OR rejected`).
    pub fn event(mut self, filter: impl Into<String>) -> Self {
        self.event = Some(filter.into());
        self
    }

    /// `recipient`: only events for this recipient.
    pub fn recipient(mut self, recipient: impl Into<String>) -> Self {
        self.recipient = Some(recipient.into());
        self
    }

    fn apply(&self, mut call: Call) -> Call {
        if let Some(b) = self.begin {
            call = call.query("begin", b.to_string());
        }
        if let Some(e) = self.end {
            call = call.query("end", e.to_string());
        }
        if let Some(a) = self.ascending {
            call = call.query("ascending", if a { "yes" } else { "no" });
        }
        if let Some(l) = self.limit {
            call = call.query("limit", l.to_string());
        }
        if let Some(e) = &self.event {
            call = call.query("event", e.clone());
        }
        if let Some(r) = &self.recipient {
            call = call.query("recipient", r.clone());
        }
        call
    }
}

/// One item of the Events API: the parsed [`Event`] and the object as sent.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EventItem {
    /// The event, parsed like a webhook's `event-data`.
    pub event: Event,
    /// The item as Mailgun sent it (what a webhook would carry as `event-data`).
    pub raw: Value,
}

/// Pages of the Events API, from [`Client::events`]: call
/// [`next_page`](Self::next_page) until it gives `None`, or turn it into a stream of items
/// with [`into_stream`](Self::into_stream).
///
/// `paging.next` is followed only when it is on the client's own base URL (it carries the
/// API key); another host ends the paging with [`ApiError::InvalidResponse`].
#[derive(Debug)]
pub struct EventPages {
    client: Client,
    next: Option<Call>,
    /// An argument error, given by the first `next_page`.
    invalid: Option<ApiError>,
}

impl Client {
    /// The events of `domain` matching `query`, page by page (`GET /v3/{domain}/events`).
    pub fn events(&self, domain_name: &str, query: &EventsQuery) -> EventPages {
        let (next, invalid) = match domain(domain_name) {
            Ok(d) => (
                Some(query.apply(Call::new(Method::GET, self.url(&format!("/v3/{d}/events"))))),
                None,
            ),
            Err(e) => (None, Some(e)),
        };
        EventPages {
            client: self.clone(),
            next,
            invalid,
        }
    }
}

impl EventPages {
    /// The next page's items, or `None` after an empty page.
    ///
    /// Dropping the future loses nothing: the same page is requested again on the next call.
    pub async fn next_page(&mut self) -> Result<Option<Vec<EventItem>>, ApiError> {
        if let Some(e) = self.invalid.take() {
            return Err(e);
        }
        let Some(call) = self.next.clone() else {
            return Ok(None);
        };
        let page = match self.client.json(&call).await {
            Ok(page) => page,
            Err(e) => {
                self.next = None;
                return Err(e);
            }
        };
        let items = page
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if items.is_empty() {
            self.next = None;
            return Ok(None);
        }
        self.next = match page.pointer("/paging/next").and_then(Value::as_str) {
            Some(next) if self.same_origin(next) => Some(Call::new(Method::GET, next.to_owned())),
            Some(_) => {
                self.next = None;
                return Err(ApiError::InvalidResponse(
                    "paging.next is not on the API base URL; not following it with the API key"
                        .into(),
                ));
            }
            None => None,
        };
        let mut out = Vec::with_capacity(items.len());
        for raw in items {
            let bytes = serde_json::to_vec(&raw)
                .map_err(|e| ApiError::InvalidResponse(format!("event item: {e}")))?;
            let event = Event::from_json(&bytes)
                .map_err(|e| ApiError::InvalidResponse(format!("event item: {e}")))?;
            out.push(EventItem { event, raw });
        }
        Ok(Some(out))
    }

    fn same_origin(&self, url: &str) -> bool {
        let base = self.client.base_url();
        url.strip_prefix(base)
            .is_some_and(|rest| rest.starts_with('/'))
    }

    /// Every item of every page, in order; ends after an empty page or the first error.
    /// The stream is `Unpin`: call `.next().await` on it directly.
    pub fn into_stream(self) -> impl Stream<Item = Result<EventItem, ApiError>> + Send + Unpin {
        let state = (self, VecDeque::<EventItem>::new(), false);
        Box::pin(futures_util::stream::unfold(
            state,
            |(mut pages, mut buf, failed)| async move {
                if failed {
                    return None;
                }
                loop {
                    if let Some(item) = buf.pop_front() {
                        return Some((Ok(item), (pages, buf, false)));
                    }
                    match pages.next_page().await {
                        Ok(Some(items)) => buf.extend(items),
                        Ok(None) => return None,
                        Err(e) => return Some((Err(e), (pages, buf, true))),
                    }
                }
            },
        ))
    }
}
