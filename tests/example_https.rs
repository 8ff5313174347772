//! The example receiver, run as a process the way an operator runs it, on
//! 127.0.0.1: HTTPS with `--tls-cert`/`--tls-key` and a certificate
//! reloaded on SIGHUP, `--require-https` directly and behind a proxy, and
//! `--client-ip-header` picking the header the proxy writes.

#[allow(dead_code)]
mod common;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hookwarden::testing;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The example binary, built by `cargo test` beside the test binaries.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = dir.join("examples").join("receiver");
    assert!(binary.exists(), "{} is built by `cargo test`", binary.display());
    binary
}

/// The example receiver, listening on a free port.
struct Receiver {
    child: Child,
    addr: SocketAddr,
    /// Everything it wrote to stderr so far.
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    fn start(args: &[&str]) -> Self {
        let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let mut child = Command::new(example_binary())
            .args(["--secret", SECRET, "--listen", &addr.to_string()])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        for line in lines.by_ref() {
            let line = line.unwrap();
            let listening = line.contains("listening on");
            stderr.lock().unwrap().push(line);
            if listening {
                break;
            }
        }
        let collected = stderr.clone();
        std::thread::spawn(move || lines.for_each(|line| collected.lock().unwrap().extend(line)));
        Self { child, addr, stderr }
    }

    fn stderr_contains(&self, text: &str) -> bool {
        self.stderr.lock().unwrap().iter().any(|line| line.contains(text))
    }

    async fn post_plain(&self, id: &str, extra: &[(&str, &str)]) -> (StatusCode, String) {
        let stream = TcpStream::connect(self.addr).await.unwrap();
        send(stream, delivery(id, extra)).await.unwrap()
    }

    /// Stops the receiver and returns what it printed on stdout: one line
    /// per handled event.
    fn stop(mut self) -> String {
        self.child.kill().unwrap();
        let output = self.child.wait_with_output().unwrap();
        String::from_utf8(output.stdout).unwrap()
    }
}

