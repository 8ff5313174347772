//! Every built-in scheme's `verify` (and, once verified, its handshake) on
//! arbitrary headers, body, target and clock; see the crate docs for the
//! input format. Signed inputs (`+sign`) must verify; what verifies must
//! carry a timestamp inside the tolerance.

#![no_main]

use hookwarden::scheme::SignedRequest;
use hookwarden_fuzz::{TOLERANCE, parse, schemes, sign};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut request = parse(data);
    let entry = &schemes()[request.scheme];
    let mut body = Vec::new();
    let must_verify = if request.sign {
        sign(entry, &mut request, &mut body)
    } else {
        body.extend_from_slice(request.body);
        false
    };
    let signed =
        SignedRequest::new(&request.headers, &body, request.now, TOLERANCE).with_uri(&request.uri);
    let outcome = entry.scheme.verify(&signed);
    if must_verify {
        assert!(outcome.is_ok(), "{}: a signed request is refused: {outcome:?}", entry.name);
    }
    let Ok(verified) = outcome else { return };
    assert_eq!(verified.scheme(), entry.scheme.name());
    if let Some(timestamp) = verified.timestamp() {
        assert!(
            request.now.abs_diff(timestamp) <= TOLERANCE.as_secs(),
            "{}: verified a timestamp outside the tolerance",
            entry.name
        );
    }
    if let Some(handshake) = entry.scheme.handshake(&signed, &verified) {
        let _ = (handshake.kind(), handshake.status(), handshake.body());
    }
    let _ = entry.scheme.envelope();
});
