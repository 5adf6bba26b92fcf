//! AWS Signature Version 4 (header form) for the requests SCALE makes to AWS.
//!
//! Pure: the signing time is an argument, so AWS's published test-suite vectors pin it.
//! Spec: <https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// An access key pair, with the session token of temporary credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `AWS_ACCESS_KEY_ID`: named in the signature's scope.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`: the signing key's root; never sent or printed.
    pub secret_access_key: String,
    /// `AWS_SESSION_TOKEN` of temporary credentials, sent as `x-amz-security-token`.
    pub session_token: Option<String>,
}

// Never print the secret or the token.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What gets signed.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The HTTP method, upper case.
    pub method: &'a str,
    /// The Host header as sent: with `:port` when the port is not the scheme's default.
    pub host: &'a str,
    /// Already URI-encoded absolute path; used as the canonical URI as is.
    pub path: &'a str,
    /// Raw (not yet encoded) query pairs.
    pub query: &'a [(String, String)],
    /// Further headers to sign and send (e.g. content-type), besides host and x-amz-*.
    pub headers: &'a [(String, String)],
    /// The payload exactly as sent; its SHA-256 is signed.
    pub body: &'a [u8],
}

/// The result of signing, with the intermediate strings for checking against the suite.
#[derive(Debug, Clone)]
pub struct Signed {
    /// Method, path, query, headers, signed header names and payload hash, newline-separated.
    pub canonical_request: String,
    /// Algorithm, time, scope and the canonical request's hash.
    pub string_to_sign: String,
    /// HMAC-SHA256 of the string to sign with the derived key, hex.
    pub signature: String,
    /// Headers the caller adds to the request: x-amz-date, x-amz-security-token when the
    /// credentials carry one, and authorization.
    pub headers: Vec<(String, String)>,
}

impl Signed {
    /// The `authorization` header's value; empty if absent (never, after [`sign`]).
    pub fn authorization(&self) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Signs `req` for `service` in `region` at time `at`.
pub fn sign(creds: &Credentials, region: &str, service: &str, req: &Request<'_>, at: DateTime<Utc>) -> Signed {
    let amz_date = at.format("%Y%m%dT%H%M%SZ").to_string();
    let date = at.format("%Y%m%d").to_string();

    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), req.host.to_string()),
        ("x-amz-date".into(), amz_date.clone()),
    ];
    if let Some(token) = &creds.session_token {
        headers.push(("x-amz-security-token".into(), token.clone()));
    }
    for (k, v) in req.headers {
        headers.push((k.to_ascii_lowercase(), v.clone()));
    }
    let canonical_headers = canonical_headers(&headers);
    let signed_headers = canonical_headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let header_block: String = canonical_headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();

    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        if req.path.is_empty() { "/" } else { req.path },
        canonical_query(req.query),
        header_block,
        signed_headers,
        hex(&Sha256::digest(req.body)),
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );

    let key = signing_key(&creds.secret_access_key, &date, region, service);
    let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        creds.access_key_id
    );

    let mut out = vec![("x-amz-date".to_string(), amz_date)];
    if let Some(token) = &creds.session_token {
        out.push(("x-amz-security-token".into(), token.clone()));
    }
    out.push(("authorization".into(), authorization));
    Signed {
        canonical_request,
        string_to_sign,
        signature,
        headers: out,
    }
}

/// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    ring::hmac::sign(&key, data).as_ref().to_vec()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Lower-case names, trimmed values with inner runs of spaces collapsed, sorted by name;
/// repeated names join their values with commas in the order given.
fn canonical_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![];
    let mut sorted: Vec<&(String, String)> = headers.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0)); // stable: keeps the order of repeated names
    for (k, v) in sorted {
        let v = v.split_whitespace().collect::<Vec<_>>().join(" ");
        match out.last_mut() {
            Some((last, vals)) if last == k => {
                vals.push(',');
                vals.push_str(&v);
            }
            _ => out.push((k.clone(), v)),
        }
    }
    out
}

