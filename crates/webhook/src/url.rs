//! The parts of Go's `net/url.Parse` that webhook URLs go through: validation messages and the
//! URL the client posts to must split a URL exactly where Go does.
//!
//! Hand-written instead of using the `url` crate because that crate follows the WHATWG URL
//! standard, which normalises and rejects differently from Go (it lower-cases hosts, fills in
//! paths, accepts `https:host`), so upstream's validation messages would not come out the same.

/// A URL split as Go's `url.Parse` splits it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct GoUrl {
    /// Lower-cased scheme, empty when there is none.
    pub scheme: String,
    /// `user[:password]` before `@`, when present.
    pub user: Option<String>,
    /// Host and optional port (`host:port`, `[::1]:443`).
    pub host: String,
    /// The path, unescaped as given.
    pub path: String,
    /// The query after `?`, without it.
    pub raw_query: String,
    /// The fragment after `#`, without it.
    pub fragment: String,
}

impl GoUrl {
    /// The host without its port or IPv6 brackets.
    pub fn hostname(&self) -> &str {
        let host = self.host.as_str();
        if let Some(rest) = host.strip_prefix('[') {
            return rest.split(']').next().unwrap_or_default();
        }
        match host.rsplit_once(':') {
            Some((h, _)) => h,
            None => host,
        }
    }
}

fn scheme_split(raw: &str) -> Result<(&str, &str), String> {
    for (i, c) in raw.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            '0'..='9' | '+' | '-' | '.' => return Ok(("", raw)),
            ':' if i == 0 => return Err("missing protocol scheme".into()),
            ':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

fn valid_port(port: &str) -> bool {
    port.chars().all(|c| c.is_ascii_digit())
}

fn parse_host(host: &str) -> Result<(), String> {
    if host.starts_with('[') {
        let Some(end) = host.rfind(']') else {
            return Err("missing ']' in host".into());
        };
        let rest = &host[end + 1..];
        if let Some(port) = rest.strip_prefix(':') {
            if !valid_port(port) {
                return Err(format!("invalid port {rest:?} after host"));
            }
        } else if !rest.is_empty() {
            return Err(format!("invalid port {rest:?} after host"));
        }
        return Ok(());
    }
    if let Some(i) = host.rfind(':') {
        let port = &host[i + 1..];
        if !valid_port(port) {
            return Err(format!("invalid port {:?} after host", &host[i..]));
        }
    }
    Ok(())
}

/// Parses `raw` as Go's `url.Parse` does; errors read as Go's (`parse "…": …`).
pub(crate) fn parse(raw: &str) -> Result<GoUrl, String> {
    let fail = |e: String| format!("parse {raw:?}: {e}");
    let (rest, fragment) = raw.split_once('#').unwrap_or((raw, ""));
    if rest.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(fail("net/url: invalid control character in URL".into()));
    }
    let mut url = GoUrl {
        fragment: fragment.to_string(),
        ..GoUrl::default()
    };
    if rest.is_empty() {
        return Ok(url);
    }
    let (scheme, rest) = scheme_split(rest).map_err(fail)?;
    url.scheme = scheme.to_ascii_lowercase();
    let rest = match rest.split_once('?') {
        Some((r, q)) => {
            url.raw_query = q.to_string();
            r
        }
        None => rest,
    };
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            // Opaque URL such as `https:host`: no host, no path.
            return Ok(url);
        }
        let first_segment = rest.split('/').next().unwrap_or_default();
        if first_segment.contains(':') {
            return Err(fail(
                "first path segment in URL cannot contain colon".into(),
            ));
        }
    }
    let mut rest = rest;
    if let Some(after) = rest.strip_prefix("//")
        && (!url.scheme.is_empty() || !rest.starts_with("///"))
    {
        let end = after.find('/').unwrap_or(after.len());
        let authority = &after[..end];
        rest = &after[end..];
        let host = match authority.rsplit_once('@') {
            Some((user, host)) => {
                url.user = Some(user.to_string());
                host
            }
            None => authority,
        };
        parse_host(host).map_err(fail)?;
        url.host = host.to_string();
    }
    url.path = rest.to_string();
    Ok(url)
}

/// Go's `path.Join("/", p)`: an absolute, cleaned path; `/` when empty.
pub(crate) fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_like_go() {
        let u = parse("https://user@example.com:8443/a/b?x=1#frag").unwrap();
        assert_eq!(u.scheme, "https");
        assert_eq!(u.user.as_deref(), Some("user"));
        assert_eq!(u.host, "example.com:8443");
        assert_eq!(u.hostname(), "example.com");
        assert_eq!(
            (u.path.as_str(), u.raw_query.as_str(), u.fragment.as_str()),
            ("/a/b", "x=1", "frag")
        );
        let v6 = parse("https://[::1]:443/").unwrap();
        assert_eq!(v6.hostname(), "::1");
        assert_eq!(parse("https:opaque").unwrap().host, "");
        assert_eq!(parse("example.com/x").unwrap().scheme, "");
        assert_eq!(
            parse("https://h:abc/").unwrap_err(),
            "parse \"https://h:abc/\": invalid port \":abc\" after host"
        );
        assert_eq!(
            parse("://x").unwrap_err(),
            "parse \"://x\": missing protocol scheme"
        );
    }

    #[test]
    fn paths_are_cleaned_like_go_path_join() {
        assert_eq!(clean_path(""), "/");
        assert_eq!(clean_path("/validate/"), "/validate");
        assert_eq!(clean_path("a//b/./c/../d"), "/a/b/d");
    }
}
