//! The strict check on the URLs of a `store()` notification.
//!
//! An application fetches a stored message's `message-url` (and its attachments' URLs) with
//! its Mailgun **API key**, and the email's sender can add a header of the same name, which
//! Mailgun posts as a field too. So a URL is taken only when the host that an HTTP client
//! (reqwest, a browser: anything built on the WHATWG URL standard) would connect to is
//! `mailgun.net` or one of its subdomains, over `https`, on the default port.
//!
//! The host is read by a WHATWG parser (the `url` crate), never by splitting strings: a naive
//! split reads `https://attacker.example\.mailgun.net/` as a Mailgun host, while WHATWG
//! parsers treat the backslash as a path separator and connect to `attacker.example`. On top of
//! that, anything a real Mailgun URL never contains is refused before parsing, so that no
//! difference between parsers can matter: backslashes, whitespace, control and non-ASCII
//! characters (IDN look-alikes), user info (`@`), an explicit port, a percent escape in the
//! host, and any scheme but `https`.

use url::{Host, Url};

/// True when `url` is an `https` URL whose host, as a WHATWG parser reads it, is `mailgun.net`
/// or a subdomain of it, with no user info and no explicit port.
pub(crate) fn is_mailgun_storage_url(url: &str) -> bool {
    // 1. Characters that a Mailgun URL never has, and that parsers disagree about.
    if !url.bytes().all(|b| b.is_ascii_graphic()) || url.contains('\\') {
        return false;
    }
    // 2. `https://` then the authority, written plainly: no extra slashes, no user info, no
    //    port, no percent escapes.
    let Some(scheme_end) = url.find("://") else {
        return false;
    };
    if !url
        .get(..scheme_end)
        .is_some_and(|s| s.eq_ignore_ascii_case("https"))
    {
        return false;
    }
    let rest = url.get(scheme_end + 3..).unwrap_or_default();
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains(['@', ':', '%', '[', ']']) {
        return false;
    }
    // 3. What a WHATWG client would connect to.
    let Ok(parsed) = Url::parse(url) else {
        return false;
    };
    if parsed.scheme() != "https"
        || !parsed.username().is_empty()
        || parsed.password().is_some()
        || parsed.port().is_some()
    {
        return false;
    }
    let Some(Host::Domain(host)) = parsed.host() else {
        return false;
    };
    // The parser lowercases; the raw authority must name the same host (no mapping happened).
    if !host.eq_ignore_ascii_case(authority) {
        return false;
    }
    let labels_ok = host
        .split('.')
        .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    labels_ok && (host == "mailgun.net" || host.ends_with(".mailgun.net"))
}

#[cfg(test)]
mod tests {
    use super::is_mailgun_storage_url as ok;

    #[test]
    fn real_storage_urls_pass() {
        for good in [
            "https://storage-us-east4.api.mailgun.net/v3/domains/x/messages/AB",
            "https://se.api.mailgun.net/v3/domains/x/messages/AB",
            "https://storage-europe-west1.api.eu.mailgun.net/v3/x",
            "https://mailgun.net/",
            "https://mailgun.net",
            "https://STORAGE.API.MAILGUN.NET/v3/x",
            "HTTPS://storage.api.mailgun.net/v3/x",
            "https://storage.api.mailgun.net/v3/x?a=1#f",
        ] {
            assert!(ok(good), "{good}");
        }
    }

    #[test]
    fn hostile_urls_fail() {
        for bad in [
            // A WHATWG parser reads the backslash as a path separator: host attacker.example.
            "https://attacker.example\\.mailgun.net/v3/x",
            "https://attacker.example\\@storage.mailgun.net/",
            // User info, in every spelling.
            "https://user@storage.api.mailgun.net/x",
            "https://api.mailgun.net@evil.example/",
            "https://a:b@storage.mailgun.net/",
            "https://evil.example%40storage.mailgun.net/",
            // Percent escapes in the host.
            "https://storage%2emailgun.net/",
            "https://evil.example%2f.mailgun.net/",
            "https://mailgun%2enet/",
            // Trailing dot, empty labels.
            "https://storage.mailgun.net./x",
            "https://.mailgun.net/",
            "https://a..mailgun.net/",
            // Explicit ports, even the default one.
            "https://storage.mailgun.net:443/x",
            "https://storage.mailgun.net:8443/x",
            // Other schemes and shapes.
            "http://storage.api.mailgun.net/x",
            "ftp://storage.mailgun.net/",
            "javascript:alert(1)",
            "https:storage.mailgun.net/x",
            "https:///storage.mailgun.net/x",
            "//storage.mailgun.net/x",
            "storage.mailgun.net/x",
            "",
            // Other hosts.
            "https://evil.example/x.mailgun.net",
            "https://mailgun.net.evil.example/x",
            "https://evilmailgun.net/",
            "https://evil.example?.mailgun.net",
            "https://evil.example#.mailgun.net",
            "https://[::1]/.mailgun.net",
            "https://127.0.0.1/",
            // Whitespace and control characters.
            "https://storage.mailgun.net /x",
            " https://storage.mailgun.net/x",
            "https://evil.example\t.mailgun.net/",
            "https://evil.example\n.mailgun.net/",
            "https://storage.mailgun.net/\0",
            // IDN look-alikes: Cyrillic е, fullwidth dot, dotless ı.
            "https://storage.mailgun.n\u{0435}t/",
            "https://storage.mailgun\u{3002}net/",
            "https://storage.ma\u{0131}lgun.net/",
            "https://xn--mailgun-.net/",
        ] {
            assert!(!ok(bad), "{bad:?}");
        }
    }
}
