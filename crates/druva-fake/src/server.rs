//! Listening, accepting and serving connections on the fake server's own
//! runtime, and stopping it all.
//!
//! Each connection is served by hyper directly (not `axum::serve`) so that
//! faults can end a connection abruptly; TLS, when on, wraps the TCP stream
//! before hyper sees it. HTTP/1.1 only: a dropped connection then means what
//! it says, with no HTTP/2 stream reset in between.

use std::sync::{mpsc, Arc};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::dispatch::App;
use super::state::Shared;
use super::tls::TlsMaterial;
use druva_core::errors::{Error, Result};

/// How long stopping waits for in-flight requests before ending them.
const GRACE: Duration = Duration::from_secs(1);

/// A client that has not finished its TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A running server: its runtime and what it takes to stop it.
pub(crate) struct Running {
    pub port: u16,
    runtime: Runtime,
    shutdown: watch::Sender<bool>,
    finished: mpsc::Receiver<()>,
    tls_dir: Option<TempDir>,
    /// The process generation it was started in (see `druva_core::runtime`).
    generation: u64,
}

/// Binds `127.0.0.1:port` and serves on a new two-thread runtime.
pub(crate) fn start(port: u16, shared: Arc<Shared>, tls: Option<TlsMaterial>) -> Result<Running> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("druva-fake-server")
        .enable_all()
        .build()
        .map_err(|error| transport(format!("could not start the fake server runtime: {error}")))?;
    let listener = bind(port)?;
    let port = listener
        .local_addr()
        .map_err(|error| transport(format!("the fake server has no address: {error}")))?
        .port();
    let listener = {
        let _entered = runtime.enter();
        TcpListener::from_std(listener)
            .map_err(|error| transport(format!("could not listen on port {port}: {error}")))?
    };
    let (shutdown, shutdown_seen) = watch::channel(false);
    let (finished_sender, finished) = mpsc::channel();
    let (acceptor, tls_dir) = match tls {
        Some(material) => (Some(material.acceptor), Some(material.dir)),
        None => (None, None),
    };
    let app = App::new(shared);
    runtime.spawn(async move {
        accept_loop(listener, acceptor, app, shutdown_seen).await;
        // Nobody waits when the server was stopped from async code.
        let _ = finished_sender.send(());
    });
    Ok(Running {
        port,
        runtime,
        shutdown,
        finished,
        tls_dir,
        generation: druva_core::runtime::generation(),
    })
}

fn bind(port: u16) -> Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|error| {
        transport(format!(
            "the fake server could not listen on 127.0.0.1:{port}: {error}"
        ))
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|error| transport(format!("could not set up the listener: {error}")))?;
    Ok(listener)
}

fn transport(message: String) -> Error {
    Error::Transport { message }
}

impl Running {
    /// Stops accepting, lets in-flight requests finish for up to [`GRACE`],
    /// then ends the runtime with every connection, and removes the TLS files.
    pub fn stop(self) {
        let Running {
            runtime,
            shutdown,
            finished,
            tls_dir,
            generation,
            ..
        } = self;
        if generation != druva_core::runtime::generation() {
            // A forked child: the runtime's threads stayed in the parent, and
            // the TLS files are the parent's. Leave both alone.
            std::mem::forget(runtime);
            std::mem::forget(tls_dir);
            return;
        }
        let _ = shutdown.send(true);
        if tokio::runtime::Handle::try_current().is_ok() {
            // Blocking inside async code is not allowed; end without waiting.
            runtime.shutdown_background();
        } else {
            let _ = finished.recv_timeout(GRACE + Duration::from_millis(500));
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
        drop(tls_dir);
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    app: App,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(
                        stream,
                        acceptor.clone(),
                        app.clone(),
                        shutdown.clone(),
                    ));
                }
                // Out of file descriptors and the like: wait for some to free up.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let drained = async { while connections.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(GRACE, drained).await;
    connections.abort_all();
}

async fn serve_connection(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    app: App,
    shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = tls else {
        return serve_http(TokioIo::new(stream), app, shutdown).await;
    };
    // A client that does not trust the certificate just goes away.
    if let Ok(Ok(stream)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        serve_http(TokioIo::new(stream), app, shutdown).await;
    }
}

async fn serve_http<I>(io: I, app: App, mut shutdown: watch::Receiver<bool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |request| app.clone().handle(request));
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .serve_connection(io, service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = shutdown.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}
