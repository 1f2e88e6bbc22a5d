//! The Jupyter transport: messaging protocol 5.3 over ZeroMQ (the pure-Rust
//! `zeromq` stack through `jupyter-zmq-client`), HMAC-SHA256 signed; messages
//! with a bad signature are refused. The interpreter runs on its own thread so
//! the control channel can interrupt it; this module only converts messages.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, mpsc};
use std::time::Duration;

use jupyter_protocol::{
    ClearOutput, CodeMirrorMode, CommInfoReply, CompleteReply, ConnectionInfo, DisplayData,
    ErrorOutput, ExecuteInput, ExecuteReply, ExecuteResult, ExecutionCount, HistoryEntry,
    HistoryReply, HistoryRequest, InspectReply, InterruptReply, IsCompleteReply,
    IsCompleteReplyStatus, JupyterMessage, JupyterMessageContent, KernelInfoReply, LanguageInfo,
    Media, MediaType, Payload, ReplyError, ReplyStatus, ShutdownReply, Status, StreamContent,
    Transient, UpdateDisplayData,
};
use jupyter_zmq_client::{
    create_kernel_control_connection, create_kernel_heartbeat_connection,
    create_kernel_iopub_connection, create_kernel_stdin_connection,
};
use rankbook_script::{Completeness, Output, Session};
use tokio::sync::{mpsc as tmpsc, oneshot};

use crate::interpreter::{Executed, Interpreter};
use crate::wire::ShellSocket;

/// How long a failed cell waits for requests still in flight (sent before its
/// reply, so queued behind it) before replying.
const QUEUED_WAIT: Duration = Duration::from_millis(5);

/// Work for the interpreter thread, each with where to send the answer.
enum Job {
    Execute {
        code: String,
        silent: bool,
        store: bool,
        reply: oneshot::Sender<Executed>,
    },
    Complete {
        code: String,
        cursor: usize,
        reply: oneshot::Sender<CompleteReply>,
    },
    Inspect {
        code: String,
        cursor: usize,
        reply: oneshot::Sender<InspectReply>,
    },
    IsComplete {
        code: String,
        reply: oneshot::Sender<IsCompleteReply>,
    },
    History {
        request: HistoryRequest,
        reply: oneshot::Sender<HistoryReply>,
    },
}

/// The kernel's self-description.
pub fn kernel_info() -> KernelInfoReply {
    KernelInfoReply {
        status: ReplyStatus::Ok,
        protocol_version: "5.3".to_string(),
        implementation: "rankbook-kernel".to_string(),
        implementation_version: env!("CARGO_PKG_VERSION").to_string(),
        language_info: LanguageInfo {
            name: "rhai".to_string(),
            version: "1.27".to_string(),
            mimetype: Some("text/x-rhai".to_string()),
            file_extension: Some(".rhai".to_string()),
            pygments_lexer: Some("javascript".to_string()),
            codemirror_mode: Some(CodeMirrorMode::Simple("javascript".to_string())),
            nbconvert_exporter: None,
        },
        banner: format!(
            "rankbook {} — Rhai cells over the compiled core",
            env!("CARGO_PKG_VERSION")
        ),
        help_links: vec![],
        debugger: false,
        error: None,
    }
}

fn media(bundle: Vec<(String, String)>) -> Media {
    Media::new(
        bundle
            .into_iter()
            .filter_map(|(mime, data)| match mime.as_str() {
                "text/plain" => Some(MediaType::Plain(data)),
                "text/html" => Some(MediaType::Html(data)),
                "image/svg+xml" => Some(MediaType::Svg(data)),
                "image/png" => Some(MediaType::Png(data)),
                _ => None,
            })
            .collect(),
    )
}

