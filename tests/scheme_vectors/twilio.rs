//! Twilio: `X-Twilio-Signature`, base64 HMAC-SHA1 keyed with the auth token
//! over the URL and the sorted form parameters, or over a URL carrying
//! `bodySHA256` for JSON bodies.

use hookwarden::scheme::Twilio;
use hookwarden::testing;
use http::{StatusCode, Uri};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::layers::send_to;
use super::*;

// Twilio's docs, "Webhooks security" (https://www.twilio.com/docs/usage/security),
// the worked example: auth token, URL, POST parameters and signature.
const DOCS_TOKEN: &str = "12345";
const DOCS_URL: &str = "https://example.com/myapp.php?foo=1&bar=2";
const DOCS_PARAMS: [(&str, &str); 5] = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+14158675310"),
    ("Digits", "1234"),
    ("From", "+14158675310"),
    ("To", "+18005551212"),
];
const DOCS_SIGNATURE: &str = "L/OH5YylLD5NRKLltdqwSvS0BnU=";

// twilio/twilio-python, `tests/unit/test_request_validator.py` at
// 30368b08ba580a6c18202ab20bfc68d59559ebd7 (`ValidationTest`).
const PY_TOKEN: &str = "12345";
const PY_TARGET: &str = "/myapp.php?foo=1&bar=2";
const PY_FORM: &str = "CallSid=CA1234567890ABCDE&Digits=1234&From=%2B14158675309&To=%2B18005551212&Caller=%2B14158675309";
const PY_EXPECTED: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
// `test_validation_removes_port_on_http`: the URL with port 1234, over http.
const PY_HTTP_1234: &str = "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=";
// `test_validation_adds_port_on_https` / `_on_http`: signed with the
// default port written out.
const PY_HTTPS_443: &str = "kvajT1Ptam85bY51eRf/AJRuM3w=";
const PY_HTTP_80: &str = "0ZXoZLH/DfblKGATFgpif+LLRf4=";
// `test_compute_signature_duplicate_multi_dict`: a name given twice.
const PY_DUPLICATE_FORM: &str = "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234";
const PY_DUPLICATE_EXPECTED: &str = "IK+Dwps556ElfBT0I3Rgjkr1wJU=";
// `test_compute_hash_unicode` and `test_validation_of_body_succeeds`: a
// JSON body, its digest in the URL, and the signature of that URL alone.
const PY_JSON: &[u8] = br#"{"property": "value", "boolean": true}"#;
const PY_JSON_HASH: &str = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
const PY_JSON_SIGNATURE: &str = "a9nBmqA0ju/hNViExpshrM61xv4=";

const HEADER: &str = "x-twilio-signature";
const OTHER_TOKEN: &str = "a-previous-auth-token";

fn docs_scheme() -> Twilio {
    Twilio::new([DOCS_TOKEN], "https://example.com").unwrap()
}

fn py_scheme(public_url: &str) -> Twilio {
    Twilio::new([PY_TOKEN], public_url).unwrap()
}

fn form(params: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish()
}

fn signed(signature: &str) -> HeaderMap {
    headers(&[(HEADER, signature)])
}

/// Verifies as `VerifyLayer` would call the scheme: with the request's
/// target (path and query, or an absolute URI).
fn at(scheme: &Twilio, target: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), VerifyError> {
    let uri: Uri = target.parse().expect("a valid target");
    verify_and_precheck(scheme, &SignedRequest::new(headers, body, 0, TOLERANCE).with_uri(&uri))
        .map(drop)
}

fn docs(signature: &str, body: &str) -> Result<(), VerifyError> {
    at(&docs_scheme(), "/myapp.php?foo=1&bar=2", &signed(signature), body.as_bytes())
}