/// Runs the example with `args` to its end (it refuses them): its exit
/// code and stderr.
fn refused(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(example_binary()).args(args).stdin(Stdio::null()).output().unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A signed Standard Webhooks delivery of the demo's event, with `extra`
/// headers.
fn delivery(id: &str, extra: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let body = format!(
        r#"{{"type":"user.registered","timestamp":"{}","data":{{"user_id":"u1","email":"a@example.com","username":"a","registered_at":"2026-01-01T00:00:00Z"}}}}"#,
        now()
    );
    let mut headers: HeaderMap = testing::standard_webhooks(SECRET, id, now(), body.as_bytes());
    headers.insert(http::header::HOST, "localhost".parse().unwrap());
    for (name, value) in extra {
        headers
            .append(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
    }
    testing::request("/webhooks", headers, body)
}

/// Sends one HTTP/1.1 request over `io`: the status and body.
async fn send<IO>(
    io: IO,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, String), hyper::Error>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn code(body: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    json["error"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn client_ip_header_picks_the_header_the_proxy_writes() {
    // The test connects from 127.0.0.1, the trusted proxy; the senders it
    // speaks for are in 192.0.2.0/24.
    let proxy = ["--allow", "192.0.2.0/24", "--trust-proxy", "127.0.0.1"];

    let forwarded = Receiver::start(&[&proxy[..], &["--client-ip-header", "forwarded"]].concat());
    let (status, body) =
        forwarded.post_plain("msg_fwd_1", &[("forwarded", "for=192.0.2.7;proto=https")]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, body) =
        forwarded.post_plain("msg_fwd_2", &[("x-forwarded-for", "192.0.2.7")]).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::FORBIDDEN, "ip_not_allowed"));
    let (status, _) = forwarded.post_plain("msg_fwd_3", &[("forwarded", "for=203.0.113.9")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    forwarded.stop();

    let real_ip = Receiver::start(&[&proxy[..], &["--client-ip-header", "X-Real-IP"]].concat());
    let (status, body) = real_ip.post_plain("msg_real_1", &[("x-real-ip", "192.0.2.8")]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, _) = real_ip.post_plain("msg_real_2", &[("x-forwarded-for", "192.0.2.8")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    real_ip.stop();

    // The default is X-Forwarded-For, as before.
    let xff = Receiver::start(&proxy);
    let (status, body) = xff.post_plain("msg_xff_1", &[("x-forwarded-for", "192.0.2.9")]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, _) = xff.post_plain("msg_xff_2", &[("forwarded", "for=192.0.2.9")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    xff.stop();

    let (exit, stderr) = refused(&["--client-ip-header", "forwarded"]);
    assert_eq!(exit, Some(2));
    assert!(stderr.contains("--trust-proxy"), "{stderr}");
}

#[tokio::test]
async fn require_https_behind_a_proxy() {
    let direct = Receiver::start(&["--require-https"]);
    assert!(direct.stderr_contains("every delivery is refused"));
    let (status, body) = direct.post_plain("msg_rh_1", &[("x-forwarded-proto", "https")]).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::FORBIDDEN, "https_required"));
    assert_eq!(direct.stop(), "", "a refused delivery is never handled");

    let behind_proxy = Receiver::start(&["--require-https", "--trust-proxy", "127.0.0.1"]);
    let (status, body) =
        behind_proxy.post_plain("msg_rh_2", &[("x-forwarded-proto", "https")]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, body) =
        behind_proxy.post_plain("msg_rh_3", &[("x-forwarded-proto", "http")]).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::FORBIDDEN, "https_required"));
    let (status, _) = behind_proxy.post_plain("msg_rh_4", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    behind_proxy.stop();

    let forwarded = Receiver::start(&[
        "--require-https",
        "--trust-proxy",
        "127.0.0.1",
        "--client-ip-header",
        "forwarded",
    ]);
    let (status, body) =
        forwarded.post_plain("msg_rh_5", &[("forwarded", "for=192.0.2.7;proto=https")]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, _) = forwarded.post_plain("msg_rh_6", &[("x-forwarded-proto", "https")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    forwarded.stop();
}

#[test]
fn tls_flags_go_together() {
    let (exit, stderr) = refused(&["--tls-cert", "cert.pem"]);
    assert_eq!(exit, Some(2));
    assert!(stderr.contains("--tls-cert and --tls-key go together"), "{stderr}");
    let help = Command::new(example_binary()).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for flag in ["--tls-cert PEM --tls-key PEM", "--require-https", "--client-ip-header"] {
        assert!(help.contains(flag), "--help lists {flag}");
    }
}

#[cfg(not(feature = "tls"))]
#[test]
fn the_example_serves_https_with_the_tls_feature() {
    common::skip("the example over HTTPS: built without the `tls` feature");
}

#[cfg(feature = "tls")]
mod tls {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    use rustls::pki_types::{CertificateDer, ServerName};

    use super::*;

    /// A CA for one test, and its server certificates for `localhost`.
    struct Ca(CertifiedIssuer<'static, KeyPair>);

    impl Ca {
        fn new() -> Self {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, "hookwarden test CA");
            Self(CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap())
        }

        /// Writes a new server certificate and key to `dir`, and returns
        /// the certificate.
        fn issue(&self, dir: &Path) -> CertificateDer<'static> {
            let key = KeyPair::generate().unwrap();
            let params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
            let cert = params.signed_by(&key, &self.0).unwrap();
            for (name, text) in [("cert.pem", cert.pem()), ("key.pem", key.serialize_pem())] {
                std::fs::write(dir.join(format!("{name}.new")), text).unwrap();
                std::fs::rename(dir.join(format!("{name}.new")), dir.join(name)).unwrap();
            }
            cert.der().clone()
        }

        /// A verified TLS connection to `addr`, and the certificate shown.
        async fn connect(
            &self,
            addr: SocketAddr,
        ) -> (tokio_rustls::client::TlsStream<TcpStream>, CertificateDer<'static>) {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(self.0.der().clone()).unwrap();
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
            let tcp = TcpStream::connect(addr).await.unwrap();
            let stream =
                connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
            let shown = stream.get_ref().1.peer_certificates().unwrap()[0].clone().into_owned();
            (stream, shown)
        }
    }

    fn sighup(pid: u32) -> bool {
        match Command::new("kill").args(["-HUP", &pid.to_string()]).status() {
            Ok(status) => status.success(),
            Err(_) => false,
        }
    }

    #[tokio::test]
    async fn https_with_a_certificate_reloaded_on_sighup() {
        let dir =
            std::env::temp_dir().join(format!("hookwarden-example-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ca = Ca::new();
        let first = ca.issue(&dir);
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let receiver = Receiver::start(&[
            "--require-https",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ]);
        assert!(
            receiver.stderr_contains(&format!("listening on https://{}/webhooks", receiver.addr))
        );

        // A signed event over TLS is accepted and handled.
        let (stream, shown) = ca.connect(receiver.addr).await;
        assert_eq!(shown, first);
        let (status, body) = send(stream, delivery("msg_https_1", &[])).await.unwrap();
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");

        // Plain HTTP on the HTTPS port gets no 2xx.
        let plain = TcpStream::connect(receiver.addr).await.unwrap();
        let answer =
            tokio::time::timeout(Duration::from_secs(10), send(plain, delivery("msg_plain", &[])))
                .await
                .expect("the server answers or hangs up");
        if let Ok((status, _)) = answer {
            assert!(!status.is_success(), "plain HTTP on the HTTPS port got {status}");
        }

        // A renewed certificate, and SIGHUP: served without a restart,
        // well before the 10-second file check would notice.
        let second = ca.issue(&dir);
        if !sighup(receiver.child.id()) {
            common::skip(
                "https_with_a_certificate_reloaded_on_sighup: no `kill` program to send SIGHUP",
            );
            receiver.stop();
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while ca.connect(receiver.addr).await.1 != second {
            assert!(Instant::now() < deadline, "SIGHUP did not reload the certificate");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (stream, _) = ca.connect(receiver.addr).await;
        let (status, body) = send(stream, delivery("msg_https_2", &[])).await.unwrap();
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(receiver.stderr_contains("TLS certificate reloaded (SIGHUP)"));

        let stdout = receiver.stop();
        for id in ["msg_https_1", "msg_https_2"] {
            assert!(stdout.contains(&format!("\"id\":\"{id}\"")), "{id} handled: {stdout}");
        }
        assert!(!stdout.contains("msg_plain"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unusable_certificates_are_refused_at_startup() {
        let (exit, stderr) =
            refused(&["--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"]);
        assert_eq!(exit, Some(2));
        assert!(stderr.contains("cannot read /nonexistent/cert.pem"), "{stderr}");
    }
}