/// Answers one job on the interpreter thread.
fn answer(interp: &mut Interpreter, job: Job) {
    match job {
        Job::Execute {
            code,
            silent,
            store,
            reply,
        } => {
            let _ = reply.send(interp.execute(&code, silent, store));
        }
        Job::Complete {
            code,
            cursor,
            reply,
        } => {
            let c = interp.complete(&code, cursor);
            let _ = reply.send(CompleteReply {
                matches: c.matches,
                cursor_start: c.start,
                cursor_end: c.end,
                metadata: Default::default(),
                status: ReplyStatus::Ok,
                error: None,
            });
        }
        Job::Inspect {
            code,
            cursor,
            reply,
        } => {
            let found = interp.inspect(&code, cursor);
            let _ = reply.send(InspectReply {
                found: found.is_some(),
                data: found
                    .map(|t| Media::new(vec![MediaType::Plain(t)]))
                    .unwrap_or_default(),
                metadata: Default::default(),
                status: ReplyStatus::Ok,
                error: None,
            });
        }
        Job::IsComplete { code, reply } => {
            let (status, indent) = match interp.is_complete(&code) {
                Completeness::Complete => (IsCompleteReplyStatus::Complete, String::new()),
                Completeness::Incomplete(i) => (IsCompleteReplyStatus::Incomplete, i),
                Completeness::Invalid => (IsCompleteReplyStatus::Invalid, String::new()),
            };
            let _ = reply.send(IsCompleteReply::new(status, indent));
        }
        Job::History { request, reply } => {
            let (cells, output) = match request {
                HistoryRequest::Tail { n, output, .. } => {
                    (interp.history_tail(n.max(0) as usize), output)
                }
                HistoryRequest::Search {
                    pattern,
                    n,
                    output,
                    unique,
                    ..
                } => (
                    interp.history_search(&pattern, n.max(0) as usize, unique),
                    output,
                ),
                HistoryRequest::Range {
                    start,
                    stop,
                    output,
                    ..
                } => (interp.history_range(start as i64, stop as i64), output),
            };
            let history = cells
                .into_iter()
                .map(|(n, input, out)| match output {
                    true => HistoryEntry::InputOutput(1, n, (input, out)),
                    false => HistoryEntry::Input(1, n, input),
                })
                .collect();
            let _ = reply.send(HistoryReply {
                history,
                status: ReplyStatus::Ok,
                error: None,
            });
        }
    }
}

