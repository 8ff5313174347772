//! Verification that also holds the scheme's precheck to its contract.
//! Included by path where needed.

use hookwarden::scheme::{Scheme, SignedRequest, Verified, VerifyError};

/// Verifies `request`, and checks that the scheme's precheck, given the
/// same headers, time and target with an empty body, agrees with the full
/// check: it accepts whatever `verify` accepts, and what it refuses,
/// `verify` refuses with the same error.
pub(crate) fn verify_and_precheck(
    scheme: &(impl Scheme + ?Sized),
    request: &SignedRequest<'_>,
) -> Result<Verified, VerifyError> {
    let mut headers_only =
        SignedRequest::new(request.headers(), &[], request.now(), request.tolerance());
    if let Some(uri) = request.uri() {
        headers_only = headers_only.with_uri(uri);
    }
    let early = scheme.precheck(&headers_only);
    let verified = scheme.verify(request);
    if let Err(refused) = early {
        match &verified {
            Ok(_) => {
                panic!("{}: precheck refused ({refused:?}) what verify accepts", scheme.name())
            }
            Err(error) => assert_eq!(
                refused,
                *error,
                "{}: precheck refuses with another error than verify",
                scheme.name()
            ),
        }
    }
    verified
}
