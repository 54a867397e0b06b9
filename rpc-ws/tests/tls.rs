//! `wss://` end to end with a self-signed certificate made at test time; the
//! client trusts exactly that certificate.

use std::sync::Arc;

use duplexrpc_core::{Methods, RpcError};
use duplexrpc_ws::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use duplexrpc_ws::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use duplexrpc_ws::{ClientBuilder, ConnectError, Server, ServerHandle};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A fresh self-signed certificate for 127.0.0.1 and localhost, and its key.
fn self_signed() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
    (certified.cert.der().clone(), key.into())
}

fn server_config(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> Arc<ServerConfig> {
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    Arc::new(config)
}

fn client_trusting(cert: CertificateDer<'static>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(cert).unwrap();
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// Serves `add`; on each connection, calls the client's `ui.name` back.
async fn tls_server(config: Arc<ServerConfig>) -> ServerHandle {
    Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_tls(config)
        .serve(|conn, _info| {
            let mut methods = Methods::new();
            let client = conn.peer().clone();
            methods.method("add", |(a, b): (i64, i64)| async move { Ok::<_, RpcError>(a + b) })?;
            methods.method("greet", move |(): ()| {
                let client = client.clone();
                async move {
                    let name: String = client.call("ui.name", ()).await?;
                    Ok::<_, RpcError>(format!("hello, {name}"))
                }
            })?;
            conn.register(methods)?;
            Ok(())
        })
}

#[tokio::test]
async fn wss_calls_both_ways_with_a_self_signed_certificate() {
    let (cert, key) = self_signed();
    let server = tls_server(server_config(cert.clone(), key)).await;
    assert!(server.url().starts_with("wss://127.0.0.1:"), "{}", server.url());
    let mut conn = ClientBuilder::new(server.url())
        .tls_config(client_trusting(cert))
        .connect()
        .await
        .unwrap();
    let mut ui = Methods::new();
    ui.method("ui.name", |(): ()| async move {
        Ok::<_, RpcError>("tls client".to_string())
    })
    .unwrap();
    conn.register(ui).unwrap();
    let peer = conn.start();
    let sum: i64 = peer.call("add", (40, 2)).await.unwrap();
    assert_eq!(sum, 42);
    let greeting: String = peer.call("greet", ()).await.unwrap();
    assert_eq!(greeting, "hello, tls client");
    peer.close().await;
    server.stop().await;
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_and_the_server_keeps_serving() {
    let (cert, key) = self_signed();
    let server = tls_server(server_config(cert.clone(), key)).await;
    // The default trust store (Mozilla roots) does not know this certificate.
    let err = duplexrpc_ws::connect(&server.url()).await.unwrap_err();
    assert!(matches!(err, ConnectError::Handshake(_)), "{err:?}");
    assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");
    // Trusting another self-signed certificate does not help either.
    let (other, _) = self_signed();
    let err = ClientBuilder::new(server.url())
        .tls_config(client_trusting(other))
        .connect()
        .await
        .unwrap_err();
    assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");
    // Plain ws:// to a TLS port fails too.
    let plain = server.url().replacen("wss://", "ws://", 1);
    assert!(duplexrpc_ws::connect(&plain).await.is_err());
    // A client with the right trust still gets in.
    let peer = ClientBuilder::new(server.url())
        .tls_config(client_trusting(cert))
        .connect()
        .await
        .unwrap()
        .start();
    let sum: i64 = peer.call("add", (1, 2)).await.unwrap();
    assert_eq!(sum, 3);
    peer.close().await;
    server.stop().await;
}
