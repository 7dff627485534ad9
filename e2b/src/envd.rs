//! envd's messages (packages `process` and `filesystem` of E2B's protocol
//! definitions) in proto3's JSON mapping, as the SDK's JSON codec writes and
//! reads them: lowerCamelCase names (snake_case accepted), default values
//! omitted, bytes as base64, enums by name (numbers accepted), 64-bit integers
//! as strings (numbers accepted).

use sandboxer_ext_protocol::Data;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// An enum as proto3's JSON has it: written by name, read by name or number
/// (an unknown one reads as the first, unspecified, value).
macro_rules! proto_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal, $number:literal;)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            const NAMES: &'static [($name, &'static str, i64)] =
                &[$(($name::$variant, $text, $number)),+];
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let (_, name, _) = $name::NAMES.iter().find(|(v, ..)| v == self).expect("named");
                s.serialize_str(name)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let given = NameOrNumber::deserialize(d)?;
                Ok($name::NAMES
                    .iter()
                    .find(|(_, name, number)| given.is(name, *number))
                    .map_or($name::NAMES[0].0, |(v, ..)| *v))
            }
        }
    };
}

// ---- process.Process ----

/// What to run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessConfig {
    pub cmd: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub envs: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
}

/// A terminal's size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PtySize {
    #[serde(default)]
    pub cols: u32,
    #[serde(default)]
    pub rows: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pty {
    #[serde(default)]
    pub size: PtySize,
}

/// Which process: by pid or by tag.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessSelector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

impl ProcessSelector {
    pub fn pid(pid: u32) -> ProcessSelector {
        ProcessSelector {
            pid: Some(pid),
            tag: None,
        }
    }
}

/// Bytes for a process's stdin or its terminal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<Data>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pty: Option<Data>,
}

/// `Start`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartRequest {
    pub process: ProcessConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pty: Option<Pty>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Absent: stdin is open (envd's rule); false: stdin is /dev/null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<bool>,
}

/// `Connect`, `CloseStdin`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectRequest {
    #[serde(default)]
    pub process: ProcessSelector,
}

/// `Update`: a new terminal size.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateRequest {
    #[serde(default)]
    pub process: ProcessSelector,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pty: Option<Pty>,
}

/// `SendInput`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendInputRequest {
    #[serde(default)]
    pub process: ProcessSelector,
    #[serde(default)]
    pub input: ProcessInput,
}

/// `StreamInput`'s messages: which process first, then its input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamInputRequest {
    Start {
        #[serde(default)]
        process: ProcessSelector,
    },
    Data {
        #[serde(default)]
        input: ProcessInput,
    },
    Keepalive {},
}

proto_enum! {
    /// envd's signals.
    Signal {
        Unspecified = "SIGNAL_UNSPECIFIED", 0;
        Term = "SIGNAL_SIGTERM", 15;
        Kill = "SIGNAL_SIGKILL", 9;
    }
}

/// `SendSignal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendSignalRequest {
    #[serde(default)]
    pub process: ProcessSelector,
    pub signal: Signal,
}

/// How a process ended. `exit_code` is -1 when a signal ended it (Go's
/// `ProcessState.ExitCode`), `status` reads `exit status 3` or `signal: killed`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndEvent {
    #[serde(default, skip_serializing_if = "is_zero_i32", alias = "exit_code")]
    pub exit_code: i32,
    #[serde(default, skip_serializing_if = "is_false")]
    pub exited: bool,
    #[serde(default)]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn is_zero_i32(n: &i32) -> bool {
    *n == 0
}

/// Output: one of the three.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataEvent {
    Stdout(Data),
    Stderr(Data),
    Pty(Data),
}

/// What a `Start` or `Connect` stream carries: `start` first, `end` last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcessEvent {
    Start {
        #[serde(default)]
        pid: u32,
    },
    Data(DataEvent),
    End(EndEvent),
    Keepalive {},
}

/// Each message of a `Start` or `Connect` stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessEventMessage {
    pub event: ProcessEvent,
}

/// One process `List` answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    pub config: ProcessConfig,
    #[serde(default)]
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// `List`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListResponse {
    #[serde(default)]
    pub processes: Vec<ProcessInfo>,
}

// ---- filesystem.Filesystem ----

proto_enum! {
    /// What a path is.
    FileType {
        Unspecified = "FILE_TYPE_UNSPECIFIED", 0;
        File = "FILE_TYPE_FILE", 1;
        Directory = "FILE_TYPE_DIRECTORY", 2;
        Symlink = "FILE_TYPE_SYMLINK", 3;
    }
}

proto_enum! {
    /// A change a watcher saw.
    EventType {
        Unspecified = "EVENT_TYPE_UNSPECIFIED", 0;
        Create = "EVENT_TYPE_CREATE", 1;
        Write = "EVENT_TYPE_WRITE", 2;
        Remove = "EVENT_TYPE_REMOVE", 3;
        Rename = "EVENT_TYPE_RENAME", 4;
        Chmod = "EVENT_TYPE_CHMOD", 5;
    }
}

/// An enum's value as proto3 JSON allows it: its name or its number.
#[derive(Deserialize)]
#[serde(untagged)]
enum NameOrNumber {
    Name(String),
    Number(i64),
}

impl NameOrNumber {
    fn is(&self, name: &str, number: i64) -> bool {
        match self {
            NameOrNumber::Name(n) => n == name,
            NameOrNumber::Number(n) => *n == number,
        }
    }
}

