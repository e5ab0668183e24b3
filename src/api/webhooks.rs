//! Webhook management: domain webhooks (v3 and v4) and account webhooks (v1).

use std::fmt;
use std::str::FromStr;

use reqwest::Method;
use serde_json::Value;

use super::{ApiError, Call, Client, domain, segment};

/// The most URLs Mailgun takes for one webhook id.
const MAX_URLS: usize = 3;

/// A webhook id (an event type): the name Mailgun uses in the webhooks API.
///
/// The current ids, the legacy ids of pre-2018 webhooks (whose answers carry a single `url`),
/// and [`Other`](Self::Other) for an id this crate does not know yet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum WebhookId {
    /// `accepted`
    Accepted,
    /// `clicked`
    Clicked,
    /// `complained`
    Complained,
    /// `delivered`
    Delivered,
    /// `opened`
    Opened,
    /// `permanent_fail`
    PermanentFail,
    /// `temporary_fail`
    TemporaryFail,
    /// `unsubscribed`
    Unsubscribed,
    /// Legacy `bounce`.
    Bounce,
    /// Legacy `deliver`.
    Deliver,
    /// Legacy `drop`.
    Drop,
    /// Legacy `spam`.
    Spam,
    /// Legacy `unsubscribe`.
    Unsubscribe,
    /// Legacy `click`.
    Click,
    /// Legacy `open`.
    Open,
    /// Any other id, as sent.
    Other(String),
}

impl WebhookId {
    /// The current (non-legacy) ids.
    pub const CURRENT: [WebhookId; 8] = [
        WebhookId::Accepted,
        WebhookId::Clicked,
        WebhookId::Complained,
        WebhookId::Delivered,
        WebhookId::Opened,
        WebhookId::PermanentFail,
        WebhookId::TemporaryFail,
        WebhookId::Unsubscribed,
    ];

    /// The id as Mailgun spells it.
    pub fn as_str(&self) -> &str {
        match self {
            WebhookId::Accepted => "accepted",
            WebhookId::Clicked => "clicked",
            WebhookId::Complained => "complained",
            WebhookId::Delivered => "delivered",
            WebhookId::Opened => "opened",
            WebhookId::PermanentFail => "permanent_fail",
            WebhookId::TemporaryFail => "temporary_fail",
            WebhookId::Unsubscribed => "unsubscribed",
            WebhookId::Bounce => "bounce",
            WebhookId::Deliver => "deliver",
            WebhookId::Drop => "drop",
            WebhookId::Spam => "spam",
            WebhookId::Unsubscribe => "unsubscribe",
            WebhookId::Click => "click",
            WebhookId::Open => "open",
            WebhookId::Other(s) => s,
        }
    }

    /// The id for a name; unknown names become [`Other`](Self::Other).
    pub fn from_name(name: &str) -> WebhookId {
        match name {
            "accepted" => WebhookId::Accepted,
            "clicked" => WebhookId::Clicked,
            "complained" => WebhookId::Complained,
            "delivered" => WebhookId::Delivered,
            "opened" => WebhookId::Opened,
            "permanent_fail" => WebhookId::PermanentFail,
            "temporary_fail" => WebhookId::TemporaryFail,
            "unsubscribed" => WebhookId::Unsubscribed,
            "bounce" => WebhookId::Bounce,
            "deliver" => WebhookId::Deliver,
            "drop" => WebhookId::Drop,
            "spam" => WebhookId::Spam,
            "unsubscribe" => WebhookId::Unsubscribe,
            "click" => WebhookId::Click,
            "open" => WebhookId::Open,
            other => WebhookId::Other(other.to_owned()),
        }
    }

    /// Whether this is a legacy (pre-2018) id.
    pub fn is_legacy(&self) -> bool {
        matches!(
            self,
            WebhookId::Bounce
                | WebhookId::Deliver
                | WebhookId::Drop
                | WebhookId::Spam
                | WebhookId::Unsubscribe
                | WebhookId::Click
                | WebhookId::Open
        )
    }
}

impl fmt::Display for WebhookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WebhookId {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(WebhookId::from_name(s))
    }
}

impl From<&str> for WebhookId {
    fn from(s: &str) -> Self {
        WebhookId::from_name(s)
    }
}