#[test]
fn docs_vector_verifies() {
    let body = form(&DOCS_PARAMS);
    // `+` is percent-encoded in a form: a bare `+` would be a space.
    assert!(body.contains("%2B14158675310"), "{body}");
    assert_eq!(docs(DOCS_SIGNATURE, &body), Ok(()));
    // The parameters in any order: they are sorted before signing.
    let mut shuffled = DOCS_PARAMS;
    shuffled.reverse();
    assert_eq!(docs(DOCS_SIGNATURE, &form(&shuffled)), Ok(()));
    assert_eq!(
        docs(DOCS_SIGNATURE, &body.replace("%2B", "+")),
        Err(VerifyError::InvalidSignature),
        "`+` decodes to a space"
    );
}

#[test]
fn signer_reproduces_the_published_signatures() {
    assert_eq!(testing::twilio(DOCS_TOKEN, DOCS_URL, &DOCS_PARAMS), signed(DOCS_SIGNATURE));
    let py_url = format!("https://mycompany.com{PY_TARGET}");
    let params: Vec<(String, String)> =
        form_urlencoded::parse(PY_FORM.as_bytes()).into_owned().collect();
    let params: Vec<(&str, &str)> = params.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    assert_eq!(testing::twilio(PY_TOKEN, &py_url, &params), signed(PY_EXPECTED));
    let json_url = format!("{py_url}&bodySHA256={PY_JSON_HASH}");
    assert_eq!(testing::twilio(PY_TOKEN, &json_url, &[]), signed(PY_JSON_SIGNATURE));
}

#[test]
fn sdk_vectors_verify() {
    let sent = signed(PY_EXPECTED);
    assert_eq!(
        at(&py_scheme("https://mycompany.com"), PY_TARGET, &sent, PY_FORM.as_bytes()),
        Ok(())
    );
    // A trailing slash on the public URL is the same origin.
    assert_eq!(
        at(&py_scheme("https://mycompany.com/"), PY_TARGET, &sent, PY_FORM.as_bytes()),
        Ok(())
    );
    // `test_validation_removes_port_on_https`: configured with a port, a
    // signature over the URL without it verifies.
    assert_eq!(
        at(&py_scheme("https://mycompany.com:1234"), PY_TARGET, &sent, PY_FORM.as_bytes()),
        Ok(())
    );
    let cases = [
        ("http://mycompany.com:1234", PY_HTTP_1234),
        ("https://mycompany.com", PY_HTTPS_443),
        ("https://mycompany.com:443", PY_EXPECTED),
        ("http://mycompany.com", PY_HTTP_80),
        ("http://mycompany.com:80", PY_HTTP_80),
    ];
    for (public_url, signature) in cases {
        assert_eq!(
            at(&py_scheme(public_url), PY_TARGET, &signed(signature), PY_FORM.as_bytes()),
            Ok(()),
            "{public_url} {signature}"
        );
    }
    // A port is not a wildcard: another port's signature does not verify.
    assert_eq!(
        at(
            &py_scheme("https://mycompany.com:8443"),
            PY_TARGET,
            &signed(PY_HTTPS_443),
            PY_FORM.as_bytes()
        ),
        Err(VerifyError::InvalidSignature)
    );
    assert_eq!(
        at(&py_scheme("https://mycompany.com"), PY_TARGET, &signed(PY_HTTP_80), PY_FORM.as_bytes()),
        Err(VerifyError::InvalidSignature),
        "the scheme is signed"
    );
}

#[test]
fn a_name_given_twice_is_sorted_by_value() {
    let sent = signed(PY_DUPLICATE_EXPECTED);
    let scheme = py_scheme("https://mycompany.com");
    assert_eq!(at(&scheme, PY_TARGET, &sent, PY_DUPLICATE_FORM.as_bytes()), Ok(()));
    let reordered = "Digits=1234&SidAccount=AC123&Digits=5678&Sid=CA123";
    assert_eq!(at(&scheme, PY_TARGET, &sent, reordered.as_bytes()), Ok(()));
    let changed = "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1235";
    assert_eq!(
        at(&scheme, PY_TARGET, &sent, changed.as_bytes()),
        Err(VerifyError::InvalidSignature)
    );
}

