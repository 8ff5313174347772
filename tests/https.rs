//! HTTPS over real sockets on 127.0.0.1: `hookwarden::tls` serves a
//! receiver with a certificate made here by a test CA (rcgen), refuses
//! plain HTTP on its port and serves a reloaded certificate without a
//! restart; `require_https` is checked both ways, directly and behind a
//! trusted or untrusted proxy.

#[cfg(not(feature = "tls"))]
#[allow(dead_code)]
mod common;

#[cfg(not(feature = "tls"))]
#[test]
fn https_needs_the_tls_feature() {
    common::skip("HTTPS: built without the `tls` feature");
}

#[cfg(feature = "tls")]
mod with_tls {
    use std::convert::Infallible;
    use std::net::SocketAddr;
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use axum::Router;
    use axum::routing::get;
    use bytes::Bytes;
    use hookwarden::event::Event;
    use hookwarden::https::{ForwardedProto, RequireHttpsLayer};
    use hookwarden::router::EventRouter;
    use hookwarden::scheme::StandardWebhooks;
    use hookwarden::tls::{self, TlsConfig};
    use hookwarden::{Receiver, testing};
    use http::{HeaderMap, Request, StatusCode};
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::TokioIo;
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    use rustls::pki_types::{CertificateDer, ServerName};
    use tokio::io::{AsyncRead, AsyncWrite};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::mpsc;
    use tokio_rustls::TlsConnector;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    /// A certificate authority made for one test, and the client that trusts
    /// it (and nothing else).
    struct Ca {
        issuer: CertifiedIssuer<'static, KeyPair>,
    }

    /// A server certificate for `localhost`, in PEM, and its DER to compare
    /// with what a server presents.
    struct Leaf {
        cert_pem: String,
        key_pem: String,
        der: CertificateDer<'static>,
    }

    impl Ca {
        fn new() -> Self {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, "hookwarden test CA");
            Self {
                issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
            }
        }

        fn leaf(&self) -> Leaf {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(vec!["localhost".to_owned()])
                .unwrap()
                .signed_by(&key, &self.issuer)
                .unwrap();
            Leaf { cert_pem: cert.pem(), key_pem: key.serialize_pem(), der: cert.der().clone() }
        }