/// A domain webhook: an id and its URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DomainWebhook {
    /// The webhook id (event type).
    pub id: WebhookId,
    /// Its URLs (one for legacy ids, which answer a single `url`).
    pub urls: Vec<String>,
}

/// An account-level webhook (v1): one URL for several event types, on every domain.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccountWebhook {
    /// Mailgun's id for it.
    pub webhook_id: String,
    /// The URL.
    pub url: Option<String>,
    /// The event types it receives.
    pub event_types: Vec<WebhookId>,
    /// Its description.
    pub description: Option<String>,
}

/// The `urls` list, or the legacy single `url`.
fn urls_of(obj: &Value) -> Vec<String> {
    match (obj.get("urls"), obj.get("url")) {
        (Some(Value::Array(urls)), _) => urls
            .iter()
            .filter_map(|u| u.as_str().map(str::to_owned))
            .collect(),
        (_, Some(Value::String(url))) => vec![url.clone()],
        (_, Some(Value::Array(urls))) => urls
            .iter()
            .filter_map(|u| u.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// `{"webhooks": {"<id>": {"urls": [...]}}}` into a list.
fn webhook_map(v: &Value) -> Result<Vec<DomainWebhook>, ApiError> {
    let map = v
        .get("webhooks")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::InvalidResponse("no `webhooks` object".into()))?;
    Ok(map
        .iter()
        .map(|(id, obj)| DomainWebhook {
            id: WebhookId::from_name(id),
            urls: urls_of(obj),
        })
        .collect())
}

fn check_urls(urls: &[&str]) -> Result<(), ApiError> {
    if urls.is_empty() || urls.len() > MAX_URLS {
        return Err(ApiError::InvalidInput(format!(
            "a webhook takes 1 to {MAX_URLS} URLs, not {}",
            urls.len()
        )));
    }
    if urls.iter().any(|u| u.trim().is_empty()) {
        return Err(ApiError::InvalidInput("a webhook URL is empty".into()));
    }
    Ok(())
}

/// The webhooks of one domain, v3 API (one id, up to three URLs). From
/// [`Client::webhooks`].
#[derive(Debug, Clone)]
pub struct DomainWebhooks {
    client: Client,
    domain: String,
}

impl Client {
    /// The webhooks of `domain` (v3 API: one webhook id, up to three URLs).
    pub fn webhooks(&self, domain: &str) -> DomainWebhooks {
        DomainWebhooks {
            client: self.clone(),
            domain: domain.to_owned(),
        }
    }

    /// The webhooks of `domain`, v4 API: one URL for many event types.
    pub fn webhooks_v4(&self, domain: &str) -> WebhooksV4 {
        WebhooksV4 {
            client: self.clone(),
            domain: domain.to_owned(),
        }
    }

    /// Account-level webhooks (v1), for every domain of the account in this region.
    pub fn account_webhooks(&self) -> AccountWebhooks {
        AccountWebhooks {
            client: self.clone(),
        }
    }
}

impl DomainWebhooks {
    fn path(&self, id: Option<&WebhookId>) -> Result<String, ApiError> {
        let d = domain(&self.domain)?;
        if id.is_some_and(|id| id.as_str().trim().is_empty()) {
            // An empty id would address the list endpoint instead.
            return Err(ApiError::InvalidInput("the webhook id is empty".into()));
        }
        Ok(match id {
            Some(id) => self.client.url(&format!(
                "/v3/domains/{d}/webhooks/{}",
                segment(id.as_str())
            )),
            None => self.client.url(&format!("/v3/domains/{d}/webhooks")),
        })
    }

    /// `GET /v3/domains/{domain}/webhooks`: every webhook of the domain.
    pub async fn list(&self) -> Result<Vec<DomainWebhook>, ApiError> {
        let v = self
            .client
            .json(&Call::new(Method::GET, self.path(None)?))
            .await?;
        webhook_map(&v)
    }

    /// `GET /v3/domains/{domain}/webhooks/{id}`: one webhook's URLs.
    pub async fn get(&self, id: &WebhookId) -> Result<DomainWebhook, ApiError> {
        let v = self
            .client
            .json(&Call::new(Method::GET, self.path(Some(id))?))
            .await?;
        single(id, &v)
    }

    /// `POST /v3/domains/{domain}/webhooks` with `id` and 1 to 3 `url`s.
    pub async fn create(&self, id: &WebhookId, urls: &[&str]) -> Result<DomainWebhook, ApiError> {
        check_urls(urls)?;
        let mut form = vec![("id".to_owned(), id.as_str().to_owned())];
        form.extend(urls.iter().map(|u| ("url".to_owned(), (*u).to_owned())));
        let call = Call::new(Method::POST, self.path(None)?).form(form);
        single(id, &self.client.json(&call).await?)
    }

    /// `PUT /v3/domains/{domain}/webhooks/{id}` with 1 to 3 `url`s (replaces them).
    pub async fn update(&self, id: &WebhookId, urls: &[&str]) -> Result<DomainWebhook, ApiError> {
        check_urls(urls)?;
        let form = urls
            .iter()
            .map(|u| ("url".to_owned(), (*u).to_owned()))
            .collect();
        let call = Call::new(Method::PUT, self.path(Some(id))?).form(form);
        single(id, &self.client.json(&call).await?)
    }

    /// `DELETE /v3/domains/{domain}/webhooks/{id}`; gives the URLs it had, when the answer
    /// says.
    pub async fn delete(&self, id: &WebhookId) -> Result<DomainWebhook, ApiError> {
        let call = Call::new(Method::DELETE, self.path(Some(id))?);
        single(id, &self.client.json(&call).await?)
    }
}

/// `{"webhook": {"urls": [...]}}` (or a bare message) as one webhook.
fn single(id: &WebhookId, v: &Value) -> Result<DomainWebhook, ApiError> {
    let urls = match v.get("webhook") {
        Some(obj) => urls_of(obj),
        None if v.get("message").is_some() => Vec::new(),
        None => return Err(ApiError::InvalidResponse("no `webhook` object".into())),
    };
    Ok(DomainWebhook {
        id: id.clone(),
        urls,
    })
}

fn event_form(url: &str, events: &[WebhookId]) -> Result<Vec<(String, String)>, ApiError> {
    check_urls(&[url])?;
    if events.is_empty() {
        return Err(ApiError::InvalidInput("no event type given".into()));
    }
    let mut form = vec![("url".to_owned(), url.to_owned())];
    form.extend(
        events
            .iter()
            .map(|e| ("event_types".to_owned(), e.as_str().to_owned())),
    );
    Ok(form)
}

/// The webhooks of one domain, v4 API: one URL, many event types. From
/// [`Client::webhooks_v4`]. Listing uses the v3 [`DomainWebhooks::list`].
#[derive(Debug, Clone)]
pub struct WebhooksV4 {
    client: Client,
    domain: String,
}

impl WebhooksV4 {
    fn path(&self) -> Result<String, ApiError> {
        let d = domain(&self.domain)?;
        Ok(self.client.url(&format!("/v4/domains/{d}/webhooks")))
    }

    /// `POST /v4/domains/{domain}/webhooks` with `url` and repeated `event_types`: adds `url`
    /// to each event type. Gives the domain's webhooks afterwards when the answer lists them.
    pub async fn create(
        &self,
        url: &str,
        events: &[WebhookId],
    ) -> Result<Vec<DomainWebhook>, ApiError> {
        let call = Call::new(Method::POST, self.path()?).form(event_form(url, events)?);
        optional_map(&self.client.json(&call).await?)
    }

    /// `PUT /v4/domains/{domain}/webhooks` with `url` and repeated `event_types`: sets the
    /// event types `url` receives.
    pub async fn update(
        &self,
        url: &str,
        events: &[WebhookId],
    ) -> Result<Vec<DomainWebhook>, ApiError> {
        let call = Call::new(Method::PUT, self.path()?).form(event_form(url, events)?);
        optional_map(&self.client.json(&call).await?)
    }

    /// `DELETE /v4/domains/{domain}/webhooks?url=...`: removes `url` from every event type.
    pub async fn delete(&self, url: &str) -> Result<Vec<DomainWebhook>, ApiError> {
        check_urls(&[url])?;
        let call = Call::new(Method::DELETE, self.path()?).query("url", url);
        optional_map(&self.client.json(&call).await?)
    }
}

fn optional_map(v: &Value) -> Result<Vec<DomainWebhook>, ApiError> {
    if v.get("webhooks").is_some() {
        webhook_map(v)
    } else {
        Ok(Vec::new())
    }
}

/// Account-level webhooks (v1). From [`Client::account_webhooks`].
///
/// Changes can take up to 10 minutes to take effect at Mailgun (caching).
#[derive(Debug, Clone)]
pub struct AccountWebhooks {
    client: Client,
}

fn account_webhook(v: &Value) -> Option<AccountWebhook> {
    let id = v.get("webhook_id")?.as_str()?.to_owned();
    Some(AccountWebhook {
        webhook_id: id,
        url: v.get("url").and_then(Value::as_str).map(str::to_owned),
        event_types: v
            .get("event_types")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(WebhookId::from_name)
                    .collect()
            })
            .unwrap_or_default(),
        description: v
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

impl AccountWebhooks {
    /// `GET /v1/webhooks`.
    pub async fn list(&self) -> Result<Vec<AccountWebhook>, ApiError> {
        let v = self
            .client
            .json(&Call::new(Method::GET, self.client.url("/v1/webhooks")))
            .await?;
        let list = v
            .get("webhooks")
            .and_then(Value::as_array)
            .ok_or_else(|| ApiError::InvalidResponse("no `webhooks` list".into()))?;
        Ok(list.iter().filter_map(account_webhook).collect())
    }

    /// `GET /v1/webhooks/{webhook_id}`.
    pub async fn get(&self, webhook_id: &str) -> Result<AccountWebhook, ApiError> {
        let url = self
            .client
            .url(&format!("/v1/webhooks/{}", segment(webhook_id)));
        let v = self.client.json(&Call::new(Method::GET, url)).await?;
        account_webhook(v.get("webhook").unwrap_or(&v))
            .ok_or_else(|| ApiError::InvalidResponse("no `webhook_id`".into()))
    }

    /// `POST /v1/webhooks` with `url`, repeated `event_types` and an optional `description`;
    /// gives the new `webhook_id`.
    pub async fn create(
        &self,
        url: &str,
        events: &[WebhookId],
        description: Option<&str>,
    ) -> Result<String, ApiError> {
        let mut form = event_form(url, events)?;
        if let Some(d) = description {
            form.push(("description".to_owned(), d.to_owned()));
        }
        let call = Call::new(Method::POST, self.client.url("/v1/webhooks")).form(form);
        let v = self.client.json(&call).await?;
        v.get("webhook_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ApiError::InvalidResponse("no `webhook_id`".into()))
    }

    /// `PUT /v1/webhooks/{webhook_id}` with `url`, repeated `event_types` and an optional
    /// `description`.
    pub async fn update(
        &self,
        webhook_id: &str,
        url: &str,
        events: &[WebhookId],
        description: Option<&str>,
    ) -> Result<(), ApiError> {
        let mut form = event_form(url, events)?;
        if let Some(d) = description {
            form.push(("description".to_owned(), d.to_owned()));
        }
        let path = self
            .client
            .url(&format!("/v1/webhooks/{}", segment(webhook_id)));
        self.client
            .json(&Call::new(Method::PUT, path).form(form))
            .await?;
        Ok(())
    }

    /// `DELETE /v1/webhooks?webhook_ids=...`.
    pub async fn delete(&self, webhook_ids: &[&str]) -> Result<(), ApiError> {
        if webhook_ids.is_empty() || webhook_ids.iter().any(|i| i.trim().is_empty()) {
            return Err(ApiError::InvalidInput("no webhook id given".into()));
        }
        let call = Call::new(Method::DELETE, self.client.url("/v1/webhooks"))
            .query("webhook_ids", webhook_ids.join(","));
        self.client.json(&call).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for id in WebhookId::CURRENT {
            assert_eq!(WebhookId::from_name(id.as_str()), id);
            assert!(!id.is_legacy());
        }
        assert!(WebhookId::from_name("bounce").is_legacy());
        assert_eq!(
            WebhookId::from_name("new_thing"),
            WebhookId::Other("new_thing".into())
        );
    }

    #[test]
    fn legacy_single_url() {
        let v: Value = serde_json::json!({"webhooks": {"bounce": {"url": "http://x/b"}}});
        let list = webhook_map(&v).unwrap();
        assert_eq!(list[0].urls, ["http://x/b"]);
        assert!(check_urls(&["a", "b", "c", "d"]).is_err());
        assert!(check_urls(&[]).is_err());
    }
}
