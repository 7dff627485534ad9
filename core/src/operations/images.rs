//! `sandboxer images`: the images extensions keep (protocol 1.5, `image/*`).
//! `build` has a profile's candidate extensions build its image ahead of any
//! create; `list` asks every extension that keeps images; `prune` has each one
//! remove the images nothing needs, keeping those a sandbox or snapshot uses
//! and those the catalog's profiles would be built into (the core sends them).
//! The core keeps no image records of its own: extensions own their images.

use super::Core;
use crate::error::{Error, Result};
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::{ImageBuildParams, ImageInfo, ImageKept, ImagePruneParams};
use serde::Serialize;

/// One extension's images, or why it could not list them.
#[derive(Debug, Clone, Serialize)]
pub struct ImageReport {
    pub extension: String,
    pub images: Vec<ImageInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An image built (or found built) for a profile by one extension.
#[derive(Debug, Clone, Serialize)]
pub struct BuiltImage {
    pub extension: String,
    pub image: ImageInfo,
    pub built: bool,
}

/// What one extension's prune removed and kept.
#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    pub extension: String,
    pub removed: Vec<ImageInfo>,
    pub kept: Vec<ImageKept>,
}

/// Builds `profile`'s image with each of its candidate extensions that builds
/// images.
pub async fn build_images(core: &Core, profile: &str) -> Result<Vec<BuiltImage>> {
    let profile = core.catalog().get(profile)?.clone();
    let mut built = vec![];
    for candidate in &profile.candidates {
        let name = candidate.extension_name();
        let lease = core.extension(name).await?;
        if !lease.offers::<m::ImageBuild>() {
            lease.release().await;
            continue;
        }
        let params = ImageBuildParams {
            profile: profile.to_wire_for(name).for_peer(lease.peer_version()),
            progress_token: None,
        };
        let answer = lease.request::<m::ImageBuild>(&params).await;
        lease.release().await;
        let result = answer?;
        built.push(BuiltImage {
            extension: format!("ext.{name}"),
            image: result.image,
            built: result.built,
        });
    }
    if built.is_empty() {
        return Err(Error::Invalid(format!(
            "no candidate extension of {} builds images (image/build, protocol 1.5); its \
             images are made by its creates",
            profile.id
        )));
    }
    Ok(built)
}

/// The images of every installed extension that lists them.
pub async fn list_images(core: &Core) -> Result<Vec<ImageReport>> {
    let answers = core
        .ask_every::<m::ImageList>(|_, _| Default::default())
        .await;
    Ok(answers
        .into_iter()
        .map(|(extension, answer)| match answer {
            Ok(result) => ImageReport {
                extension,
                images: result.images,
                error: None,
            },
            Err(e) => ImageReport {
                extension,
                images: vec![],
                error: Some(e),
            },
        })
        .collect())
}

/// Prunes every extension's images (only `images`, when given: each goes to
/// the extension that lists it), keeping the catalog's.
pub async fn prune_images(
    core: &Core,
    images: &[String],
    dry_run: bool,
) -> Result<Vec<PruneReport>> {
    let listed = list_images(core).await?;
    if let Some(unknown) = images.iter().find(|id| {
        !listed
            .iter()
            .any(|r| r.images.iter().any(|i| &i.image_id == *id))
    }) {
        return Err(Error::Invalid(format!(
            "no extension keeps an image {unknown}; `sandboxer images list` shows them"
        )));
    }
    let mut reports = vec![];
    for report in listed.into_iter().filter(|r| r.error.is_none()) {
        let name = report.extension.trim_start_matches("ext.").to_string();
        let mine: Vec<String> = images
            .iter()
            .filter(|id| report.images.iter().any(|i| &i.image_id == *id))
            .cloned()
            .collect();
        if !images.is_empty() && mine.is_empty() {
            continue;
        }
        let lease = core.extension(&name).await?;
        if !lease.offers::<m::ImagePrune>() {
            lease.release().await;
            continue;
        }
        let keep_profiles = core.profiles_for(&name, lease.peer_version());
        let params = ImagePruneParams {
            image_ids: (!images.is_empty()).then_some(mine),
            keep_profiles,
            dry_run,
        };
        let answer = lease.request::<m::ImagePrune>(&params).await;
        lease.release().await;
        let result = answer?;
        reports.push(PruneReport {
            extension: report.extension,
            removed: result.removed,
            kept: result.kept,
        });
    }
    Ok(reports)
}