#[test]
fn json_body_vector_verifies() {
    let scheme = py_scheme("https://mycompany.com");
    let target = format!("{PY_TARGET}&bodySHA256={PY_JSON_HASH}");
    let hash: String = Sha256::digest(PY_JSON).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hash, PY_JSON_HASH, "`test_compute_hash_unicode`");
    assert_eq!(at(&scheme, &target, &signed(PY_JSON_SIGNATURE), PY_JSON), Ok(()));
    // Uppercase hex names the same digest, but the URL is signed as sent.
    let upper = format!("{PY_TARGET}&bodySHA256={}", PY_JSON_HASH.to_ascii_uppercase());
    assert_eq!(
        at(&scheme, &upper, &signed(PY_JSON_SIGNATURE), PY_JSON),
        Err(VerifyError::InvalidSignature)
    );
}

#[test]
fn json_body_negatives() {
    let scheme = py_scheme("https://mycompany.com");
    let target = format!("{PY_TARGET}&bodySHA256={PY_JSON_HASH}");
    let sent = signed(PY_JSON_SIGNATURE);
    // The signature is right, the body is not the one it names.
    let changed = br#"{"property": "value", "boolean": false}"#;
    assert_eq!(at(&scheme, &target, &sent, changed), Err(VerifyError::InvalidSignature));
    assert_eq!(
        at(&scheme, &target, &sent, &reserialised(PY_JSON)),
        Err(VerifyError::InvalidSignature)
    );
    // A digest that matches the new body is not signed.
    let forged_hash: String = Sha256::digest(changed).iter().map(|b| format!("{b:02x}")).collect();
    let forged = format!("{PY_TARGET}&bodySHA256={forged_hash}");
    assert_eq!(at(&scheme, &forged, &sent, changed), Err(VerifyError::InvalidSignature));
    // Not a SHA-256 in hex, or given twice with different values.
    for bad in ["", "0a1f", "zz1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"] {
        let target = format!("{PY_TARGET}&bodySHA256={bad}");
        assert_eq!(
            at(&scheme, &target, &sent, PY_JSON),
            Err(VerifyError::MalformedSignature),
            "{bad:?}"
        );
    }
    let twice = format!("{target}&bodySHA256={forged_hash}");
    assert_eq!(at(&scheme, &twice, &sent, PY_JSON), Err(VerifyError::MalformedSignature));
    let same_twice = format!("{target}&bodySHA256={PY_JSON_HASH}");
    assert_eq!(
        at(&scheme, &same_twice, &sent, PY_JSON),
        Err(VerifyError::InvalidSignature),
        "signed as sent"
    );
    // Without the digest the body is read as a form: no match.
    assert_eq!(at(&scheme, PY_TARGET, &sent, PY_JSON), Err(VerifyError::InvalidSignature));
}

#[test]
fn tampered_form_url_or_token_is_invalid() {
    let body = form(&DOCS_PARAMS);
    assert_eq!(
        docs(DOCS_SIGNATURE, &body.replace("Digits=1234", "Digits=1235")),
        Err(VerifyError::InvalidSignature)
    );
    assert_eq!(
        docs(DOCS_SIGNATURE, &format!("{body}&Extra=1")),
        Err(VerifyError::InvalidSignature)
    );
    let scheme = docs_scheme();
    for target in [
        "/myapp.php?foo=2&bar=2",
        "/myapp.php?bar=2&foo=1",
        "/myapp.php",
        "/other.php?foo=1&bar=2",
        "/myapp.php?foo=1&bar=2&",
    ] {
        assert_eq!(
            at(&scheme, target, &signed(DOCS_SIGNATURE), body.as_bytes()),
            Err(VerifyError::InvalidSignature),
            "{target}"
        );
    }
    let wrong = Twilio::new([OTHER_TOKEN], "https://example.com").unwrap();
    assert_eq!(
        at(&wrong, "/myapp.php?foo=1&bar=2", &signed(DOCS_SIGNATURE), body.as_bytes()),
        Err(VerifyError::InvalidSignature)
    );
    let elsewhere = Twilio::new([DOCS_TOKEN], "https://example.org").unwrap();
    assert_eq!(
        at(&elsewhere, "/myapp.php?foo=1&bar=2", &signed(DOCS_SIGNATURE), body.as_bytes()),
        Err(VerifyError::InvalidSignature)
    );
}