/// An int64: a string in proto3 JSON, a number accepted.
mod int64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(n: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&n.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Number(u64),
        }
        match Either::deserialize(d)? {
            Either::Number(n) => Ok(n),
            Either::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// What envd says of a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FileType,
    pub path: String,
    #[serde(default, with = "int64")]
    pub size: u64,
    /// Go's `os.FileMode` bits (a directory has bit 31 set).
    #[serde(default)]
    pub mode: u32,
    /// Go's `FileMode.String()`: `-rw-r--r--`, `drwxr-xr-x`.
    #[serde(default)]
    pub permissions: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub group: String,
    /// RFC 3339.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "modified_time"
    )]
    pub modified_time: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "symlink_target"
    )]
    pub symlink_target: Option<String>,
    #[serde(default, skip_serializing_if = "is_false", alias = "is_symlink")]
    pub is_symlink: bool,
}

/// `Stat`, `MakeDir`, `Remove`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathRequest {
    #[serde(default)]
    pub path: String,
}

/// `ListDir`: `depth` levels below `path` (0 is read as 1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListDirRequest {
    #[serde(default)]
    pub path: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub depth: u32,
}

/// `Move`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveRequest {
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub destination: String,
}

/// One entry (`Stat`, `MakeDir`, `Move`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryResponse {
    pub entry: EntryInfo,
}

/// `ListDir`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListDirResponse {
    #[serde(default)]
    pub entries: Vec<EntryInfo>,
}

/// `WatchDir` and `CreateWatcher`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchRequest {
    #[serde(default)]
    pub path: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub recursive: bool,
    #[serde(default, skip_serializing_if = "is_false", alias = "include_entry")]
    pub include_entry: bool,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        alias = "allow_network_mounts"
    )]
    pub allow_network_mounts: bool,
}

/// `GetWatcherEvents`, `RemoveWatcher`, and what `CreateWatcher` answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WatcherId {
    #[serde(default, alias = "watcher_id")]
    pub watcher_id: String,
}

/// A change under a watched folder; `name` is relative to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesystemEvent {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<EntryInfo>,
}

/// `GetWatcherEvents`' answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatcherEvents {
    #[serde(default)]
    pub events: Vec<FilesystemEvent>,
}

/// Each message of a `WatchDir` stream: `start` first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WatchDirResponse {
    Start {},
    Filesystem(Box<FilesystemEvent>),
    Keepalive {},
}

/// An empty message (`{}`): most answers that carry nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_start_as_the_sdk_sends_it() {
        let sent = json!({"process": {"cmd": "/bin/bash", "args": ["-l", "-c", "echo hi"],
            "envs": {"A": "1"}, "cwd": "/tmp"}, "stdin": false});
        let start: StartRequest = serde_json::from_value(sent).unwrap();
        assert_eq!(start.process.args[2], "echo hi");
        assert_eq!(start.stdin, Some(false));
        assert_eq!(start.pty, None);
    }

    #[test]
    fn events_are_written_as_envd_writes_them() {
        let m = |event| serde_json::to_value(ProcessEventMessage { event }).unwrap();
        assert_eq!(
            m(ProcessEvent::Start { pid: 7 }),
            json!({"event": {"start": {"pid": 7}}})
        );
        assert_eq!(
            m(ProcessEvent::Data(DataEvent::Stdout(Data(
                b"hi\n".to_vec()
            )))),
            json!({"event": {"data": {"stdout": "aGkK"}}})
        );
        assert_eq!(
            m(ProcessEvent::End(EndEvent {
                exit_code: 0,
                exited: true,
                status: "exit status 0".into(),
                error: None
            })),
            json!({"event": {"end": {"exited": true, "status": "exit status 0"}}})
        );
        assert_eq!(
            m(ProcessEvent::Keepalive {}),
            json!({"event": {"keepalive": {}}})
        );
    }

    #[test]
    fn enums_are_read_by_name_or_number_and_written_by_name() {
        let by_name: SendSignalRequest =
            serde_json::from_value(json!({"process": {"pid": 3}, "signal": "SIGNAL_SIGKILL"}))
                .unwrap();
        let by_number: SendSignalRequest =
            serde_json::from_value(json!({"process": {"pid": 3}, "signal": 15})).unwrap();
        assert_eq!(by_name.signal, Signal::Kill);
        assert_eq!(by_number.signal, Signal::Term);
        assert_eq!(
            serde_json::to_value(FileType::Directory).unwrap(),
            json!("FILE_TYPE_DIRECTORY")
        );
    }

    #[test]
    fn sizes_are_strings_out_and_either_in() {
        let entry: EntryInfo = serde_json::from_value(json!({"name": "a", "type": 1,
            "path": "/a", "size": 12, "modified_time": "2026-01-01T00:00:00Z"}))
        .unwrap();
        assert_eq!(entry.size, 12);
        assert_eq!(entry.modified_time.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(serde_json::to_value(&entry).unwrap()["size"], json!("12"));
        let from_text: EntryInfo =
            serde_json::from_value(json!({"name": "a", "type": "FILE_TYPE_FILE", "path": "/a",
                "size": "34"}))
            .unwrap();
        assert_eq!(from_text.size, 34);
    }

    #[test]
    fn stream_input_messages_are_a_oneof() {
        let first: StreamInputRequest =
            serde_json::from_value(json!({"start": {"process": {"pid": 4}}})).unwrap();
        assert_eq!(
            first,
            StreamInputRequest::Start {
                process: ProcessSelector::pid(4)
            }
        );
        let data: StreamInputRequest =
            serde_json::from_value(json!({"data": {"input": {"stdin": "aGkK"}}})).unwrap();
        assert!(matches!(data, StreamInputRequest::Data { .. }));
    }
}