/// Runs the kernel described by `info` until a shutdown request.
pub async fn run(info: ConnectionInfo) -> anyhow::Result<()> {
    let session_id = uuid::Uuid::new_v4().to_string();
    let mut heartbeat = create_kernel_heartbeat_connection(&info).await?;
    let mut shell = ShellSocket::bind(&info, &session_id).await?;
    let mut control = create_kernel_control_connection(&info, &session_id).await?;
    let _stdin = create_kernel_stdin_connection(&info, &session_id).await?;
    let mut iopub = create_kernel_iopub_connection(&info, &session_id).await?;

    // The interpreter thread builds the session (registering every function
    // takes most of a cold start) while the sockets already answer
    // kernel_info, so the client sees the kernel ready sooner; jobs sent
    // meanwhile wait in the channel. Outputs flow back through `out_tx`.
    let (out_tx, mut out_rx) = tmpsc::unbounded_channel::<Output>();
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    // Set once the session exists; an interrupt before then has nothing to stop.
    let interrupt: Arc<OnceLock<Arc<AtomicBool>>> = Arc::default();
    {
        let interrupt = interrupt.clone();
        std::thread::Builder::new()
            .name("rankbook-interpreter".into())
            .spawn(move || {
                let session = Session::new();
                let _ = interrupt.set(session.interrupt_flag());
                session.set_output(Some(Arc::new(move |o| {
                    let _ = out_tx.send(o);
                })));
                let mut interp = Interpreter::new(session);
                while let Ok(job) = job_rx.recv() {
                    answer(&mut interp, job);
                }
            })?;
    }

    tokio::spawn(async move { while heartbeat.single_heartbeat().await.is_ok() {} });

    let (shutdown_tx, mut shutdown_rx) = oneshot::channel::<()>();
    let control_interrupt = move || {
        if let Some(flag) = interrupt.get() {
            flag.store(true, Ordering::Relaxed);
        }
    };
    tokio::spawn(async move {
        let mut shutdown_tx = Some(shutdown_tx);
        loop {
            let message = match control.read().await {
                Ok(m) => m,
                // A bad signature or a malformed message: refused, not fatal.
                Err(e) => {
                    eprintln!("rankbook-kernel: control message refused: {e}");
                    continue;
                }
            };
            let reply: Option<JupyterMessage> = match &message.content {
                JupyterMessageContent::KernelInfoRequest(_) => {
                    Some(kernel_info().as_child_of(&message))
                }
                JupyterMessageContent::InterruptRequest(_) => {
                    control_interrupt();
                    Some(InterruptReply::new().as_child_of(&message))
                }
                JupyterMessageContent::ShutdownRequest(req) => {
                    let reply = ShutdownReply {
                        restart: req.restart,
                        status: ReplyStatus::Ok,
                        error: None,
                    };
                    let _ = control.send(reply.as_child_of(&message)).await;
                    control_interrupt();
                    if let Some(tx) = shutdown_tx.take() {
                        let _ = tx.send(());
                    }
                    None
                }
                _ => None,
            };
            if let Some(r) = reply {
                let _ = control.send(r).await;
            }
        }
    });

    // After a failed cell, the execute requests that had reached the kernel
    // before its error reply was sent are answered "aborted" (Run All stops at
    // the failing cell); a request sent after the client saw the error runs, as
    // with ipykernel's default stop_on_error_timeout of 0 (nbclient with
    // allow_errors sends the next cell at once).
    let mut queued: VecDeque<(JupyterMessage, bool)> = VecDeque::new();
    let mut count = 0usize;
    loop {
        let (message, aborted) = match queued.pop_front() {
            Some(m) => m,
            None => {
                let message = tokio::select! {
                    m = shell.read() => m,
                    _ = &mut shutdown_rx => break,
                };
                match message? {
                    Ok(m) => (m, false),
                    Err(e) => {
                        eprintln!("rankbook-kernel: shell message refused: {e}");
                        continue;
                    }
                }
            }
        };
        iopub.send(Status::busy().as_child_of(&message)).await?;
        let reply: JupyterMessage = match &message.content {
            JupyterMessageContent::KernelInfoRequest(_) => kernel_info().as_child_of(&message),
            JupyterMessageContent::ExecuteRequest(_) if aborted => ExecuteReply {
                status: ReplyStatus::Aborted,
                execution_count: ExecutionCount::new(0),
                payload: vec![],
                user_expressions: Some(Default::default()),
                error: None,
            }
            .as_child_of(&message),
            JupyterMessageContent::ExecuteRequest(req) => {
                // The interpreter numbers cells the same way.
                if req.store_history && !req.silent {
                    count += 1;
                }
                if !req.silent {
                    let input = ExecuteInput {
                        code: req.code.clone(),
                        execution_count: ExecutionCount::new(count),
                    };
                    iopub.send(input.as_child_of(&message)).await?;
                }
                let (tx, mut rx) = oneshot::channel();
                job_tx.send(Job::Execute {
                    code: req.code.clone(),
                    silent: req.silent,
                    store: req.store_history,
                    reply: tx,
                })?;
                // Forward outputs while the cell runs; then what is left.
                // Pager text goes in the reply's payload, the rest on iopub.
                let mut pages = Vec::new();
                let executed = loop {
                    tokio::select! {
                        Some(o) = out_rx.recv() => route(&mut iopub, o, &message, &mut pages).await?,
                        r = &mut rx => break r?,
                    }
                };
                while let Ok(o) = out_rx.try_recv() {
                    route(&mut iopub, o, &message, &mut pages).await?;
                }
                let (count, error) = match executed {
                    Executed::Ok { count, result } => {
                        if let Some(bundle) = result {
                            let mut r =
                                ExecuteResult::new(ExecutionCount::new(count), media(bundle));
                            // An object, never null (the schema says so).
                            r.transient = Some(Transient { display_id: None });
                            iopub.send(r.as_child_of(&message)).await?;
                        }
                        (count, None)
                    }
                    Executed::Error { count, error } => {
                        let out = ErrorOutput {
                            ename: error.name().to_string(),
                            evalue: error.message.clone(),
                            traceback: error.traceback(),
                        };
                        iopub.send(out.as_child_of(&message)).await?;
                        if req.stop_on_error {
                            take_queued(&mut shell, &mut queued).await?;
                        }
                        (count, Some(error))
                    }
                };
                ExecuteReply {
                    status: if error.is_some() {
                        ReplyStatus::Error
                    } else {
                        ReplyStatus::Ok
                    },
                    execution_count: ExecutionCount::new(count),
                    payload: pages,
                    // An object, never null: null fails the protocol's schema.
                    user_expressions: Some(Default::default()),
                    error: error.map(|e| {
                        Box::new(ReplyError {
                            ename: e.name().to_string(),
                            evalue: e.message.clone(),
                            traceback: e.traceback(),
                        })
                    }),
                }
                .as_child_of(&message)
            }
            JupyterMessageContent::CompleteRequest(req) => {
                let (code, cursor) = (req.code.clone(), req.cursor_pos);
                ask(&job_tx, |reply| Job::Complete {
                    code,
                    cursor,
                    reply,
                })
                .await?
                .as_child_of(&message)
            }
            JupyterMessageContent::InspectRequest(req) => {
                let (code, cursor) = (req.code.clone(), req.cursor_pos);
                ask(&job_tx, |reply| Job::Inspect {
                    code,
                    cursor,
                    reply,
                })
                .await?
                .as_child_of(&message)
            }
            JupyterMessageContent::IsCompleteRequest(req) => {
                let code = req.code.clone();
                ask(&job_tx, |reply| Job::IsComplete { code, reply })
                    .await?
                    .as_child_of(&message)
            }
            JupyterMessageContent::HistoryRequest(req) => {
                let request = req.clone();
                ask(&job_tx, |reply| Job::History { request, reply })
                    .await?
                    .as_child_of(&message)
            }
            JupyterMessageContent::CommInfoRequest(_) => CommInfoReply {
                status: ReplyStatus::Ok,
                comms: Default::default(),
                error: None,
            }
            .as_child_of(&message),
            _ => {
                iopub.send(Status::idle().as_child_of(&message)).await?;
                continue;
            }
        };
        shell.send(reply).await?;
        iopub.send(Status::idle().as_child_of(&message)).await?;
    }
    Ok(())
}