#[test]
fn the_authority_in_the_request_is_never_used() {
    let body = form(&DOCS_PARAMS);
    // An absolute request target naming another host: only its path and
    // query are read; the configured origin is what is signed.
    let absolute = "http://attacker.example:8080/myapp.php?foo=1&bar=2";
    assert_eq!(at(&docs_scheme(), absolute, &signed(DOCS_SIGNATURE), body.as_bytes()), Ok(()));
    // A signature the attacker made for their own host does not verify.
    let theirs = testing::twilio(DOCS_TOKEN, absolute, &DOCS_PARAMS);
    assert_eq!(
        at(&docs_scheme(), absolute, &theirs, body.as_bytes()),
        Err(VerifyError::InvalidSignature)
    );
}

#[test]
fn without_the_request_target_nothing_verifies() {
    let body = form(&DOCS_PARAMS);
    assert_eq!(
        outcome(&docs_scheme(), &signed(DOCS_SIGNATURE), body.as_bytes(), 0),
        Err(VerifyError::InvalidSignature)
    );
}

#[test]
fn missing_signature() {
    let body = form(&DOCS_PARAMS);
    assert_eq!(
        at(&docs_scheme(), "/myapp.php?foo=1&bar=2", &HeaderMap::new(), body.as_bytes()),
        Err(VerifyError::MissingSignature)
    );
}

#[test]
fn malformed_signatures() {
    let body = form(&DOCS_PARAMS);
    let sha256_sized = "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4=";
    let hex = "2ff387e58ca52c3e5144a2e5b5dab04af4b40675";
    let url_safe = DOCS_SIGNATURE.replace('/', "_");
    let unpadded = DOCS_SIGNATURE.trim_end_matches('=');
    let longer = format!("{DOCS_SIGNATURE}A");
    for bad in ["", "=", sha256_sized, hex, &url_safe, unpadded, &DOCS_SIGNATURE[..20], &longer] {
        assert_eq!(docs(bad, &body), Err(VerifyError::MalformedSignature), "{bad:?}");
    }
    // Non-canonical base64: the unused low bits of the last digit set.
    let mut noncanonical = DOCS_SIGNATURE.to_owned().into_bytes();
    noncanonical[26] = b'V';
    let noncanonical = String::from_utf8(noncanonical).unwrap();
    assert_eq!(docs(&noncanonical, &body), Err(VerifyError::MalformedSignature));
}

#[test]
fn repeated_signature_header() {
    let body = form(&DOCS_PARAMS);
    let scheme = docs_scheme();
    let same = repeated(&signed(DOCS_SIGNATURE), HEADER, DOCS_SIGNATURE);
    assert_eq!(at(&scheme, "/myapp.php?foo=1&bar=2", &same, body.as_bytes()), Ok(()));
    let different = repeated(&signed(DOCS_SIGNATURE), HEADER, PY_EXPECTED);
    assert_eq!(
        at(&scheme, "/myapp.php?foo=1&bar=2", &different, body.as_bytes()),
        Err(VerifyError::MalformedSignature)
    );
}

#[test]
fn parameter_count_is_bounded() {
    let scheme = docs_scheme();
    let many: Vec<(String, String)> =
        (0..Twilio::MAX_PARAMETERS).map(|i| (format!("P{i:04}"), i.to_string())).collect();
    let pairs: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let url = "https://example.com/many";
    let at_limit = testing::twilio(DOCS_TOKEN, url, &pairs);
    assert_eq!(at(&scheme, "/many", &at_limit, form(&pairs).as_bytes()), Ok(()));
    let over = format!("{}&one=more", form(&pairs));
    assert_eq!(
        at(&scheme, "/many", &at_limit, over.as_bytes()),
        Err(VerifyError::MalformedSignature)
    );
}

