//! images (protocol 1.5, `image/*`): the params' profile is built once, listed,
//! and kept by a prune that is told the profile is still wanted.

use super::Scenario;
use crate::context::Ctx;
use sandboxer_ext_protocol::methods;
use serde_json::json;
use std::time::Instant;

pub const BUILD_LIST_PRUNE: &str = "images.build-list-prune";

pub const SCENARIO: Scenario = Scenario {
    name: "images",
    checks: &[BUILD_LIST_PRUNE],
    run,
};

fn run(ctx: &mut Ctx) {
    ctx.skip_unadvertised(SCENARIO.checks);
    if !ctx.runnable(BUILD_LIST_PRUNE) {
        return;
    }
    let started = Instant::now();
    let mut peer = match ctx.peer() {
        Ok(p) => p,
        Err(e) => return ctx.fail(BUILD_LIST_PRUNE, None, e),
    };
    let profile = ctx.profile();
    let outcome = (|| {
        for method in [methods::ImageList::METHOD, methods::ImagePrune::METHOD] {
            if !ctx.advertises(method) {
                return Err(format!("image/build is offered without {method}"));
            }
        }
        let first = peer.ok(methods::ImageBuild::METHOD, json!({"profile": profile}))?;
        let id = first["image"]["image_id"]
            .as_str()
            .ok_or_else(|| format!("image/build answered no image.image_id: {first}"))?
            .to_string();
        let second = peer.ok(methods::ImageBuild::METHOD, json!({"profile": profile}))?;
        if second["image"]["image_id"] != id.as_str() || second["built"] != false {
            return Err(format!(
                "a second image/build of the same profile should find {id} built: {second}"
            ));
        }
        let list = peer.ok(methods::ImageList::METHOD, json!({}))?;
        let listed = list["images"]
            .as_array()
            .is_some_and(|all| all.iter().any(|i| i["image_id"] == id.as_str()));
        if !listed {
            return Err(format!("image/list does not list {id}: {list}"));
        }
        let prune = peer.ok(
            methods::ImagePrune::METHOD,
            json!({"image_ids": [id], "keep_profiles": [profile], "dry_run": true}),
        )?;
        let kept = prune["kept"]
            .as_array()
            .is_some_and(|k| k.iter().any(|i| i["image_id"] == id.as_str()));
        let removed = prune["removed"]
            .as_array()
            .is_some_and(|r| r.iter().any(|i| i["image_id"] == id.as_str()));
        if !kept || removed {
            return Err(format!(
                "image/prune removed {id}, which a kept profile still uses: {prune}"
            ));
        }
        Ok(())
    })();
    ctx.record(BUILD_LIST_PRUNE, Some(&peer), started, outcome);
}