/// Each name and value URI-encoded, pairs sorted by encoded name then value.
pub fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = query.iter().map(|(k, v)| (uri_encode(k), uri_encode(v))).collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// RFC 3986 encoding as SigV4 wants it: everything but `A-Za-z0-9-_.~` as upper-case %XX.
pub fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    // Vectors from AWS's Signature Version 4 test suite, published at
    // https://docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html and kept in
    // github.com/awslabs/aws-c-auth under tests/aws-signing-test-suite/v4/ (get-vanilla,
    // get-vanilla-query-order-key-case, post-x-www-form-urlencoded; the classic variant without
    // content-length or x-amz-content-sha256 among the signed headers). All sign at
    // 2015-08-30T12:36:00Z for service "service" in us-east-1 with the suite's example key.
    fn suite_creds(token: Option<&str>) -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: token.map(str::to_string),
        }
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2015, 8, 30, 12, 36, 0).unwrap()
    }

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn aws_test_suite_vectors() {
        let q = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        let form = q(&[("Content-Type", "application/x-www-form-urlencoded")]);
        // (name, method, query, extra headers, body, canonical request, signature)
        type Case = (
            &'static str,
            &'static str,
            Vec<(String, String)>,
            Vec<(String, String)>,
            &'static [u8],
            String,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            (
                "get-vanilla",
                "GET",
                vec![],
                vec![],
                b"",
                format!(
                    "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n{EMPTY_SHA256}"
                ),
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
            (
                "get-vanilla-query-order-key-case",
                "GET",
                q(&[("Param2", "value2"), ("Param1", "value1")]),
                vec![],
                b"",
                format!(
                    "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n{EMPTY_SHA256}"
                ),
                "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            ),
            (
                "post-x-www-form-urlencoded",
                "POST",
                vec![],
                form,
                b"Param1=value1",
                "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e".to_string(),
                "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
            ),
        ];
        for (name, method, query, headers, body, creq, sig) in cases {
            let req = Request {
                method,
                host: "example.amazonaws.com",
                path: "/",
                query: &query,
                headers: &headers,
                body,
            };
            let s = sign(&suite_creds(None), "us-east-1", "service", &req, at());
            assert_eq!(s.canonical_request, creq, "{name}");
            assert_eq!(s.signature, sig, "{name}");
            let signed = creq.lines().rev().nth(1).unwrap();
            assert_eq!(
                s.authorization(),
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={signed}, Signature={sig}"
                ),
                "{name}"
            );
            assert_eq!(s.headers[0], ("x-amz-date".into(), "20150830T123600Z".into()));
        }
    }

    #[test]
    fn string_to_sign_of_post_vector() {
        let headers = vec![(
            "Content-Type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        )];
        let req = Request {
            method: "POST",
            host: "example.amazonaws.com",
            path: "/",
            query: &[],
            headers: &headers,
            body: b"Param1=value1",
        };
        let s = sign(&suite_creds(None), "us-east-1", "service", &req, at());
        assert_eq!(
            s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281"
        );
    }

    #[test]
    fn session_token_is_signed_and_sent() {
        let req = Request {
            method: "GET",
            host: "example.amazonaws.com",
            path: "/",
            query: &[],
            headers: &[],
            body: b"",
        };
        let s = sign(&suite_creds(Some("tok en")), "us-east-1", "service", &req, at());
        assert!(s.canonical_request.contains("\nx-amz-security-token:tok en\n"));
        assert!(
            s.authorization()
                .contains("SignedHeaders=host;x-amz-date;x-amz-security-token,")
        );
        assert!(s.headers.contains(&("x-amz-security-token".into(), "tok en".into())));
        // A different token changes the signature.
        let other = sign(&suite_creds(Some("other")), "us-east-1", "service", &req, at());
        assert_ne!(s.signature, other.signature);
    }

    #[test]
    fn encoding_and_header_folding() {
        assert_eq!(uri_encode("a b/c~d=é"), "a%20b%2Fc~d%3D%C3%A9");
        let h = canonical_headers(&[
            ("my-header1".into(), "  a   b  ".into()),
            ("host".into(), "h".into()),
            ("my-header1".into(), "c".into()),
        ]);
        assert_eq!(
            h,
            vec![("host".into(), "h".into()), ("my-header1".into(), "a b,c".into())]
        );
        assert_eq!(
            canonical_query(&[
                ("b".into(), "2".into()),
                ("a".into(), "x y".into()),
                ("A".into(), "0".into())
            ]),
            "A=0&a=x%20y&b=2"
        );
    }

    #[test]
    fn debug_redacts_secrets() {
        let s = format!("{:?}", suite_creds(Some("tok")));
        assert!(!s.contains("wJalr") && !s.contains("tok\""), "{s}");
    }
}
