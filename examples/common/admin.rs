//! `--admin-listen ADDR --admin-token T`: the admin router (API, page,
//! Prometheus metrics) on a second listener, never on the webhook one.

use hookwarden::ReceiverHandle;

/// Starts the admin listener if `--admin-listen` was given, and returns
/// where it listens. Refuses `--admin-listen` without `--admin-token` (and
/// the reverse), and a token too short to be safe.
pub(crate) async fn serve(
    listen: Option<String>,
    token: Option<String>,
    handle: ReceiverHandle,
) -> Result<Option<std::net::SocketAddr>, String> {
    match (listen, token) {
        (None, None) => Ok(None),
        (Some(_), None) => Err("--admin-listen needs --admin-token".to_owned()),
        (None, Some(_)) => Err("--admin-token is only used with --admin-listen".to_owned()),
        (Some(listen), Some(token)) => start(&listen, &token, handle).await.map(Some),
    }
}

#[cfg(feature = "admin")]
async fn start(
    listen: &str,
    token: &str,
    handle: ReceiverHandle,
) -> Result<std::net::SocketAddr, String> {
    use hookwarden::admin::{self, AdminToken};

    let token = AdminToken::new(token).map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen} (--admin-listen): {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let app = admin::router(handle, token);
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "the admin listener stopped");
        }
    });
    Ok(addr)
}

#[cfg(not(feature = "admin"))]
async fn start(_: &str, _: &str, _: ReceiverHandle) -> Result<std::net::SocketAddr, String> {
    Err("this build has no admin listener: run with `cargo run --features admin --example receiver`"
        .to_owned())
}