/// Moves the requests that have reached the shell socket into `queued`,
/// marked to be aborted. Called before a failed cell's reply is sent, so no
/// request sent after the client saw that reply is taken.
async fn take_queued(
    shell: &mut ShellSocket,
    queued: &mut VecDeque<(JupyterMessage, bool)>,
) -> anyhow::Result<()> {
    while let Ok(message) = tokio::time::timeout(QUEUED_WAIT, shell.read()).await {
        match message? {
            Ok(m) => queued.push_back((m, true)),
            Err(e) => eprintln!("rankbook-kernel: shell message refused: {e}"),
        }
    }
    Ok(())
}

/// Gives the interpreter thread a job and waits for its answer.
async fn ask<T>(
    jobs: &mpsc::Sender<Job>,
    job: impl FnOnce(oneshot::Sender<T>) -> Job,
) -> anyhow::Result<T> {
    let (tx, rx) = oneshot::channel();
    jobs.send(job(tx))?;
    Ok(rx.await?)
}

/// Sends an output on iopub, or keeps pager text for the reply's payload.
async fn route(
    iopub: &mut jupyter_zmq_client::KernelIoPubConnection,
    output: Output,
    parent: &JupyterMessage,
    pages: &mut Vec<Payload>,
) -> anyhow::Result<()> {
    match output {
        Output::Page(text) => {
            pages.push(Payload::Page {
                data: Media::new(vec![MediaType::Plain(text)]),
                start: 0,
            });
            Ok(())
        }
        other => send_output(iopub, other, parent).await,
    }
}

/// Sends one output of a running cell on iopub.
async fn send_output(
    iopub: &mut jupyter_zmq_client::KernelIoPubConnection,
    output: Output,
    parent: &JupyterMessage,
) -> anyhow::Result<()> {
    let msg = match output {
        Output::Stdout(t) => StreamContent::stdout(&t).as_child_of(parent),
        Output::Stderr(t) => StreamContent::stderr(&t).as_child_of(parent),
        Output::Display(b) => DisplayData::new(media(b)).as_child_of(parent),
        Output::Clear => ClearOutput { wait: false }.as_child_of(parent),
        // Routed to the payload before this; as text if it ever gets here.
        Output::Page(t) => StreamContent::stdout(&t).as_child_of(parent),
        Output::DisplayWithId(id, b) => {
            let mut d = DisplayData::new(media(b));
            d.transient = Some(Transient {
                display_id: Some(id),
            });
            d.as_child_of(parent)
        }
        Output::Update(id, b) => UpdateDisplayData::new(media(b), &id).as_child_of(parent),
    };
    iopub.send(msg).await?;
    Ok(())
}
