//! The agent's side of the protocol: it answers the methods of working inside
//! a sandbox (`exec/*`, `fs/*`) through the SDK's loop, one loop per
//! connection, every connection sharing the same sessions and transfers (so a
//! command started over one connection is listed, attached to and signalled
//! over the next). The lifecycle methods belong to the extension outside and
//! are refused.

use crate::files;
use crate::sessions::Sessions;
use crate::trees::Transfers;
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::sdk::*;
use std::sync::{Arc, OnceLock};

/// What every connection shares.
#[derive(Default)]
pub struct State {
    pub sessions: Sessions,
    pub transfers: Transfers,
}

static STATE: OnceLock<Arc<State>> = OnceLock::new();

/// The state of this agent process.
pub fn state() -> Arc<State> {
    STATE.get_or_init(Arc::default).clone()
}

/// One connection's view of the agent.
pub struct Agent {
    state: Arc<State>,
}

fn lifecycle(method: &str) -> ErrorObject {
    ErrorObject::domain(
        ErrorKind::Unimplemented,
        format!(
            "{method} is not the agent's: it works inside one sandbox; the extension that \
             started the sandbox creates and destroys it"
        ),
    )
}

/// Runs blocking file work off the loop's threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> ExtResult<T> + Send + 'static,
) -> ExtResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ErrorObject::domain(ErrorKind::Internal, format!("file work failed: {e}")))?
}

impl Extension for Agent {
    fn manifest() -> Manifest {
        Manifest {
            name: "agent".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            optional_methods: m::INSIDE_AGENT.concat(),
            features: vec![sandboxer_ext_protocol::features::EXEC_PTY.into()],
            options_schema: Default::default(),
        }
    }

    async fn start(_options: JsonObject, _ctx: &Context) -> ExtResult<Self> {
        Ok(Agent { state: state() })
    }

    async fn create(&self, _ctx: &Context, _params: CreateParams) -> ExtResult<Sandbox> {
        Err(lifecycle(m::SandboxCreate::METHOD))
    }

    async fn get(&self, _ctx: &Context, _params: GetParams) -> ExtResult<Sandbox> {
        Err(lifecycle(m::SandboxGet::METHOD))
    }

    async fn list(&self, _ctx: &Context, _params: ListParams) -> ExtResult<ListResult> {
        Err(lifecycle(m::SandboxList::METHOD))
    }

    async fn destroy(&self, _ctx: &Context, _params: DestroyParams) -> ExtResult<DestroyResult> {
        Err(lifecycle(m::SandboxDestroy::METHOD))
    }

    async fn exec_start(&self, _ctx: &Context, params: ExecStartParams) -> ExtResult<ExecStarted> {
        let session = self.state.sessions.start(&params)?;
        Ok(ExecStarted {
            exec_id: session.exec_id.clone(),
            pid: Some(session.pid()),
        })
    }

    async fn exec_attach(&self, ctx: &Context, params: ExecAttachParams) -> ExtResult<ExecExit> {
        let session = self.state.sessions.get(&params.exec_id)?;
        let _attached = session.attach();
        let mut changes = session.watch();
        let mut next = params.from_seq;
        loop {
            changes.borrow_and_update();
            let (chunks, exit) = session.since(next);
            for chunk in chunks {
                next = chunk.seq + 1;
                ctx.output(&OutputParams {
                    token: params.output_token.clone(),
                    seq: chunk.seq,
                    stream: chunk.stream,
                    service: None,
                    data: Data(chunk.data),
                });
            }
            if let Some(exit) = exit
                && next >= exit.next_seq
            {
                return Ok(exit);
            }
            if changes.changed().await.is_err() {
                return Err(ErrorObject::domain(
                    ErrorKind::Internal,
                    "the command's session went away",
                ));
            }
        }
    }

    async fn exec_write(&self, _ctx: &Context, params: ExecWriteParams) -> ExtResult<Ack> {
        let session = self.state.sessions.get(&params.exec_id)?;
        session.write(&params.data.0, params.eof).await?;
        Ok(Ack {})
    }

    async fn exec_signal(&self, _ctx: &Context, params: ExecSignalParams) -> ExtResult<Ack> {
        self.state
            .sessions
            .get(&params.exec_id)?
            .signal(params.signal)?;
        Ok(Ack {})
    }

    async fn exec_resize(&self, _ctx: &Context, params: ExecResizeParams) -> ExtResult<Ack> {
        self.state
            .sessions
            .get(&params.exec_id)?
            .resize(params.size)?;
        Ok(Ack {})
    }

    async fn exec_list(
        &self,
        _ctx: &Context,
        _params: ExecListParams,
    ) -> ExtResult<ExecListResult> {
        Ok(ExecListResult {
            sessions: self.state.sessions.list(),
        })
    }

    async fn fs_read(&self, _ctx: &Context, params: FsReadParams) -> ExtResult<FsReadResult> {
        blocking(move || files::read(&params)).await
    }

    async fn fs_write(&self, _ctx: &Context, params: FsWriteParams) -> ExtResult<FsWriteResult> {
        blocking(move || files::write(&params)).await
    }

    async fn fs_list(&self, _ctx: &Context, params: FsPathParams) -> ExtResult<FsListResult> {
        blocking(move || files::list(&params.path)).await
    }

    async fn fs_stat(&self, _ctx: &Context, params: FsPathParams) -> ExtResult<FileInfo> {
        blocking(move || files::stat(&params.path)).await
    }

    async fn fs_mkdir(&self, _ctx: &Context, params: FsMkdirParams) -> ExtResult<Ack> {
        blocking(move || files::mkdir(&params.path, params.parents)).await?;
        Ok(Ack {})
    }

    async fn fs_remove(&self, _ctx: &Context, params: FsRemoveParams) -> ExtResult<Ack> {
        blocking(move || files::remove(&params.path, params.recursive)).await?;
        Ok(Ack {})
    }

    async fn fs_rename(&self, _ctx: &Context, params: FsRenameParams) -> ExtResult<Ack> {
        blocking(move || files::rename(&params.from, &params.to)).await?;
        Ok(Ack {})
    }

    async fn fs_tar_put(
        &self,
        _ctx: &Context,
        params: FsTarPutParams,
    ) -> ExtResult<FsTarPutResult> {
        self.state
            .transfers
            .put(
                &params.path,
                params.transfer_id.as_deref(),
                params.offset,
                params.data,
                params.done,
            )
            .await
    }

    async fn fs_tar_get(
        &self,
        _ctx: &Context,
        params: FsTarGetParams,
    ) -> ExtResult<FsTarGetResult> {
        self.state
            .transfers
            .get(&params.path, params.transfer_id.as_deref())
            .await
    }
}
