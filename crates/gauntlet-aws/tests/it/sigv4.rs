//! SigV4 against published and botocore-generated vectors.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gauntlet_aws::{Credentials, SigningParams, sign};

const ACCESS_KEY: &str = "AKIDEXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "FQoGZXIvYXdzEXAMPLETOKEN//////////wEaDEXAMPLE+/=";

const CONVERSE_URL: &str = "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse";
const CONVERSE_BODY: &[u8] =
    br#"{"messages":[{"role":"user","content":[{"text":"Hello"}]}],"inferenceConfig":{"maxTokens":64}}"#;

// The expected Authorization values below come from botocore 1.44.5's SigV4Auth
// (botocore.auth.SigV4Auth(credentials, "bedrock", region).add_auth on an AWSRequest with
// the same method, URL, headers and body, the clock fixed at 2024-05-01T12:34:56Z).
const BOTOCORE_CONVERSE: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240501/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=50b51635c3cce37ce39d176b540f8186445191f15320b63b2a86b4d04e5d9407";
const BOTOCORE_CONVERSE_TOKEN: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240501/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=e0eedb1d5cc26273513c4ae7b23d79b64943bc4a19a985f4a2c160351434bd9b";
const BOTOCORE_STREAM_QUERY: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240501/eu-west-3/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=9f503551f13372b87ec30bfe3d9717682cd359d08f1959e1bbcbc3413d6a934c";

fn creds(token: Option<&str>) -> Credentials {
    Credentials {
        access_key_id: ACCESS_KEY.to_owned(),
        secret_access_key: SECRET_KEY.to_owned(),
        session_token: token.map(str::to_owned),
    }
}

/// 2024-05-01T12:34:56Z
fn may_first() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_714_566_896)
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn get<'a>(signed: &'a [(String, String)], name: &str) -> Option<&'a str> {
    signed
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn aws_documentation_iam_list_users_example() {
    let creds = creds(None);
    let params = SigningParams {
        credentials: &creds,
        region: "us-east-1",
        service: "iam",
        time: UNIX_EPOCH + Duration::from_secs(1_440_938_160), // 20150830T123600Z
    };
    let signed = sign(
        "GET",
        "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08",
        &headers(&[(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )]),
        b"",
        &params,
    )
    .unwrap();
    assert_eq!(get(&signed, "x-amz-date"), Some("20150830T123600Z"));
    assert_eq!(get(&signed, "x-amz-security-token"), None);
    assert_eq!(
        get(&signed, "authorization"),
        Some(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        )
    );
    assert_eq!(signed.len(), 2);
}

#[test]
fn bedrock_converse_matches_botocore() {
    let creds = creds(None);
    let params = SigningParams {
        credentials: &creds,
        region: "us-east-1",
        service: "bedrock",
        time: may_first(),
    };
    let hdrs = headers(&[
        ("host", "bedrock-runtime.us-east-1.amazonaws.com"),
        ("content-type", "application/json"),
    ]);
    let signed = sign("POST", CONVERSE_URL, &hdrs, CONVERSE_BODY, &params).unwrap();
    assert_eq!(get(&signed, "x-amz-date"), Some("20240501T123456Z"));
    assert_eq!(get(&signed, "authorization"), Some(BOTOCORE_CONVERSE));
    // The host is derived from the URL when not given.
    let without_host = headers(&[("Content-Type", "application/json")]);
    let derived = sign("POST", CONVERSE_URL, &without_host, CONVERSE_BODY, &params).unwrap();
    assert_eq!(derived, signed);
    // A different body changes the signature.
    let other = sign("POST", CONVERSE_URL, &hdrs, b"{}", &params).unwrap();
    assert_ne!(get(&other, "authorization"), Some(BOTOCORE_CONVERSE));
}

#[test]
fn bedrock_converse_with_session_token_matches_botocore() {
    let creds = creds(Some(TOKEN));
    let params = SigningParams {
        credentials: &creds,
        region: "us-east-1",
        service: "bedrock",
        time: may_first(),
    };
    let hdrs = headers(&[
        ("host", "bedrock-runtime.us-east-1.amazonaws.com"),
        ("content-type", "application/json"),
    ]);
    let signed = sign("POST", CONVERSE_URL, &hdrs, CONVERSE_BODY, &params).unwrap();
    let names: Vec<&str> = signed.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["x-amz-date", "x-amz-security-token", "authorization"]
    );
    assert_eq!(get(&signed, "x-amz-security-token"), Some(TOKEN));
    assert_eq!(get(&signed, "authorization"), Some(BOTOCORE_CONVERSE_TOKEN));
}

#[test]
fn converse_stream_with_query_string_matches_botocore() {
    let creds = creds(None);
    let params = SigningParams {
        credentials: &creds,
        region: "eu-west-3",
        service: "bedrock",
        time: may_first(),
    };
    let url = "https://bedrock-runtime.eu-west-3.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream?b=two%20words&a=1&a=0&c=x~y";
    let hdrs = headers(&[
        ("content-type", "application/json"),
        ("host", "bedrock-runtime.eu-west-3.amazonaws.com"),
    ]);
    let signed = sign("POST", url, &hdrs, CONVERSE_BODY, &params).unwrap();
    assert_eq!(get(&signed, "authorization"), Some(BOTOCORE_STREAM_QUERY));
}

#[test]
fn caller_supplied_generated_headers_are_replaced() {
    let creds = creds(None);
    let params = SigningParams {
        credentials: &creds,
        region: "us-east-1",
        service: "bedrock",
        time: may_first(),
    };
    let hdrs = headers(&[
        ("host", "bedrock-runtime.us-east-1.amazonaws.com"),
        ("content-type", "application/json"),
        ("Authorization", "Bearer stale"),
        ("X-Amz-Date", "19990101T000000Z"),
    ]);
    let signed = sign("POST", CONVERSE_URL, &hdrs, CONVERSE_BODY, &params).unwrap();
    assert_eq!(get(&signed, "authorization"), Some(BOTOCORE_CONVERSE));
}

#[test]
fn invalid_inputs_are_errors() {
    let creds = creds(None);
    let mut params = SigningParams {
        credentials: &creds,
        region: "us-east-1",
        service: "bedrock",
        time: may_first(),
    };
    assert!(sign("POST", "not a url", &[], b"", &params).is_err());
    params.time = UNIX_EPOCH - Duration::from_secs(1);
    assert!(sign("POST", CONVERSE_URL, &[], b"", &params).is_err());
}
