//! The strict host check for the URLs of a stored message (`store(notify=...)`).
//!
//! A stored message's `message-url` and attachment URLs are fetched with the account's API key,
//! so only Mailgun's own storage hosts may receive such a request. The sender of the email can
//! add a `message-url` header of their own, which Mailgun posts as a field too: every URL is
//! checked before any request is sent.

/// Whether `url` is an `https` URL on `mailgun.net` or one of its subdomains, written plainly:
/// lowercase ASCII host, no user info, no explicit port, no percent-escapes or dots at the end
/// of the host, no backslash, whitespace or control character anywhere.
///
/// Conservative: a URL a WHATWG parser would normalise to a Mailgun host but that is not
/// written in normal form (upper case, `%2e`, a trailing dot, an IDN look-alike) is refused.
pub(crate) fn is_mailgun_storage_url(url: &str) -> bool {
    if url
        .chars()
        .any(|c| c == '\\' || c.is_whitespace() || c.is_control() || !c.is_ascii())
    {
        return false;
    }
    let Some(rest) = url.strip_prefix("https://") else {
        return false;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..end];
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        // Rejects `@` (user info), `:` (port), `%` (escapes), upper case and anything else.
        return false;
    }
    if host.split('.').any(|label| {
        label.is_empty()
            || label.starts_with('-')
            || label.ends_with('-')
            || label.starts_with("xn--")
    }) {
        // Empty labels (`..`, a trailing dot) and punycode labels are refused.
        return false;
    }
    host == "mailgun.net" || host.ends_with(".mailgun.net")
}

#[cfg(test)]
mod tests {
    use super::is_mailgun_storage_url;

    #[test]
    fn storage_hosts_pass() {
        for url in [
            "https://storage-us-east4.api.mailgun.net/v3/domains/x/messages/AB",
            "https://se.api.mailgun.net/v3/domains/x/messages/AB",
            "https://storage-europe-west1.api.eu.mailgun.net/v3/x?y=1",
            "https://mailgun.net",
        ] {
            assert!(is_mailgun_storage_url(url), "{url}");
        }
    }

    #[test]
    fn hostile_urls_fail() {
        for url in [
            "http://storage.api.mailgun.net/x",
            "https://evil.example/x.mailgun.net",
            "https://mailgun.net.evil.example/x",
            "https://user@storage.api.mailgun.net/x",
            "https://evil.example@storage.api.mailgun.net/x",
            "https://storage.api.mailgun.net@evil.example/x",
            "https://storage.api.mailgun.net:443/x",
            "https://storage.api.mailgun.net:8443/x",
            "https://evil.example\\.mailgun.net/x",
            "https://evil.example\\@storage.api.mailgun.net/x",
            "https://storage.api.mailgun%2enet/x",
            "https://storage.api.mailgun.net./x",
            "https://Storage.API.Mailgun.NET/x",
            "https://storage.api.mailgun.nеt/x",
            "https://xn--mailgun-xyz.net/x",
            "https://storage.xn--mailgn-3ya.net/x",
            "https://evilmailgun.net/x",
            "https:// storage.api.mailgun.net/x",
            "https://storage.api.mailgun.net/x\n",
            "https://storage..mailgun.net/x",
            "https:/storage.api.mailgun.net/x",
            "HTTPS://storage.api.mailgun.net/x",
            "//storage.api.mailgun.net/x",
            "",
        ] {
            assert!(!is_mailgun_storage_url(url), "{url:?}");
        }
    }
}
