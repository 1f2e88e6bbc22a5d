//! The real kernel binary driven over ZeroMQ by a Rust client: kernel info,
//! state across cells, a message with a wrong signature refused, an interrupt
//! that stops a running cell and keeps the variables, queued cells aborted
//! after an error, and 1,000 cells answered in order.

use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Command};
use std::time::Duration;

use jupyter_protocol::{
    ConnectionInfo, ExecuteRequest, InterruptRequest, JupyterMessage, JupyterMessageContent,
    KernelInfoRequest, MediaType, ReplyStatus, ShutdownRequest, Transport,
};
use jupyter_zmq_client::{
    ClientIoPubConnection, ClientShellConnection, create_client_control_connection,
    create_client_iopub_connection, create_client_shell_connection_with_identity, peek_ports,
    peer_identity_for_session,
};

struct Kernel {
    child: Child,
    info: ConnectionInfo,
    _dir: tempfile::TempDir,
}

impl Drop for Kernel {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

async fn start() -> Kernel {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let ports = peek_ports(ip, 5).await.unwrap();
    let info = ConnectionInfo {
        transport: Transport::TCP,
        ip: ip.to_string(),
        shell_port: ports[0],
        iopub_port: ports[1],
        stdin_port: ports[2],
        control_port: ports[3],
        hb_port: ports[4],
        signature_scheme: "hmac-sha256".into(),
        key: "a-secret-key".into(),
        kernel_name: Some("rankbook".into()),
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kernel.json");
    std::fs::write(&file, serde_json::to_string(&info).unwrap()).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_rankbook-kernel"))
        .arg("--connection-file")
        .arg(&file)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    Kernel {
        child,
        info,
        _dir: dir,
    }
}

async fn shell(info: &ConnectionInfo) -> ClientShellConnection {
    let session = uuid::Uuid::new_v4().to_string();
    let id = peer_identity_for_session(&session).unwrap();
    create_client_shell_connection_with_identity(info, &session, id)
        .await
        .unwrap()
}

fn execute(code: &str) -> JupyterMessage {
    ExecuteRequest::new(code.to_string()).into()
}

/// The execute reply to `request` (waits at most 20 s).
async fn reply(shell: &mut ClientShellConnection) -> JupyterMessage {
    tokio::time::timeout(Duration::from_secs(20), shell.read())
        .await
        .expect("a reply")
        .unwrap()
}

/// The text/plain execute_result on iopub for the request with id `parent`.
async fn result_of(iopub: &mut ClientIoPubConnection, parent: &str) -> String {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(20), iopub.read())
            .await
            .unwrap()
            .unwrap();
        if m.parent_header.as_ref().map(|h| h.msg_id.as_str()) != Some(parent) {
            continue;
        }
        if let JupyterMessageContent::ExecuteResult(r) = m.content {
            for c in r.data.content {
                if let MediaType::Plain(t) = c {
                    return t;
                }
            }
        }
    }
}

fn status(m: &JupyterMessage) -> ReplyStatus {
    match &m.content {
        JupyterMessageContent::ExecuteReply(r) => r.status.clone(),
        other => panic!("expected an execute reply, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kernel_over_zeromq() {
    let k = start().await;
    let mut sh = shell(&k.info).await;
    let session = uuid::Uuid::new_v4().to_string();
    let mut iopub = create_client_iopub_connection(&k.info, "", &session)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    sh.send(KernelInfoRequest {}.into()).await.unwrap();
    match reply(&mut sh).await.content {
        JupyterMessageContent::KernelInfoReply(i) => {
            assert_eq!(i.implementation, "rankbook-kernel");
            assert_eq!(i.language_info.name, "rhai");
            assert_eq!(i.language_info.file_extension.as_deref(), Some(".rhai"));
        }
        other => panic!("{other:?}"),
    }

    sh.send(execute("let x = 5;")).await.unwrap();
    assert_eq!(status(&reply(&mut sh).await), ReplyStatus::Ok);
    let m = execute("x * 2");
    let id = m.header.msg_id.clone();
    sh.send(m).await.unwrap();
    assert_eq!(status(&reply(&mut sh).await), ReplyStatus::Ok);
    assert_eq!(result_of(&mut iopub, &id).await, "10");

    // Signed with another key: refused, so `y` is never defined.
    let mut forged_info = k.info.clone();
    forged_info.key = "not-the-key".into();
    let mut forged = shell(&forged_info).await;
    forged.send(execute("let y = 1;")).await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(500), forged.read())
            .await
            .is_err()
    );
    sh.send(execute("y")).await.unwrap();
    assert_eq!(status(&reply(&mut sh).await), ReplyStatus::Error);
    // A cell sent later (not queued behind the error) runs.
    tokio::time::sleep(Duration::from_millis(200)).await;

    // An interrupt stops a running loop; `x` survives.
    let control_session = uuid::Uuid::new_v4().to_string();
    let mut control = create_client_control_connection(&k.info, &control_session)
        .await
        .unwrap();
    sh.send(execute("let n = 0; loop { n += 1; }"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    control.send(InterruptRequest {}.into()).await.unwrap();
    let r = reply(&mut sh).await;
    match &r.content {
        JupyterMessageContent::ExecuteReply(e) => {
            assert_eq!(e.status, ReplyStatus::Error);
            assert_eq!(e.error.as_ref().unwrap().ename, "Interrupted");
        }
        other => panic!("{other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let m = execute("x");
    let id = m.header.msg_id.clone();
    sh.send(m).await.unwrap();
    assert_eq!(status(&reply(&mut sh).await), ReplyStatus::Ok);
    assert_eq!(result_of(&mut iopub, &id).await, "5");

    // After an error, the cells queued behind it are aborted.
    for code in ["nope()", "x", "x"] {
        sh.send(execute(code)).await.unwrap();
    }
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(status(&reply(&mut sh).await));
    }
    assert_eq!(
        got,
        vec![
            ReplyStatus::Error,
            ReplyStatus::Aborted,
            ReplyStatus::Aborted
        ]
    );
    tokio::time::sleep(Duration::from_millis(200)).await;

    // 1,000 cells back to back: every reply, in order.
    let mut ids = Vec::new();
    for i in 0..1000 {
        let m = execute(&format!("{i};"));
        ids.push(m.header.msg_id.clone());
        sh.send(m).await.unwrap();
    }
    for id in &ids {
        let r = reply(&mut sh).await;
        assert_eq!(r.parent_header.as_ref().map(|h| &h.msg_id), Some(id));
        assert_eq!(status(&r), ReplyStatus::Ok);
    }

    control
        .send(ShutdownRequest { restart: false }.into())
        .await
        .unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), control.read()).await;
}
