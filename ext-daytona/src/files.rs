//! Files inside a Daytona sandbox, through its toolbox: whole files both ways
//! (`bulk-download` answers multipart parts named by the exact path asked,
//! `bulk-upload` takes `files[i].path` and `files[i].file`), listings, facts,
//! folders, removal and moves. A read at an offset reads the file and slices
//! it; an append reads, extends and writes it back.

use crate::Daytona;
use crate::api::Sandbox;
use reqwest::Method;
use sandboxer_ext_protocol::sdk::{ErrorKind, ErrorObject, ExtResult};
use sandboxer_ext_protocol::*;
use serde::Deserialize;

/// What the toolbox says of a path.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Info {
    name: String,
    is_dir: bool,
    size: u64,
    /// Octal permission bits (`0644`).
    #[serde(default)]
    permissions: String,
    #[serde(default)]
    mod_time: String,
    #[serde(default)]
    path: Option<String>,
}

fn info_of(folder: Option<&str>, info: Info) -> FileInfo {
    let path = info.path.clone().unwrap_or_else(|| match folder {
        Some(f) => format!("{}/{}", f.trim_end_matches('/'), info.name),
        None => info.name.clone(),
    });
    FileInfo {
        name: info.name,
        path,
        kind: if info.is_dir {
            FileKind::Dir
        } else {
            FileKind::File
        },
        size: info.size,
        mode: u32::from_str_radix(info.permissions.trim_start_matches("0o"), 8).unwrap_or(0),
        modified_unix: chrono::DateTime::parse_from_rfc3339(&info.mod_time)
            .map(|t| t.timestamp())
            .or_else(|_| info.mod_time.parse::<i64>())
            .unwrap_or(0),
        link_target: None,
    }
}

fn no_service(service: &Option<String>) -> ExtResult<()> {
    match service {
        Some(s) => Err(ErrorObject::invalid_argument(
            "service",
            format!("a Daytona sandbox has no part named {s:?}"),
        )),
        None => Ok(()),
    }
}

impl Daytona {
    async fn sandbox(&self, id: &str) -> ExtResult<Sandbox> {
        self.api.get(id).await?.ok_or_else(|| crate::not_found(id))
    }

