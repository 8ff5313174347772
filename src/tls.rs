//! HTTPS (feature `tls`): serve an axum `Router` with rustls, and reload
//! the certificate without a restart.
//!
//! * [`TlsConfig`] holds a PEM certificate chain and its private key,
//!   checked when loaded: an unreadable file, a file without a certificate
//!   or key, or a key that does not match the certificate is a
//!   [`ConfigError`] that says which, never a half-working server.
//! * [`serve`] serves a `Router` over TLS on a listener, like `axum::serve`
//!   does over plain TCP: HTTP/1.1 and HTTP/2 (ALPN), the peer address as
//!   axum's `ConnectInfo<SocketAddr>` (so the allowlist finds it), and a
//!   [`TlsConnection`] in every request, so
//!   [`RequireHttpsLayer`](crate::https::RequireHttpsLayer) knows the
//!   request arrived over TLS. A client that speaks plain HTTP to this
//!   port fails the TLS handshake and is disconnected.
//! * Reloading: [`TlsConfig::reload`] reads the files again and swaps the
//!   certificate atomically; new connections get the new one, open ones
//!   keep theirs. Have it done on `SIGHUP`
//!   ([`reload_on_sighup`](TlsConfig::reload_on_sighup)) or whenever the
//!   files change ([`reload_when_changed`](TlsConfig::reload_when_changed)).
//!   A reload that fails (a half-written file, a key that does not match
//!   yet) keeps the certificate in use and says why in the log.
//!
//! The server is [axum-server](https://docs.rs/axum-server) with its rustls
//! acceptor, not a hand-written accept loop over `tokio-rustls` and
//! `hyper-util`: it is made for axum and hyper 1.x, and already does the
//! parts that are easy to get wrong (the TLS handshake under a timeout off
//! the accept loop, HTTP/1 and HTTP/2 on one port, graceful shutdown, and a
//! configuration that is swapped atomically while connections are
//! accepted). hookwarden adds what is specific to a webhook receiver: the
//! checks with clear errors, the reload triggers, the [`TlsConnection`]
//! marker and a header read timeout. rustls uses the process's default
//! crypto provider when one is installed, else *ring*.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use axum::{Router, routing::get};
//! use hookwarden::tls::{self, TlsConfig};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let certificate = TlsConfig::from_pem_files("/etc/hookwarden/cert.pem", "/etc/hookwarden/key.pem")?;
//! certificate.reload_on_sighup()?;
//! certificate.reload_when_changed(Duration::from_secs(30))?;
//!
//! let app = Router::new().route("/healthz", get(|| async { "ok" }));
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8443").await?;
//! tls::serve(listener, certificate, app)
//!     .with_graceful_shutdown(async { let _ = tokio::signal::ctrl_c().await; })
//!     .await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::{Extension, Router};
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use crate::error::ConfigError;
use crate::future::BoxFuture;
use crate::https::TlsConnection;

/// How long open connections may take to finish after the shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// How long a client may take to send a request's headers (hyper's
/// default, which axum-server turns off).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A certificate chain and private key for [`serve`], reloadable while the
/// server runs. Clones share the certificate: reloading through one
/// reloads them all.
///
/// ```
/// use hookwarden::tls::TlsConfig;
///
/// let error = TlsConfig::from_pem(b"not a certificate", b"").unwrap_err();
/// assert!(error.to_string().contains("holds no certificate"), "{error}");
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    rustls: RustlsConfig,
    files: Option<Arc<PemFiles>>,
}

/// Where the certificate and key were read from, and a digest of what was
/// loaded last (to see when the files change).
struct PemFiles {
    cert: PathBuf,
    key: PathBuf,
    loaded: Mutex<[u8; 32]>,
}

/// The contents of a certificate file and its key file; the key is wiped
/// from memory when dropped.
struct Pem {
    cert: Vec<u8>,
    key: Zeroizing<Vec<u8>>,
}

impl Pem {
    fn digest(&self) -> [u8; 32] {
        let mut digest = Sha256::new();
        digest.update((self.cert.len() as u64).to_le_bytes());
        digest.update(&self.cert);
        digest.update(&*self.key);
        digest.finalize().into()
    }
}