        fn connector(&self) -> TlsConnector {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(self.issuer.der().clone()).unwrap();
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            TlsConnector::from(Arc::new(config))
        }
    }

    /// A TLS connection to `addr`, verified against the CA, and the server
    /// certificate it presented.
    async fn connect_tls(
        ca: &Ca,
        addr: SocketAddr,
    ) -> (tokio_rustls::client::TlsStream<TcpStream>, CertificateDer<'static>) {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let stream = ca.connector().connect(name, tcp).await.unwrap();
        let leaf = stream.get_ref().1.peer_certificates().unwrap()[0].clone().into_owned();
        (stream, leaf)
    }

    /// The certificate a new connection to `addr` is shown.
    async fn presented(ca: &Ca, addr: SocketAddr) -> CertificateDer<'static> {
        connect_tls(ca, addr).await.1
    }

    /// Sends one HTTP/1.1 request over `io`: the status and JSON body, or the
    /// error the connection ended with.
    async fn send<IO>(
        io: IO,
        request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Bytes), hyper::Error>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
        tokio::spawn(connection);
        let response = sender.send_request(request).await?;
        let status = response.status();
        Ok((status, response.into_body().collect().await?.to_bytes()))
    }

    fn now() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
    }

    /// A signed Standard Webhooks delivery with `extra` headers.
    fn delivery(id: &str, extra: &[(&str, &str)]) -> Request<Full<Bytes>> {
        let body = format!(r#"{{"type":"ping","id":"{id}","data":{{}}}}"#);
        let mut headers: HeaderMap = testing::standard_webhooks(SECRET, id, now(), body.as_bytes());
        headers.insert(http::header::HOST, "localhost".parse().unwrap());
        for (name, value) in extra {
            headers.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        testing::request("/webhooks", headers, body)
    }

    fn error_code(body: &Bytes) -> String {
        let json: serde_json::Value = serde_json::from_slice(body).unwrap();
        json["error"].as_str().unwrap_or_default().to_owned()
    }

    /// A receiver that reports every handled event's id.
    fn receiver(https: Option<RequireHttpsLayer>) -> (Receiver, mpsc::UnboundedReceiver<String>) {
        let (handled, events) = mpsc::unbounded_channel();
        let router = EventRouter::new().catch_all_raw(move |event: Event<()>| {
            let _ = handled.send(event.id().to_owned());
            async { Ok::<_, Infallible>(()) }
        });
        let mut builder =
            Receiver::builder(StandardWebhooks::new([SECRET]).unwrap()).router(router);
        if let Some(https) = https {
            builder = builder.require_https(https);
        }
        (builder.build().unwrap(), events)
    }

    fn app(receiver: &Receiver) -> Router {
        Router::new().route_service("/webhooks", receiver.service())
    }

    /// Serves `app` over TLS on a free port.
    async fn serve_tls(tls: TlsConfig, app: Router) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { tls::serve(listener, tls, app).await.unwrap() });
        addr
    }

    /// Serves `app` over plain HTTP on a free port, with the peer address.
    async fn serve_plain(app: Router) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .await
                .unwrap()
        });
        addr
    }

    async fn send_plain(addr: SocketAddr, request: Request<Full<Bytes>>) -> (StatusCode, Bytes) {
        send(TcpStream::connect(addr).await.unwrap(), request).await.unwrap()
    }

    async fn send_tls(
        ca: &Ca,
        addr: SocketAddr,
        request: Request<Full<Bytes>>,
    ) -> (StatusCode, Bytes) {
        send(connect_tls(ca, addr).await.0, request).await.unwrap()
    }

    #[tokio::test]
    async fn a_signed_event_over_tls_is_accepted_and_handled() {
        let ca = Ca::new();
        let leaf = ca.leaf();
        let tls = TlsConfig::from_pem(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes()).unwrap();
        let (receiver, mut events) = receiver(Some(RequireHttpsLayer::new()));
        let addr = serve_tls(tls, app(&receiver)).await;

        let (stream, presented) = connect_tls(&ca, addr).await;
        assert_eq!(presented, leaf.der);
        let (status, body) = send(stream, delivery("msg_tls_1", &[])).await.unwrap();
        assert_eq!(status, StatusCode::ACCEPTED, "{body:?}");
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["status"], "accepted");
        let handled = tokio::time::timeout(Duration::from_secs(5), events.recv()).await.unwrap();
        assert_eq!(handled.as_deref(), Some("msg_tls_1"));
    }

    #[tokio::test]
    async fn plain_http_on_the_tls_port_is_refused() {
        let ca = Ca::new();
        let leaf = ca.leaf();
        let tls = TlsConfig::from_pem(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes()).unwrap();
        let (receiver, mut events) = receiver(None);
        let addr = serve_tls(tls, app(&receiver)).await;

        let stream = TcpStream::connect(addr).await.unwrap();
        let answer =
            tokio::time::timeout(Duration::from_secs(10), send(stream, delivery("msg_plain", &[])))
                .await
                .expect("the server answers or hangs up");
        if let Ok((status, _)) = answer {
            assert!(!status.is_success(), "plain HTTP on the TLS port got {status}");
        }
        assert_eq!(receiver.handle().stats().accepted, 0);
        assert!(events.try_recv().is_err());
        // The port still serves TLS.
        let (status, _) = send_tls(&ca, addr, delivery("msg_after_plain", &[])).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }

    /// A fresh directory for certificate files.
    fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hookwarden-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write(dir: &std::path::Path, cert: &str, key: &str) {
        // Written beside and renamed, as deployment tools do.
        for (name, text) in [("cert.pem", cert), ("key.pem", key)] {
            std::fs::write(dir.join(format!("{name}.new")), text).unwrap();
            std::fs::rename(dir.join(format!("{name}.new")), dir.join(name)).unwrap();
        }
    }

    #[tokio::test]
    async fn a_reloaded_certificate_is_served_without_a_restart() {
        let ca = Ca::new();
        let (first, second, third) = (ca.leaf(), ca.leaf(), ca.leaf());
        let dir = scratch_dir("tls-reload");
        write(&dir, &first.cert_pem, &first.key_pem);
        let tls = TlsConfig::from_pem_files(dir.join("cert.pem"), dir.join("key.pem")).unwrap();
        let (receiver, _events) = receiver(Some(RequireHttpsLayer::new()));
        let addr = serve_tls(tls.clone(), app(&receiver)).await;
        assert_eq!(presented(&ca, addr).await, first.der);

        // An open connection keeps its certificate; a new one gets the new one.
        let (open, _) = connect_tls(&ca, addr).await;
        write(&dir, &second.cert_pem, &second.key_pem);
        tls.reload().unwrap();
        assert_eq!(presented(&ca, addr).await, second.der);
        let (status, _) = send(open, delivery("msg_open", &[])).await.unwrap();
        assert_eq!(status, StatusCode::ACCEPTED);

        // A bad pair (the third certificate with the first key) is refused,
        // and the second certificate stays.
        write(&dir, &third.cert_pem, &first.key_pem);
        let error = tls.reload().unwrap_err().to_string();
        assert!(error.contains("does not match"), "{error}");
        assert_eq!(presented(&ca, addr).await, second.der);

        // Watching the files: the fixed pair is picked up by itself.
        let watcher = tls.reload_when_changed(Duration::from_millis(50)).unwrap();
        write(&dir, &third.cert_pem, &third.key_pem);
        let deadline = Instant::now() + Duration::from_secs(10);
        while presented(&ca, addr).await != third.der {
            assert!(Instant::now() < deadline, "the changed files were not reloaded");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (status, _) = send_tls(&ca, addr, delivery("msg_third", &[])).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        watcher.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn require_https_refuses_plain_http_and_lets_tls_through() {
        let ca = Ca::new();
        let leaf = ca.leaf();
        let tls = TlsConfig::from_pem(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes()).unwrap();
        let (receiver, _events) = receiver(Some(RequireHttpsLayer::new()));
        let plain = serve_plain(app(&receiver)).await;
        let secure = serve_tls(tls.clone(), app(&receiver)).await;

        let (status, body) = send_plain(plain, delivery("msg_a", &[])).await;
        assert_eq!((status, error_code(&body).as_str()), (StatusCode::FORBIDDEN, "https_required"));
        // Without trusted proxies, nobody's forwarding headers count.
        let headers = [("x-forwarded-proto", "https"), ("forwarded", "for=192.0.2.7;proto=https")];
        let (status, body) = send_plain(plain, delivery("msg_a", &headers)).await;
        assert_eq!((status, error_code(&body).as_str()), (StatusCode::FORBIDDEN, "https_required"));
        let (status, _) = send_tls(&ca, secure, delivery("msg_a", &[])).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(receiver.handle().stats().accepted, 1);

        // The layer alone, around any route.
        let hello = Router::new()
            .route("/hello", get(|| async { "hello" }))
            .layer(RequireHttpsLayer::new());
        let get_hello =
            || Request::get("/hello").header("host", "localhost").body(Full::default()).unwrap();
        let (status, body) = send_plain(serve_plain(hello.clone()).await, get_hello()).await;
        assert_eq!((status, error_code(&body).as_str()), (StatusCode::FORBIDDEN, "https_required"));
        let (status, body) = send_tls(&ca, serve_tls(tls, hello).await, get_hello()).await;
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"hello"[..]));
    }

    #[tokio::test]
    async fn require_https_believes_only_trusted_proxies() {
        // 127.0.0.1, where the test connects from, is the proxy.
        let trusted =
            |source| RequireHttpsLayer::new().trust_proxies(["127.0.0.1"], source).unwrap();
        let (behind_xfp, _e1) = receiver(Some(trusted(ForwardedProto::XForwardedProto)));
        let (behind_forwarded, _e2) = receiver(Some(trusted(ForwardedProto::Forwarded)));
        // A proxy elsewhere: 127.0.0.1 is an ordinary client.
        let untrusted = RequireHttpsLayer::new()
            .trust_proxies(["192.0.2.1"], ForwardedProto::XForwardedProto)
            .unwrap();
        let (elsewhere, _e3) = receiver(Some(untrusted));
        let (xfp, forwarded, untrusted) = (
            serve_plain(app(&behind_xfp)).await,
            serve_plain(app(&behind_forwarded)).await,
            serve_plain(app(&elsewhere)).await,
        );

        type Case<'a> = (SocketAddr, &'a [(&'a str, &'a str)], StatusCode);
        let cases: &[Case] = &[
            (xfp, &[("x-forwarded-proto", "https")], StatusCode::ACCEPTED),
            (xfp, &[("x-forwarded-proto", "http")], StatusCode::FORBIDDEN),
            (xfp, &[], StatusCode::FORBIDDEN),
            // The proxy appended its `http` to what the sender wrote.
            (xfp, &[("x-forwarded-proto", "https, http")], StatusCode::FORBIDDEN),
            (xfp, &[("forwarded", "for=192.0.2.7;proto=https")], StatusCode::FORBIDDEN),
            (forwarded, &[("forwarded", "for=192.0.2.7;proto=https")], StatusCode::ACCEPTED),
            (forwarded, &[("forwarded", "proto=https")], StatusCode::ACCEPTED),
            (forwarded, &[("forwarded", "for=192.0.2.7;proto=http")], StatusCode::FORBIDDEN),
            (
                forwarded,
                &[("forwarded", "for=192.0.2.7;proto=https;proto=https")],
                StatusCode::FORBIDDEN,
            ),
            (forwarded, &[("x-forwarded-proto", "https")], StatusCode::FORBIDDEN),
            (untrusted, &[("x-forwarded-proto", "https")], StatusCode::FORBIDDEN),
            (untrusted, &[("forwarded", "for=192.0.2.7;proto=https")], StatusCode::FORBIDDEN),
        ];
        for (i, (addr, headers, expected)) in cases.iter().enumerate() {
            let (status, body) =
                send_plain(*addr, delivery(&format!("msg_proxy_{i}"), headers)).await;
            assert_eq!(status, *expected, "case {i}: {headers:?}: {body:?}");
            if status == StatusCode::FORBIDDEN {
                assert_eq!(error_code(&body), "https_required", "case {i}");
            }
        }
        assert_eq!(behind_xfp.handle().stats().accepted, 1);
        assert_eq!(behind_forwarded.handle().stats().accepted, 2);
        assert_eq!(elsewhere.handle().stats().accepted, 0);
    }
}
