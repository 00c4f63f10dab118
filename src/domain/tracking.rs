//! Open and click tracking, decided purely: which links of a message are
//! tracked, how they are rewritten, where the open pixel goes, and whether a
//! hit came from a person or from a machine (a privacy proxy fetching
//! images, a link scanner). See the README's "Tracking" section.

use chrono::Duration;

/// Token purpose of the open pixel (`/o/{token}.gif`).
pub const OPEN: &str = "open";

/// Token purpose of a click redirect (`/c/{token}`).
pub const CLICK: &str = "click";

/// Most links rewritten per message; any further ones are left as they are.
pub const MAX_TRACKED_LINKS: usize = 64;

/// Default for `[server] prefetch_window_secs`: hits this soon after the
/// send are taken for scanners checking the message on delivery.
pub const DEFAULT_PREFETCH_WINDOW_SECS: u64 = 10;

/// The http(s) links in `text`, in order: whitespace-separated words that
/// start with `http://` or `https://`, trailing punctuation trimmed (the same
/// rule [`super::render::text_to_html`] uses to make links clickable).
pub fn find_links(text: &str) -> Vec<&str> {
    text.split_whitespace().filter_map(link_in_word).collect()
}

/// The link a word is (without trailing punctuation), if it is one.
pub fn link_in_word(word: &str) -> Option<&str> {
    let scheme = ["https://", "http://"].into_iter().find(|s| {
        word.get(..s.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(s))
    })?;
    let url = word.trim_end_matches(['.', ',', ')', ';']);
    (url.len() > scheme.len()).then_some(url)
}

/// The links the sequence's author and the sender's settings put in a
/// step: only these are tracked. A link that arrives through a lead's own
/// values (a company or custom field holding a URL) goes out as written, so
/// nobody can obtain a signed redirect through our domain to a URL of their
/// choosing.
pub fn authored_links(template: &str, sender: &crate::domain::render::Sender) -> Vec<String> {
    let mut links: Vec<String> = Vec::new();
    for url in find_links(template)
        .into_iter()
        .chain(find_links(&sender.booking_url))
    {
        if !links.iter().any(|l| l == url) {
            links.push(url.to_string());
        }
    }
    links
}

/// The distinct links of `text` to track, in order of first appearance:
/// every http(s) link except those `keep` says to leave alone (the
/// unsubscribe link), at most [`MAX_TRACKED_LINKS`].
pub fn tracked_links(text: &str, keep: impl Fn(&str) -> bool) -> Vec<String> {
    let mut links: Vec<String> = Vec::new();
    for url in find_links(text) {
        if keep(url) || links.iter().any(|l| l == url) {
            continue;
        }
        if links.len() == MAX_TRACKED_LINKS {
            break;
        }
        links.push(url.to_string());
    }
    links
}

/// `text` with each link in `links` replaced by `replacement(index)`;
/// whitespace and everything else is kept byte for byte.
pub fn rewrite_links(
    text: &str,
    links: &[String],
    replacement: impl Fn(usize) -> String,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (word, after) = rest.split_at(word_end);
        match link_in_word(word)
            .and_then(|url| links.iter().position(|l| l == url).map(|i| (url, i)))
        {
            Some((url, index)) => {
                out.push_str(&replacement(index));
                out.push_str(&word[url.len()..]);
            }
            None => out.push_str(word),
        }
        let space_end = after
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(after.len());
        out.push_str(&after[..space_end]);
        rest = &after[space_end..];
    }
    out
}

/// `html` with a 1×1 open pixel loading `pixel_url` just before `</body>`
/// (appended when there is none). The URL is HTML-escaped.
pub fn add_pixel(html: &str, pixel_url: &str) -> String {
    let src = pixel_url
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    let img = format!(
        "<img src=\"{src}\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;border:0;width:1px;height:1px\">"
    );
    match html.rfind("</body>") {
        Some(at) => format!("{}{img}\n{}", &html[..at], &html[at..]),
        None => format!("{html}{img}"),
    }
}

/// What kind of tracking hit it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    /// The open pixel was loaded.
    Open,
    /// A tracked link was followed.
    Click,
}

impl Hit {
    /// Its name in events (`opened`, `clicked`).
    pub fn as_str(self) -> &'static str {
        match self {
            Hit::Open => "opened",
            Hit::Click => "clicked",
        }
    }
}