#[test]
fn no_timestamp_so_no_window() {
    let body = form(&DOCS_PARAMS);
    for now in [0, u64::MAX] {
        let uri: Uri = "/myapp.php?foo=1&bar=2".parse().unwrap();
        let sent = signed(DOCS_SIGNATURE);
        let request = SignedRequest::new(&sent, body.as_bytes(), now, TOLERANCE).with_uri(&uri);
        assert!(verify_and_precheck(&docs_scheme(), &request).is_ok());
    }
}

#[test]
fn rotation() {
    let body = form(&DOCS_PARAMS);
    let rotated = Twilio::new([OTHER_TOKEN, DOCS_TOKEN], "https://example.com").unwrap();
    assert_eq!(
        at(&rotated, "/myapp.php?foo=1&bar=2", &signed(DOCS_SIGNATURE), body.as_bytes()),
        Ok(())
    );
    let neither = Twilio::new([OTHER_TOKEN, "third"], "https://example.com").unwrap();
    assert_eq!(
        at(&neither, "/myapp.php?foo=1&bar=2", &signed(DOCS_SIGNATURE), body.as_bytes()),
        Err(VerifyError::InvalidSignature)
    );
}

#[test]
fn debug_hides_the_token() {
    let secret = "a-secret-auth-token-value";
    assert_debug_hides_secret(&Twilio::new([secret], "https://example.com").unwrap(), secret);
    assert_debug_hides_secret(
        &Twilio::new([OTHER_TOKEN, secret], "https://example.com").unwrap(),
        OTHER_TOKEN,
    );
}

#[test]
fn configuration_errors() {
    assert!(Twilio::new(Vec::<&str>::new(), "https://example.com").is_err());
    assert!(Twilio::new([""], "https://example.com").is_err());
    for url in [
        "",
        "example.com",
        "/sms",
        "ftp://example.com",
        "https://example.com/sms",
        "https://example.com?x=1",
        "https://user:pass@example.com",
    ] {
        assert!(Twilio::new([DOCS_TOKEN], url).is_err(), "{url:?}");
    }
    assert!(Twilio::new([DOCS_TOKEN], "https://[::1]:8443").is_ok());
}

// A status callback as Twilio sends it (parameters from Twilio's messaging
// status callback docs), signed with the test signer.
const STATUS: [(&str, &str); 8] = [
    ("AccountSid", "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"),
    ("ApiVersion", "2010-04-01"),
    ("From", "+15017122661"),
    ("MessageSid", "SM1342fe1b2c904d1ab04f0fc7a58abca9"),
    ("MessageStatus", "delivered"),
    ("SmsSid", "SM1342fe1b2c904d1ab04f0fc7a58abca9"),
    ("SmsStatus", "delivered"),
    ("To", "+15558675310"),
];

fn digest(body: &[u8]) -> String {
    Sha256::digest(body).iter().map(|b| format!("{b:02x}")).collect()
}

fn form_delivery(params: &[(&str, &str)], target: &str) -> (HeaderMap, String) {
    let mut sent = testing::twilio(DOCS_TOKEN, &format!("https://example.com{target}"), params);
    sent.insert("content-type", "application/x-www-form-urlencoded".parse().unwrap());
    (sent, form(params))
}