    /// The whole file at `path`.
    async fn whole(&self, sandbox: &Sandbox, path: &str) -> ExtResult<Vec<u8>> {
        let call = self
            .api
            .toolbox(sandbox, Method::POST, "/files/bulk-download")?
            .header("accept", "multipart/form-data")
            .json(&serde_json::json!({"paths": [path]}));
        let response = self.api.send("download", call).await?;
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let boundary = multer::parse_boundary(&content_type).map_err(|e| {
            ErrorObject::domain(ErrorKind::Internal, format!("Daytona download: {e}"))
        })?;
        let mut parts = multer::Multipart::new(response.bytes_stream(), boundary);
        let broken = |e: multer::Error| {
            ErrorObject::domain(ErrorKind::Internal, format!("Daytona download: {e}"))
        };
        // One file asked, one part answered: the file, or why not.
        let Some(part) = parts.next_field().await.map_err(broken)? else {
            return Err(ErrorObject::domain(
                ErrorKind::NotFound,
                format!("Daytona sent nothing for {path}"),
            ));
        };
        let refused = part.name() == Some("error");
        let data = part.bytes().await.map_err(broken)?;
        if refused {
            let message = serde_json::from_slice::<serde_json::Value>(&data)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&data).into_owned());
            return Err(ErrorObject::domain(ErrorKind::NotFound, message));
        }
        Ok(data.to_vec())
    }

    pub(crate) async fn fs_read_of(&self, p: FsReadParams) -> ExtResult<FsReadResult> {
        no_service(&p.service)?;
        let sandbox = self.sandbox(&p.sandbox_id).await?;
        let all = self.whole(&sandbox, &p.path).await?;
        let size = all.len() as u64;
        let from = usize::try_from(p.offset.min(size)).unwrap_or(all.len());
        let to = (from + p.wanted()).min(all.len());
        Ok(FsReadResult {
            data: Data(all[from..to].to_vec()),
            size,
            eof: to == all.len(),
        })
    }

    pub(crate) async fn fs_write_of(&self, p: FsWriteParams) -> ExtResult<FsWriteResult> {
        no_service(&p.service)?;
        let sandbox = self.sandbox(&p.sandbox_id).await?;
        let mut content = if p.append {
            match self.whole(&sandbox, &p.path).await {
                Ok(existing) => existing,
                Err(e) if e.kind() == Some(ErrorKind::NotFound) => vec![],
                Err(e) => return Err(e),
            }
        } else {
            vec![]
        };
        content.extend_from_slice(&p.data.0);
        let size = content.len() as u64;
        let form = reqwest::multipart::Form::new()
            .text("files[0].path", p.path.clone())
            .part(
                "files[0].file",
                reqwest::multipart::Part::bytes(content).file_name(p.path.clone()),
            );
        let call = self
            .api
            .toolbox(&sandbox, Method::POST, "/files/bulk-upload")?
            .multipart(form);
        self.api.send("upload", call).await?;
        Ok(FsWriteResult { size })
    }

    pub(crate) async fn fs_list_of(&self, p: FsPathParams) -> ExtResult<FsListResult> {
        no_service(&p.service)?;
        let sandbox = self.sandbox(&p.sandbox_id).await?;
        let call = self
            .api
            .toolbox(&sandbox, Method::GET, "/files")?
            .query(&[("path", &p.path)]);
        let infos: Vec<Info> =
            crate::api::Api::json("list files", self.api.send("list files", call).await?).await?;
        let mut entries: Vec<FileInfo> = infos
            .into_iter()
            .map(|i| info_of(Some(&p.path), i))
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(FsListResult { entries })
    }

    pub(crate) async fn fs_stat_of(&self, p: FsPathParams) -> ExtResult<FileInfo> {
        no_service(&p.service)?;
        let sandbox = self.sandbox(&p.sandbox_id).await?;
        let call = self
            .api
            .toolbox(&sandbox, Method::GET, "/files/info")?
            .query(&[("path", &p.path)]);
        let info: Info =
            crate::api::Api::json("file info", self.api.send("file info", call).await?).await?;
        let mut found = info_of(None, info);
        found.path = p.path;
        Ok(found)
    }

    pub(crate) async fn fs_mkdir_of(&self, p: FsMkdirParams) -> ExtResult<Ack> {
        no_service(&p.service)?;
        let sandbox = self.sandbox(&p.sandbox_id).await?;
        let call = self
            .api
            .toolbox(&sandbox, Method::POST, "/files/folder")?
            .query(&[("path", p.path.as_str()), ("mode", "755")]);
        self.api.send("create folder", call).await?;
        Ok(Ack {})
    }

    pub(crate) async fn fs_remove_of(&self, p: FsRemoveParams) -> ExtResult<Ack> {
        no_service(&p.service)?;
        let sandbox = self.sandbox(&p.sandbox_id).await?;
        let recursive = if p.recursive { "true" } else { "false" };
        let call = self
            .api
            .toolbox(&sandbox, Method::DELETE, "/files")?
            .query(&[("path", p.path.as_str()), ("recursive", recursive)]);
        self.api.send("delete", call).await?;
        Ok(Ack {})
    }

    pub(crate) async fn fs_rename_of(&self, p: FsRenameParams) -> ExtResult<Ack> {
        no_service(&p.service)?;
        let sandbox = self.sandbox(&p.sandbox_id).await?;
        let call = self
            .api
            .toolbox(&sandbox, Method::POST, "/files/move")?
            .query(&[("source", p.from.as_str()), ("destination", p.to.as_str())]);
        self.api.send("move", call).await?;
        Ok(Ack {})
    }
}
