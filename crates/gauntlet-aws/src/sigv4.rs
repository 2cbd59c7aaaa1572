//! AWS Signature Version 4 for header-signed requests (the non-S3 variant).
//!
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::crypto::{hex, hmac_sha256, sha256_hex};
use crate::{AwsError, Credentials};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Headers that [`sign`] produces itself; caller-supplied copies are ignored.
const GENERATED: [&str; 3] = ["authorization", "x-amz-date", "x-amz-security-token"];

/// Who signs, for which region and service, and when.
#[derive(Clone, Copy, Debug)]
pub struct SigningParams<'a> {
    pub credentials: &'a Credentials,
    pub region: &'a str,
    /// The signing name, e.g. `bedrock` for the `bedrock-runtime` endpoint.
    pub service: &'a str,
    pub time: SystemTime,
}

/// Signs a request: returns the headers to add (`x-amz-date`, `x-amz-security-token` when a
/// session token is set, `authorization`), names lowercase.
///
/// `headers` are the request's other headers that must be signed (at least `host` and
/// `content-type`; `host` is derived from the URL if absent, without a default port). The
/// URL's path is canonicalised the non-S3 way: dot segments and empty segments removed, then
/// every segment URI-encoded again, so a Bedrock model id with `:` (sent as `%3A` on the
/// wire) is signed as `%253A`. The query string is canonicalised: pairs percent-decoded,
/// strictly re-encoded and sorted. The payload hash is the SHA-256 of `body`.
pub fn sign(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    params: &SigningParams,
) -> Result<Vec<(String, String)>, AwsError> {
    let (amz_date, date) = crate::time::amz_date(params.time)?;
    let parsed = parse_url(url)?;

    let mut signed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        let name = name.trim().to_ascii_lowercase();
        if !GENERATED.contains(&name.as_str()) {
            signed.entry(name).or_default().push(value.clone());
        }
    }
    signed
        .entry("host".to_owned())
        .or_insert_with(|| vec![parsed.host.clone()]);
    let mut added = vec![("x-amz-date".to_owned(), amz_date.clone())];
    if let Some(token) = &params.credentials.session_token {
        added.push(("x-amz-security-token".to_owned(), token.clone()));
    }
    for (name, value) in &added {
        signed.insert(name.clone(), vec![value.clone()]);
    }

    let (canonical, signed_names) = canonical_request(
        method,
        parsed.path,
        parsed.query,
        &signed,
        &sha256_hex(body),
    );
    let scope = format!("{date}/{}/{}/aws4_request", params.region, params.service);
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );

    let secret = format!("AWS4{}", params.credentials.secret_access_key);
    let k_date = hmac_sha256(secret.as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, params.region.as_bytes());
    let k_service = hmac_sha256(&k_region, params.service.as_bytes());
    let k_signing = hmac_sha256(&k_service, b"aws4_request");
    let signature = hex(&hmac_sha256(&k_signing, string_to_sign.as_bytes()));

    added.push((
        "authorization".to_owned(),
        format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_names}, Signature={signature}",
            params.credentials.access_key_id
        ),
    ));
    Ok(added)
}

/// The canonical request and the `;`-joined signed header names.
fn canonical_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &BTreeMap<String, Vec<String>>,
    payload_hash: &str,
) -> (String, String) {
    let mut canonical_headers = String::new();
    for (name, values) in headers {
        let values: Vec<String> = values
            .iter()
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let signed_names = headers
        .keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(";");
    let canonical = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_names}\n{payload_hash}",
        method.to_ascii_uppercase(),
        canonical_uri(path),
        canonical_query(query),
    );
    (canonical, signed_names)
}

/// The parts of a URL that signing needs.
struct ParsedUrl<'a> {
    /// `host` or `host:port` (the port only when not the scheme's default), lowercase.
    host: String,
    path: &'a str,
    query: &'a str,
}