#[tokio::test]
async fn envelope_of_a_status_callback() {
    let (mut sent, body) = form_delivery(&STATUS, "/twilio/status");
    sent.insert(
        "i-twilio-idempotency-token",
        "e5a0bd4c-6c15-4a87-9d6c-8fa2e3a6f2a1".parse().unwrap(),
    );
    let answer = send_to(docs_scheme(), "/twilio/status", sent.clone(), body.as_bytes(), 0).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json());
    assert_eq!(
        answer.json(),
        json!({
            "scheme": "twilio",
            "id": "e5a0bd4c-6c15-4a87-9d6c-8fa2e3a6f2a1",
            "id_signed": false,
            "type": "delivered",
            "version": "1",
            "timestamp": null,
            "key": format!("twilio:sha256:{}", digest(body.as_bytes())),
        })
    );
    // Without the (unsigned) token header, the SID is the id; the key is
    // still the body digest.
    sent.remove("i-twilio-idempotency-token");
    let answer = send_to(docs_scheme(), "/twilio/status", sent, body.as_bytes(), 0).await;
    assert_eq!(answer.json()["id"], "SM1342fe1b2c904d1ab04f0fc7a58abca9");
    assert_eq!(answer.json()["id_signed"], true);
    assert_eq!(answer.json()["key"], format!("twilio:sha256:{}", digest(body.as_bytes())));
}

#[tokio::test]
async fn each_status_of_a_message_is_its_own_event() {
    let mut keys = Vec::new();
    for status in ["queued", "sent", "delivered"] {
        let mut params = STATUS;
        params[4] = ("MessageStatus", status);
        params[6] = ("SmsStatus", status);
        let (sent, body) = form_delivery(&params, "/twilio/status");
        let answer = send_to(docs_scheme(), "/twilio/status", sent, body.as_bytes(), 0).await;
        assert_eq!(answer.json()["type"], status);
        assert_eq!(answer.json()["id"], "SM1342fe1b2c904d1ab04f0fc7a58abca9");
        keys.push(answer.json()["key"].as_str().unwrap().to_owned());
    }
    keys.dedup();
    assert_eq!(keys.len(), 3, "one SID, three dedupe keys: {keys:?}");
}

#[tokio::test]
async fn envelope_of_calls_and_plain_requests() {
    let call = [
        ("AccountSid", "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"),
        ("CallSid", "CA1234567890ABCDE"),
        ("CallStatus", "ringing"),
    ];
    let (sent, body) = form_delivery(&call, "/twilio/voice?tenant=7");
    let answer = send_to(docs_scheme(), "/twilio/voice?tenant=7", sent, body.as_bytes(), 0).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json());
    assert_eq!(answer.json()["id"], "CA1234567890ABCDE");
    assert_eq!(answer.json()["type"], "ringing");
    // No status parameter: the default type.
    let (sent, body) = form_delivery(&DOCS_PARAMS[..1], "/twilio/gather");
    let answer = send_to(docs_scheme(), "/twilio/gather", sent, body.as_bytes(), 0).await;
    assert_eq!(answer.json()["type"], Twilio::DEFAULT_TYPE);
    assert_eq!(answer.json()["id"], "CA1234567890ABCDE");
}

#[tokio::test]
async fn envelope_of_a_json_delivery() {
    let target = format!("{PY_TARGET}&bodySHA256={PY_JSON_HASH}");
    let sent = with(&signed(PY_JSON_SIGNATURE), "host", "attacker.example");
    let answer = send_to(py_scheme("https://mycompany.com"), &target, sent, PY_JSON, 0).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json());
    assert_eq!(answer.json()["type"], Twilio::DEFAULT_TYPE);
    assert_eq!(answer.json()["id"], PY_JSON_HASH);
    assert_eq!(answer.json()["key"], format!("twilio:sha256:{PY_JSON_HASH}"));
}

#[tokio::test]
async fn no_handshake_and_nothing_unsigned_gets_through() {
    let (sent, body) = form_delivery(&STATUS, "/twilio/status");
    let answer =
        send_to(docs_scheme(), "/twilio/status", without(&sent, HEADER), body.as_bytes(), 0).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.json()["error"], "missing_signature");
    // Signed for one path, sent to another.
    let answer = send_to(docs_scheme(), "/twilio/other", sent, body.as_bytes(), 0).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.json()["error"], "invalid_signature");
    assert_eq!(answer.content_type(), Some("application/json"));
}
