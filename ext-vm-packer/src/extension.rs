//! `VmPacker`, the extension `sandboxer-ext-vm-packer` serves: machines on this
//! host (`backend::LocalVms`), or, with `hosts` in its options, a relay to
//! vm-packer on those hosts (`relay::Relay`). Every method goes to one of the two.

use crate::backend::LocalVms;
use crate::relay::Relay;
use sandboxer_ext_protocol::sdk::{Context, ExtResult, Extension, Manifest};
use sandboxer_ext_protocol::*;

pub enum VmPacker {
    Local(Box<LocalVms>),
    Relay(Relay),
}

/// Runs `$local` on machines here, or `$relay` through the relay.
macro_rules! either {
    ($self:ident, $local:ident => $l:expr, $relay:ident => $r:expr) => {
        match $self {
            VmPacker::Local($local) => $l.await,
            VmPacker::Relay($relay) => $r.await,
        }
    };
}

impl Extension for VmPacker {
    fn manifest() -> Manifest {
        LocalVms::manifest()
    }

    async fn start(options: JsonObject, ctx: &Context) -> ExtResult<Self> {
        if options.contains_key("hosts") {
            Ok(VmPacker::Relay(Relay::new(options)?))
        } else {
            Ok(VmPacker::Local(Box::new(
                LocalVms::start(options, ctx).await?,
            )))
        }
    }

    async fn create(&self, ctx: &Context, p: CreateParams) -> ExtResult<Sandbox> {
        either!(self, l => l.create(ctx, p), r => r.create(ctx, p))
    }

    async fn get(&self, ctx: &Context, p: GetParams) -> ExtResult<Sandbox> {
        either!(self, l => l.get(ctx, p), r => r.get(p))
    }

    async fn list(&self, ctx: &Context, p: ListParams) -> ExtResult<ListResult> {
        either!(self, l => l.list(ctx, p), r => r.list(p))
    }

    async fn destroy(&self, ctx: &Context, p: DestroyParams) -> ExtResult<DestroyResult> {
        either!(self, l => l.destroy(ctx, p), r => r.destroy(p))
    }

    async fn extend_ttl(&self, ctx: &Context, p: ExtendTtlParams) -> ExtResult<Sandbox> {
        either!(self, l => l.extend_ttl(ctx, p), r => r.extend_ttl(p))
    }

    async fn snapshot(&self, ctx: &Context, p: SnapshotParams) -> ExtResult<Snapshot> {
        either!(self, l => l.snapshot(ctx, p), r => r.snapshot(p))
    }

    async fn restore(&self, ctx: &Context, p: RestoreParams) -> ExtResult<Sandbox> {
        either!(self, l => l.restore(ctx, p), r => r.restore(ctx, p))
    }

    async fn snapshot_list(
        &self,
        ctx: &Context,
        p: SnapshotListParams,
    ) -> ExtResult<SnapshotListResult> {
        either!(self, l => l.snapshot_list(ctx, p), r => r.snapshot_list(p))
    }

    async fn snapshot_delete(
        &self,
        ctx: &Context,
        p: SnapshotDeleteParams,
    ) -> ExtResult<SnapshotDeleteResult> {
        either!(self, l => l.snapshot_delete(ctx, p), r => r.snapshot_delete(p))
    }

    async fn exec(&self, ctx: &Context, p: ExecParams) -> ExtResult<ExecResult> {
        either!(self, l => l.exec(ctx, p), r => r.exec(p))
    }

    async fn cost_estimate(&self, ctx: &Context, p: CostEstimateParams) -> ExtResult<CostEstimate> {
        either!(self, l => l.cost_estimate(ctx, p), r => r.cost_estimate(p))
    }

    async fn host_health(&self, ctx: &Context, p: HostHealthParams) -> ExtResult<HostHealthResult> {
        either!(self, l => l.host_health(ctx, p), r => r.host_health(p))
    }

    async fn profile_check(
        &self,
        ctx: &Context,
        p: ProfileCheckParams,
    ) -> ExtResult<ProfileCheckResult> {
        either!(self, l => l.profile_check(ctx, p), r => r.profile_check(p))
    }

    async fn host_doctor(&self, ctx: &Context, p: HostDoctorParams) -> ExtResult<HostDoctorResult> {
        either!(self, l => l.host_doctor(ctx, p), r => r.host_doctor(p))
    }

    async fn image_build(&self, ctx: &Context, p: ImageBuildParams) -> ExtResult<ImageBuildResult> {
        either!(self, l => l.image_build(ctx, p), r => r.image_build(ctx, p))
    }

    async fn image_list(&self, ctx: &Context, p: ImageListParams) -> ExtResult<ImageListResult> {
        either!(self, l => l.image_list(ctx, p), r => r.image_list(p))
    }

    async fn image_prune(&self, ctx: &Context, p: ImagePruneParams) -> ExtResult<ImagePruneResult> {
        either!(self, l => l.image_prune(ctx, p), r => r.image_prune(p))
    }

    async fn shutdown(&self) {
        match self {
            VmPacker::Local(l) => l.shutdown().await,
            VmPacker::Relay(r) => r.shutdown().await,
        }
    }
}
