//! The shell channel's wire format, decoded here rather than by
//! `jupyter-zmq-client`: its decoder refuses requests that leave out optional
//! fields (a `history_request` of type search without `unique` or `n`, as
//! jupyter_client sends), and a refused request never gets a reply. Same
//! framing and HMAC-SHA256 signing; a bad signature is still refused.

use bytes::Bytes;
use jupyter_protocol::{ConnectionInfo, Header, JupyterMessage, JupyterMessageContent};
use ring::hmac;
use serde_json::Value;
use zeromq::{Socket, SocketRecv, SocketSend, ZmqMessage};

const DELIMITER: &[u8] = b"<IDS|MSG>";

/// A ROUTER socket speaking Jupyter messages.
pub struct ShellSocket {
    socket: zeromq::RouterSocket,
    key: Option<hmac::Key>,
    session: String,
}

/// Why a message was refused.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

fn refused(why: impl std::fmt::Display) -> Refused {
    Refused(why.to_string())
}

/// Optional request fields filled with the protocol's defaults.
fn with_defaults(msg_type: &str, mut content: Value) -> Value {
    if msg_type == "history_request"
        && let Some(obj) = content.as_object_mut()
    {
        for (key, default) in [
            ("output", Value::Bool(false)),
            ("raw", Value::Bool(true)),
            ("unique", Value::Bool(false)),
            ("n", Value::from(0)),
            ("start", Value::from(0)),
            ("stop", Value::from(0)),
        ] {
            obj.entry(key).or_insert(default);
        }
    }
    content
}

impl ShellSocket {
    /// Binds the shell port of `info`.
    pub async fn bind(info: &ConnectionInfo, session: &str) -> anyhow::Result<Self> {
        let mut socket = zeromq::RouterSocket::new();
        socket.bind(&info.shell_url()).await?;
        let key =
            (!info.key.is_empty()).then(|| hmac::Key::new(hmac::HMAC_SHA256, info.key.as_bytes()));
        Ok(Self {
            socket,
            key,
            session: session.to_string(),
        })
    }

    /// The next request, or why it was refused (bad signature, malformed).
    /// Socket failures are errors of the outer result.
    pub async fn read(&mut self) -> anyhow::Result<Result<JupyterMessage, Refused>> {
        let parts = self.socket.recv().await?.into_vec();
        Ok(decode(self.key.as_ref(), parts))
    }

    /// Sends a reply (routed to the identities it carries), signed.
    pub async fn send(&mut self, message: JupyterMessage) -> anyhow::Result<()> {
        let message = message.with_session(&self.session);
        let parent = match &message.parent_header {
            Some(p) => serde_json::to_vec(p)?,
            None => b"{}".to_vec(),
        };
        let jparts: Vec<Vec<u8>> = vec![
            serde_json::to_vec(&message.header)?,
            parent,
            serde_json::to_vec(&message.metadata)?,
            serde_json::to_vec(&message.content)?,
        ];
        let signature = match &self.key {
            Some(key) => {
                let mut ctx = hmac::Context::with_key(key);
                jparts.iter().for_each(|p| ctx.update(p));
                hex::encode(ctx.sign().as_ref())
            }
            None => String::new(),
        };
        let mut parts: Vec<Bytes> = message.zmq_identities.clone();
        parts.push(Bytes::from_static(DELIMITER));
        parts.push(signature.into_bytes().into());
        parts.extend(jparts.into_iter().map(Bytes::from));
        parts.extend(message.buffers.iter().cloned());
        let zmq = ZmqMessage::try_from(parts).map_err(|e| anyhow::anyhow!("{e}"))?;
        self.socket.send(zmq).await?;
        Ok(())
    }
}

/// Decodes the frames of one shell request (identities, delimiter,
/// signature, header, parent, metadata, content, buffers), checking the
/// signature when there is a key.
pub fn decode(key: Option<&hmac::Key>, mut parts: Vec<Bytes>) -> Result<JupyterMessage, Refused> {
    let at = parts
        .iter()
        .position(|p| p.as_ref() == DELIMITER)
        .ok_or_else(|| refused("no <IDS|MSG> delimiter"))?;
    if parts.len() < at + 6 {
        return Err(refused("too few message parts"));
    }
    let jparts = parts.split_off(at + 2);
    let signature = parts.pop().unwrap_or_default();
    parts.pop();
    if let Some(key) = key {
        let sig = hex::decode(signature.as_ref()).map_err(|_| refused("signature is not hex"))?;
        let mut signed = Vec::new();
        for p in &jparts[..4] {
            signed.extend_from_slice(p);
        }
        hmac::verify(key, &signed, &sig).map_err(|_| refused("bad signature"))?;
    }
    let header: Header =
        serde_json::from_slice(&jparts[0]).map_err(|e| refused(format!("header: {e}")))?;
    let content: Value =
        serde_json::from_slice(&jparts[3]).map_err(|e| refused(format!("content: {e}")))?;
    let content = JupyterMessageContent::from_type_and_content(
        &header.msg_type,
        with_defaults(&header.msg_type, content),
    )
    .map_err(|e| refused(format!("{}: {e}", header.msg_type)))?;
    Ok(JupyterMessage {
        zmq_identities: parts,
        // `{}` when there is no parent.
        parent_header: serde_json::from_slice(&jparts[1]).ok(),
        header,
        metadata: serde_json::from_slice(&jparts[2]).unwrap_or_default(),
        content,
        buffers: jparts[4..].to_vec(),
        channel: None,
    })
}