impl PemFiles {
    fn read(&self) -> Result<Pem, ConfigError> {
        let read = |path: &Path, what| {
            std::fs::read(path).map_err(|e| ConfigError::Invalid {
                what,
                reason: format!("cannot read {}: {e}", path.display()),
            })
        };
        let cert = read(&self.cert, "TLS certificate")?;
        let key = Zeroizing::new(read(&self.key, "TLS private key")?);
        Ok(Pem { cert, key })
    }

    fn build(&self, pem: &Pem) -> Result<ServerConfig, ConfigError> {
        server_config(pem, &self.cert.display().to_string(), &self.key.display().to_string())
    }
}

impl TlsConfig {
    /// Reads a PEM certificate chain (the server's certificate first, then
    /// the intermediates) and its PEM private key (PKCS#8, PKCS#1 or SEC1)
    /// from files, and checks them. The files can be read again with
    /// [`reload`](Self::reload).
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, ConfigError> {
        let files = PemFiles {
            cert: cert.as_ref().to_owned(),
            key: key.as_ref().to_owned(),
            loaded: Mutex::new([0; 32]),
        };
        let pem = files.read()?;
        let config = files.build(&pem)?;
        *files.loaded.lock().unwrap_or_else(|e| e.into_inner()) = pem.digest();
        Ok(Self {
            rustls: RustlsConfig::from_config(Arc::new(config)),
            files: Some(Arc::new(files)),
        })
    }

    /// Takes a PEM certificate chain and PEM private key from memory, and
    /// checks them.
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<Self, ConfigError> {
        let pem = Pem { cert: cert_chain.to_vec(), key: Zeroizing::new(key.to_vec()) };
        let config = server_config(&pem, "the certificate PEM", "the key PEM")?;
        Ok(Self { rustls: RustlsConfig::from_config(Arc::new(config)), files: None })
    }

    /// Reads the files given to [`from_pem_files`](Self::from_pem_files)
    /// again and, if they hold a valid certificate and matching key, serves
    /// it to every new connection. On error the certificate in use stays.
    ///
    /// This blocks on the file system: from async code, call it in
    /// `tokio::task::spawn_blocking` (the reload triggers below do).
    pub fn reload(&self) -> Result<(), ConfigError> {
        let files = self.files()?;
        let pem = files.read()?;
        let config = files.build(&pem)?;
        self.rustls.reload_from_config(Arc::new(config));
        *files.loaded.lock().unwrap_or_else(|e| e.into_inner()) = pem.digest();
        Ok(())
    }

    /// Serves this certificate chain and key to every new connection, if
    /// they are valid and match; on error the certificate in use stays.
    pub fn reload_from_pem(&self, cert_chain: &[u8], key: &[u8]) -> Result<(), ConfigError> {
        let pem = Pem { cert: cert_chain.to_vec(), key: Zeroizing::new(key.to_vec()) };
        let config = server_config(&pem, "the certificate PEM", "the key PEM")?;
        self.rustls.reload_from_config(Arc::new(config));
        Ok(())
    }