/// User-agent fragments of link scanners and security gateways that fetch
/// every link (and image) of a message on delivery. Lower case.
const SCANNERS: &[&str] = &[
    "safelinks",
    "microsoft office",
    "barracuda",
    "proofpoint",
    "mimecast",
    "urldefense",
    "forcepoint",
    "trendmicro",
    "trend micro",
    "symantec",
    "ironport",
    "fortiguard",
    "sophos",
    "bitdefender",
    "zscaler",
];

/// User-agent fragments of automated HTTP clients (crawlers, scripts,
/// headless browsers). Lower case.
const AUTOMATONS: &[&str] = &[
    "bot",
    "crawler",
    "spider",
    "headlesschrome",
    "phantomjs",
    "python-requests",
    "python-urllib",
    "go-http-client",
    "curl/",
    "wget/",
    "libwww",
    "java/",
    "okhttp",
    "scanner",
];

/// Image proxies that fetch an image only when the person opens the
/// message (Gmail, Yahoo): their loads are real opens. Lower case.
const OPEN_PROXIES: &[&str] = &["googleimageproxy", "yahoomailproxy"];

/// Whether a hit was made by a machine, and why; `None` for a person.
///
/// * `since_sent`: time from the send to the hit; `None` when the touch is
///   not recorded as sent yet (the hit came during delivery).
/// * `window`: hits sooner than this after the send are scanners.
///
/// The heuristic, in order: Gmail's and Yahoo's image proxies are people
/// (they fetch on open); no user agent, Apple Mail Privacy Protection (its
/// proxy sends exactly `Mozilla/5.0` and fetches every image whether the
/// message is read or not), known link scanners and automated clients are
/// machines; so is anything within `window` of the send.
pub fn machine_reason(
    hit: Hit,
    user_agent: Option<&str>,
    since_sent: Option<Duration>,
    window: Duration,
) -> Option<String> {
    let agent = user_agent.map(str::trim).unwrap_or("");
    let lower = agent.to_ascii_lowercase();
    if OPEN_PROXIES.iter().any(|p| lower.contains(p)) {
        return None;
    }
    if agent.is_empty() {
        return Some("no user agent".into());
    }
    if agent == "Mozilla/5.0" {
        return Some(match hit {
            Hit::Open => "Apple Mail Privacy Protection proxy".into(),
            Hit::Click => "bare `Mozilla/5.0` user agent (a proxy, not a browser)".into(),
        });
    }
    if let Some(name) = SCANNERS.iter().find(|s| lower.contains(*s)) {
        return Some(format!("link scanner ({name})"));
    }
    if let Some(name) = AUTOMATONS.iter().find(|s| lower.contains(*s)) {
        return Some(format!("automated client ({name})"));
    }
    match since_sent {
        None => Some("before the send was recorded (a scanner on delivery)".into()),
        Some(elapsed) if elapsed < window => Some(format!(
            "{}s after sending (scanners check on delivery; window {}s)",
            elapsed.num_seconds().max(0),
            window.num_seconds()
        )),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_authors_and_senders_links_are_authored() {
        let sender = crate::domain::render::Sender {
            booking_url: "https://cal.example.com/sam".into(),
            ..Default::default()
        };
        let template = "Hi {{ name }}, see https://example.com/guide. Book: {{ sender.booking_url }} \
                        or https://example.com/guide again; {{ company }}";
        assert_eq!(
            authored_links(template, &sender),
            vec!["https://example.com/guide", "https://cal.example.com/sam"]
        );
        // A lead whose company is a URL: rendered into the body, never authored.
        let body = "Hi Eve, see https://example.com/guide. Book: https://cal.example.com/sam \
                    or https://example.com/guide again; https://evil.example.net/login";
        let authored = authored_links(template, &sender);
        let tracked = tracked_links(body, |url| !authored.iter().any(|a| a == url));
        assert_eq!(
            tracked,
            vec!["https://example.com/guide", "https://cal.example.com/sam"]
        );
    }

    const UNSUB: &str = "https://nudge.example.com/u/tok";

    fn keep_unsubscribe(url: &str) -> bool {
        url.starts_with("https://nudge.example.com/u/")
    }

    #[test]
    fn links_are_found_deduplicated_and_the_unsubscribe_link_is_kept() {
        let text = format!(
            "See https://cal.example.com/sam. Or http://x.example/a?b=1&c=2, again https://cal.example.com/sam\nmailto:sam@example.com ftp://f.example https://\n\nUnsubscribe: {UNSUB}"
        );
        let links = tracked_links(&text, keep_unsubscribe);
        assert_eq!(
            links,
            vec!["https://cal.example.com/sam", "http://x.example/a?b=1&c=2"]
        );
        let rewritten = rewrite_links(&text, &links, |i| format!("https://t.example/c/{i}"));
        assert_eq!(
            rewritten,
            format!(
                "See https://t.example/c/0. Or https://t.example/c/1, again https://t.example/c/0\nmailto:sam@example.com ftp://f.example https://\n\nUnsubscribe: {UNSUB}"
            ),
        );
    }

    #[test]
    fn a_link_inside_parentheses_is_rewritten_only_when_it_starts_the_word() {
        // `(http://…` does not start with the scheme, so it is neither
        // linked in the HTML nor tracked: what is tracked is what is clickable.
        let links = tracked_links("(http://x.example/a)", |_| false);
        assert!(links.is_empty());
        let links = tracked_links("http://x.example/a), HTTPS://Y.example/B;", |_| false);
        assert_eq!(links, vec!["http://x.example/a", "HTTPS://Y.example/B"]);
    }

    #[test]
    fn rewriting_keeps_whitespace_and_unicode() {
        let text = "  Grüße\t https://a.example/ü\r\n\r\nEnde ";
        let links = tracked_links(text, |_| false);
        assert_eq!(links, vec!["https://a.example/ü"]);
        assert_eq!(
            rewrite_links(text, &links, |_| "X".into()),
            "  Grüße\t X\r\n\r\nEnde "
        );
    }

    #[test]
    fn at_most_the_limit_is_tracked() {
        let text: String = (0..100)
            .map(|i| format!("https://a.example/{i} "))
            .collect();
        assert_eq!(tracked_links(&text, |_| false).len(), MAX_TRACKED_LINKS);
    }

    #[test]
    fn the_pixel_goes_before_the_end_of_the_body() {
        let html = add_pixel(
            "<html><body><p>Hi</p></body></html>",
            "https://n.example/o/a\"b.gif",
        );
        assert!(
            html.ends_with("width:1px;height:1px\">\n</body></html>"),
            "{html}"
        );
        assert!(html.contains("src=\"https://n.example/o/a&quot;b.gif\""));
        assert!(add_pixel("<p>x</p>", "u").starts_with("<p>x</p><img src=\"u\""));
    }

    #[test]
    fn machines_are_told_from_people() {
        let window = Duration::seconds(10);
        let later = Some(Duration::minutes(5));
        let chrome = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
        assert_eq!(machine_reason(Hit::Open, Some(chrome), later, window), None);
        assert_eq!(
            machine_reason(Hit::Click, Some(chrome), later, window),
            None
        );
        // Gmail's proxy loads images when the message is opened: an open.
        let gmail = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)";
        assert_eq!(machine_reason(Hit::Open, Some(gmail), later, window), None);
        assert_eq!(
            machine_reason(
                Hit::Open,
                Some("YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"),
                later,
                window
            ),
            None
        );
        let apple = machine_reason(Hit::Open, Some("Mozilla/5.0"), later, window);
        assert!(apple.unwrap().contains("Apple Mail Privacy Protection"));
        assert!(machine_reason(Hit::Open, None, later, window).is_some());
        assert!(machine_reason(Hit::Open, Some("  "), later, window).is_some());
        for scanner in [
            "Mozilla/4.0 (compatible; ms-office; MSOffice 16) Microsoft Office/16.0",
            "Barracuda Sentinel (EE)",
            "Proofpoint URL Defense",
            "Mimecast-Url-Protect/1.0",
            "python-requests/2.31",
            "Mozilla/5.0 (compatible; bingbot/2.0)",
        ] {
            let why = machine_reason(Hit::Click, Some(scanner), later, window);
            assert!(why.is_some(), "{scanner}");
        }
        // A browser within seconds of the send is a scanner posing as one.
        let early = machine_reason(Hit::Click, Some(chrome), Some(Duration::seconds(3)), window);
        assert!(early.unwrap().contains("3s after sending"));
        assert!(machine_reason(Hit::Click, Some(chrome), None, window).is_some());
        assert!(
            machine_reason(
                Hit::Click,
                Some(chrome),
                Some(Duration::seconds(-2)),
                window
            )
            .is_some()
        );
        assert_eq!(
            machine_reason(
                Hit::Click,
                Some(chrome),
                Some(Duration::seconds(10)),
                window
            ),
            None
        );
        // A zero window turns the timing rule off.
        assert_eq!(
            machine_reason(
                Hit::Click,
                Some(chrome),
                Some(Duration::zero()),
                Duration::zero()
            ),
            None
        );
    }
}