fn parse_url(url: &str) -> Result<ParsedUrl<'_>, AwsError> {
    let invalid = |reason: &str| AwsError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid("no scheme"))?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return Err(invalid("the scheme is not http or https")),
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let (authority, path_and_query) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = authority.rsplit('@').next().unwrap_or_default();
    // The port is after the last ':' unless that ':' is inside an IPv6 literal.
    let (host, port) = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => (&authority[..i], Some(&authority[i + 1..])),
        _ => (authority, None),
    };
    if host.is_empty() {
        return Err(invalid("no host"));
    }
    let host = match port {
        Some(p) if !p.is_empty() && p != default_port => format!("{host}:{p}"),
        _ => host.to_owned(),
    };
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    Ok(ParsedUrl {
        host: host.to_ascii_lowercase(),
        path,
        query,
    })
}

/// The path with dot and empty segments removed, then every byte other than unreserved
/// characters and `/` percent-encoded (so existing `%XX` escapes are encoded again).
fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut normalised = format!("/{}", segments.join("/"));
    if path.ends_with('/') && !segments.is_empty() {
        normalised.push('/');
    }
    encode(normalised.as_bytes(), true)
}

/// `key=value` pairs decoded, strictly re-encoded, sorted by key then value, joined by `&`.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                encode(&percent_decode(key), false),
                encode(&percent_decode(value), false),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// RFC 3986 encoding of everything but unreserved characters (and `/` when `keep_slash`).
fn encode(bytes: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{:02X}", b));
        }
    }
    out
}

/// `%XX` escapes decoded; a `%` not followed by two hex digits is kept literally. `+` is
/// kept as `+` (it is not a space in SigV4).
fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex_value(h).zip(hex_value(l)),
            _ => None,
        };
        match escaped {
            Some((h, l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

fn hex_value(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_and_encoded_again() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(
            canonical_uri("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"),
            "/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse"
        );
        assert_eq!(canonical_uri("/a/./b/../c//d/"), "/a/c/d/");
        assert_eq!(canonical_uri("/../x"), "/x");
        assert_eq!(canonical_uri("/sp ace/ü"), "/sp%20ace/%C3%BC");
    }

    #[test]
    fn queries_are_sorted_and_strictly_encoded() {
        assert_eq!(canonical_query(""), "");
        assert_eq!(
            canonical_query("Version=2010-05-08&Action=ListUsers"),
            "Action=ListUsers&Version=2010-05-08"
        );
        assert_eq!(
            canonical_query("b=two%20words&a=1&a=0&c=x~y&flag"),
            "a=0&a=1&b=two%20words&c=x~y&flag="
        );
        assert_eq!(
            canonical_query("k=a+b&k2=%zz&k3=%2f%2F"),
            "k=a%2Bb&k2=%25zz&k3=%2F%2F"
        );
    }

    #[test]
    fn hosts_drop_default_ports_only() {
        let host = |u| parse_url(u).unwrap().host;
        assert_eq!(host("https://Example.com:443/x"), "example.com");
        assert_eq!(host("http://example.com:80"), "example.com");
        assert_eq!(host("http://127.0.0.1:8080/x?y"), "127.0.0.1:8080");
        assert_eq!(host("https://user@h.example?q"), "h.example");
        assert_eq!(host("https://[::1]:8443/"), "[::1]:8443");
        assert_eq!(host("https://[::1]/"), "[::1]");
        let parsed = parse_url("https://h/p/q?a=1#frag").unwrap();
        assert_eq!((parsed.path, parsed.query), ("/p/q", "a=1"));
    }

    #[test]
    fn bad_urls_are_rejected() {
        assert!(parse_url("example.com/x").is_err());
        assert!(parse_url("ftp://example.com/x").is_err());
        assert!(parse_url("https:///x").is_err());
    }

    #[test]
    fn header_values_are_trimmed_and_repeats_joined() {
        let mut headers = BTreeMap::new();
        headers.insert("host".to_owned(), vec!["h".to_owned()]);
        headers.insert(
            "x-multi".to_owned(),
            vec!["  a   b ".to_owned(), "c".to_owned()],
        );
        let (canonical, names) = canonical_request("get", "/", "", &headers, "ph");
        assert_eq!(names, "host;x-multi");
        assert_eq!(
            canonical,
            "GET\n/\n\nhost:h\nx-multi:a b,c\n\nhost;x-multi\nph"
        );
    }
}