    /// Reloads the files on every `SIGHUP`, for as long as the returned
    /// task runs (abort it to stop). Each reload is logged: at INFO when it
    /// worked, at ERROR (and the old certificate stays) when it did not.
    ///
    /// The signal handler is installed before this returns, so a `SIGHUP`
    /// sent afterwards never takes the default action (ending the process).
    /// Fails if the certificate was not loaded from files, or the handler
    /// cannot be installed. Must be called within a tokio runtime.
    #[cfg(unix)]
    pub fn reload_on_sighup(&self) -> Result<JoinHandle<()>, ConfigError> {
        use tokio::signal::unix::{SignalKind, signal};

        self.files()?;
        let mut hangups = signal(SignalKind::hangup()).map_err(|e| ConfigError::Invalid {
            what: "TLS reload on SIGHUP",
            reason: format!("cannot install the signal handler: {e}"),
        })?;
        let this = self.clone();
        Ok(tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                let reloading = this.clone();
                match tokio::task::spawn_blocking(move || reloading.reload()).await {
                    Ok(Ok(())) => this.log_reloaded("SIGHUP"),
                    Ok(Err(error)) => tracing::error!(
                        target: "hookwarden::tls",
                        %error,
                        "TLS certificate reload on SIGHUP failed; still serving the previous certificate"
                    ),
                    Err(_) => return, // the runtime is shutting down
                }
            }
        }))
    }

    /// Looks at the files every `every` and reloads them when their
    /// contents changed (a renewal by certbot, a Kubernetes secret update),
    /// for as long as the returned task runs (abort it to stop).
    ///
    /// A reload that fails is logged once at WARN and tried again when the
    /// files change again, so a renewal written in two steps (certificate,
    /// then key) is picked up when it is complete. Fails if the
    /// certificate was not loaded from files. Must be called within a
    /// tokio runtime.
    pub fn reload_when_changed(&self, every: Duration) -> Result<JoinHandle<()>, ConfigError> {
        let files = self.files()?.clone();
        let this = self.clone();
        Ok(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            // What failed last, so one bad state is reported once.
            let mut failed: Option<[u8; 32]> = None;
            let mut unreadable: Option<String> = None;
            loop {
                ticks.tick().await;
                let reading = files.clone();
                let pem = match tokio::task::spawn_blocking(move || reading.read()).await {
                    Ok(Ok(pem)) => pem,
                    Ok(Err(error)) => {
                        if unreadable.as_deref() != Some(&error.to_string()) {
                            tracing::warn!(target: "hookwarden::tls", %error, "TLS certificate files unreadable; still serving the previous certificate");
                            unreadable = Some(error.to_string());
                        }
                        continue;
                    }
                    Err(_) => return, // the runtime is shutting down
                };
                unreadable = None;
                let digest = pem.digest();
                if digest == *files.loaded.lock().unwrap_or_else(|e| e.into_inner())
                    || failed == Some(digest)
                {
                    continue;
                }
                match files.build(&pem) {
                    Ok(config) => {
                        this.rustls.reload_from_config(Arc::new(config));
                        *files.loaded.lock().unwrap_or_else(|e| e.into_inner()) = digest;
                        failed = None;
                        this.log_reloaded("the files changed");
                    }
                    Err(error) => {
                        failed = Some(digest);
                        tracing::warn!(target: "hookwarden::tls", %error, "changed TLS certificate files not loaded; still serving the previous certificate");
                    }
                }
            }
        }))
    }

    fn files(&self) -> Result<&Arc<PemFiles>, ConfigError> {
        self.files.as_ref().ok_or(ConfigError::Invalid {
            what: "TLS reload",
            reason: "the certificate was not loaded from files (use `reload_from_pem`)".to_owned(),
        })
    }

    fn log_reloaded(&self, why: &str) {
        if let Some(files) = &self.files {
            tracing::info!(
                target: "hookwarden::tls",
                cert = %files.cert.display(),
                key = %files.key.display(),
                "TLS certificate reloaded ({why})"
            );
        }
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("TlsConfig");
        if let Some(files) = &self.files {
            debug.field("cert", &files.cert).field("key", &files.key);
        }
        debug.finish_non_exhaustive()
    }
}

/// Parses and checks a certificate chain and key into a rustls server
/// configuration. The messages name the file and the problem, never the
/// key's contents.
fn server_config(pem: &Pem, cert_from: &str, key_from: &str) -> Result<ServerConfig, ConfigError> {
    let cert_error = |reason: String| ConfigError::Invalid { what: "TLS certificate", reason };
    let key_error = |reason: String| ConfigError::Invalid { what: "TLS private key", reason };

    let chain = CertificateDer::pem_slice_iter(&pem.cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(format!("{cert_from} is not valid PEM: {e}")))?;
    if chain.is_empty() {
        return Err(cert_error(format!(
            "{cert_from} holds no certificate (a PEM `BEGIN CERTIFICATE` block)"
        )));
    }
    let key = PrivateKeyDer::from_pem_slice(&pem.key).map_err(|e| match e {
        pem::Error::NoItemsFound => key_error(format!(
            "{key_from} holds no private key (a PEM `BEGIN PRIVATE KEY`, `BEGIN RSA PRIVATE KEY` \
             or `BEGIN EC PRIVATE KEY` block)"
        )),
        // The details could quote the key file: say only what is wrong.
        _ => key_error(format!("{key_from} is not valid PEM")),
    })?;

    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Invalid { what: "TLS", reason: e.to_string() })?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => ConfigError::Invalid {
                what: "TLS certificate and key",
                reason: format!("the private key in {key_from} does not match the certificate in {cert_from}"),
            },
            rustls::Error::InvalidCertificate(e) => {
                cert_error(format!("the first certificate in {cert_from} cannot be used: {e}"))
            }
            _ => key_error(format!(
                "{key_from} holds a key rustls cannot use (RSA, ECDSA P-256/P-384 and Ed25519 are supported)"
            )),
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Serves `app` over TLS on `listener` with `tls`'s certificate; await it
/// (see the [module documentation](self)).
///
/// Every request carries axum's `ConnectInfo<SocketAddr>` and a
/// [`TlsConnection`].
pub fn serve(listener: TcpListener, tls: TlsConfig, app: Router) -> Serve {
    Serve { listener, tls, app, signal: None }
}

/// A TLS server being set up by [`serve`]; await it to run it.
#[must_use = "a server does nothing until awaited"]
pub struct Serve {
    listener: TcpListener,
    tls: TlsConfig,
    app: Router,
    signal: Option<BoxFuture<'static, ()>>,
}

impl Serve {
    /// Stops accepting connections when `signal` completes, and lets open
    /// ones finish for up to 30 seconds.
    pub fn with_graceful_shutdown<F>(mut self, signal: F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.signal = Some(Box::pin(signal));
        self
    }

    async fn run(self) -> io::Result<()> {
        let handle = axum_server::Handle::<SocketAddr>::new();
        let watcher = self.signal.map(|signal| {
            let handle = handle.clone();
            tokio::spawn(async move {
                signal.await;
                handle.graceful_shutdown(Some(SHUTDOWN_GRACE));
            })
        });
        let app = self.app.layer(Extension(TlsConnection));
        let mut server = axum_server::Server::from_listener(self.listener)
            .acceptor(RustlsAcceptor::new(self.tls.rustls))
            .handle(handle);
        server.http_builder().http1().header_read_timeout(HEADER_READ_TIMEOUT);
        let served = server.serve(app.into_make_service_with_connect_info::<SocketAddr>()).await;
        if let Some(watcher) = watcher {
            watcher.abort();
        }
        served
    }
}

impl IntoFuture for Serve {
    type Output = io::Result<()>;
    type IntoFuture = BoxFuture<'static, io::Result<()>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl fmt::Debug for Serve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (String, String) {
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        (generated.cert.pem(), generated.signing_key.serialize_pem())
    }

    fn reason(result: Result<TlsConfig, ConfigError>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn a_matching_pair_loads() {
        let (cert, key) = pair();
        TlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    }

    #[test]
    fn bad_pem_is_named() {
        let (cert, key) = pair();
        let (other_cert, other_key) = pair();
        let mismatch = reason(TlsConfig::from_pem(cert.as_bytes(), other_key.as_bytes()));
        assert!(mismatch.contains("does not match the certificate"), "{mismatch}");
        let swapped = reason(TlsConfig::from_pem(key.as_bytes(), cert.as_bytes()));
        assert!(swapped.contains("holds no certificate"), "{swapped}");
        let no_key = reason(TlsConfig::from_pem(cert.as_bytes(), other_cert.as_bytes()));
        assert!(no_key.contains("holds no private key"), "{no_key}");
        let damaged = key.replace("-----END PRIVATE KEY-----", "");
        let damaged = reason(TlsConfig::from_pem(cert.as_bytes(), damaged.as_bytes()));
        assert!(damaged.contains("is not valid PEM"), "{damaged}");
        // No message quotes the key.
        let body: String = key.lines().nth(1).unwrap().to_owned();
        for message in [mismatch, damaged] {
            assert!(!message.contains(&body[..16]), "{message}");
        }
    }

    #[test]
    fn unreadable_files_are_named() {
        let missing =
            reason(TlsConfig::from_pem_files("/nonexistent/cert.pem", "/nonexistent/key.pem"));
        assert!(missing.contains("cannot read /nonexistent/cert.pem"), "{missing}");
    }

    #[test]
    fn in_memory_configs_cannot_reload_from_files() {
        let (cert, key) = pair();
        let tls = TlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        assert!(tls.reload().unwrap_err().to_string().contains("not loaded from files"));
        let (cert, other_key) = (cert, pair().1);
        assert!(tls.reload_from_pem(cert.as_bytes(), other_key.as_bytes()).is_err());
    }
}
