//! The agent through the SDK's real loop (the harness plays the extension
//! outside), running real commands and touching real files: output streamed
//! while a command runs, stdin, signals, a terminal with resize, re-attaching
//! to a command started earlier, timeouts, files and trees.

use sandboxer_agent::service::Agent;
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::sdk::harness::{CallError, Harness};
use sandboxer_ext_protocol::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const SID: &str = "sbx-agent-test";

async fn agent() -> Harness<Agent> {
    Harness::<Agent>::start(json!({}))
        .await
        .expect("the agent answers initialize")
}

fn start(argv: &[&str]) -> ExecStartParams {
    ExecStartParams {
        sandbox_id: SID.into(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        cwd: None,
        env: Default::default(),
        service: None,
        pty: None,
        stdin: false,
        timeout_s: None,
    }
}

fn attach(exec_id: &str, token: &str) -> ExecAttachParams {
    ExecAttachParams {
        sandbox_id: SID.into(),
        exec_id: exec_id.into(),
        output_token: json!(token),
        from_seq: 0,
    }
}

/// The bytes of every `$/output` for `token` kept so far, by stream.
fn output_of(notifications: &[Value], token: &str) -> (String, String, String) {
    let (mut out, mut err, mut term) = (vec![], vec![], vec![]);
    for n in notifications {
        if n["method"] != "$/output" || n["params"]["token"] != token {
            continue;
        }
        let p: OutputParams = serde_json::from_value(n["params"].clone()).unwrap();
        match p.stream {
            OutputStream::Stdout => out.extend(p.data.0),
            OutputStream::Stderr => err.extend(p.data.0),
            OutputStream::Terminal => term.extend(p.data.0),
        }
    }
    let s = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (s(out), s(err), s(term))
}

async fn run(host: &mut Harness<Agent>, params: ExecStartParams, token: &str) -> ExecExit {
    let started = host.request::<m::ExecStart>(&params).await.unwrap();
    host.request::<m::ExecAttach>(&attach(&started.exec_id, token))
        .await
        .unwrap()
}

#[tokio::test]
async fn output_arrives_while_the_command_runs_and_the_exit_comes_last() {
    let mut host = agent().await;
    let started = host
        .request::<m::ExecStart>(&start(&[
            "sh",
            "-c",
            "echo first; sleep 1; echo second >&2; exit 3",
        ]))
        .await
        .unwrap();
    let began = Instant::now();
    let id = host
        .send::<m::ExecAttach>(&attach(&started.exec_id, "t1"))
        .await;
    let first = host.next_message(Duration::from_secs(5)).await.unwrap();
    assert_eq!(first["method"], "$/output", "{first}");
    assert!(
        began.elapsed() < Duration::from_millis(800),
        "the first line came only after {:?}, with the command's end",
        began.elapsed()
    );
    host.notifications.push(first);
    let answer = host.answer_to(&id).await.unwrap();
    let exit: ExecExit = serde_json::from_value(answer["result"].clone()).unwrap();
    assert_eq!(
        (exit.exit_code, exit.signal, exit.timed_out),
        (3, None, false)
    );
    let (out, err, _) = output_of(&host.notifications, "t1");
    assert_eq!((out.as_str(), err.as_str()), ("first\n", "second\n"));
}

#[tokio::test]
async fn stdin_is_streamed_in_and_its_end_ends_the_command() {
    let mut host = agent().await;
    let mut params = start(&["cat"]);
    params.stdin = true;
    let started = host.request::<m::ExecStart>(&params).await.unwrap();
    for (data, eof) in [(&b"hello "[..], false), (&b"world"[..], true)] {
        host.request::<m::ExecWrite>(&ExecWriteParams {
            sandbox_id: SID.into(),
            exec_id: started.exec_id.clone(),
            data: Data(data.to_vec()),
            eof,
        })
        .await
        .unwrap();
    }
    let exit = host
        .request::<m::ExecAttach>(&attach(&started.exec_id, "t2"))
        .await
        .unwrap();
    assert_eq!(exit.exit_code, 0);
    assert_eq!(output_of(&host.notifications, "t2").0, "hello world");
}

#[tokio::test]
async fn a_signal_reaches_the_whole_group_and_a_timeout_kills() {
    let mut host = agent().await;
    // The shell's child sleeps too: a signal to the group ends both.
    let started = host
        .request::<m::ExecStart>(&start(&["sh", "-c", "sleep 30; echo survived"]))
        .await
        .unwrap();
    host.request::<m::ExecSignal>(&ExecSignalParams {
        sandbox_id: SID.into(),
        exec_id: started.exec_id.clone(),
        signal: Signal::Terminate,
    })
    .await
    .unwrap();
    let exit = host
        .request::<m::ExecAttach>(&attach(&started.exec_id, "t3"))
        .await
        .unwrap();
    assert_eq!((exit.exit_code, exit.signal), (143, Some(15)));
    assert_eq!(output_of(&host.notifications, "t3").0, "");

    let mut slow = start(&["sleep", "30"]);
    slow.timeout_s = Some(1);
    let began = Instant::now();
    let exit = run(&mut host, slow, "t4").await;
    assert!(exit.timed_out && exit.signal == Some(9), "{exit:?}");
    assert!(began.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_terminal_has_its_size_resizes_and_ends_with_the_shell() {
    let mut host = agent().await;
    let mut params = start(&["sh"]);
    params.pty = Some(TerminalSize { rows: 24, cols: 80 });
    let started = host.request::<m::ExecStart>(&params).await.unwrap();
    let exec_id = started.exec_id.clone();
    let write = |data: &str| ExecWriteParams {
        sandbox_id: SID.into(),
        exec_id: exec_id.clone(),
        data: Data(data.as_bytes().to_vec()),
        eof: false,
    };
    let attached = host.send::<m::ExecAttach>(&attach(&exec_id, "t5")).await;
    host.request::<m::ExecWrite>(&write("stty size; tty\n"))
        .await
        .unwrap();
    // The resize must come after the shell answered at the first size.
    let waited = Instant::now();
    while !output_of(&host.notifications, "t5").2.contains("24 80") {
        assert!(
            waited.elapsed() < Duration::from_secs(10),
            "no `stty size` answer"
        );
        let n = host.next_message(Duration::from_secs(10)).await.unwrap();
        host.notifications.push(n);
    }
    host.request::<m::ExecResize>(&ExecResizeParams {
        sandbox_id: SID.into(),
        exec_id: exec_id.clone(),
        size: TerminalSize {
            rows: 50,
            cols: 132,
        },
    })
    .await
    .unwrap();
    host.request::<m::ExecWrite>(&write("stty size; exit 7\n"))
        .await
        .unwrap();
    let answer = host.answer_to(&attached).await.unwrap();
    let exit: ExecExit = serde_json::from_value(answer["result"].clone()).unwrap();
    assert_eq!(exit.exit_code, 7);
    let (out, err, term) = output_of(&host.notifications, "t5");
    assert!(
        out.is_empty() && err.is_empty(),
        "a terminal has one stream"
    );
    assert!(term.contains("24 80"), "{term:?}");
    assert!(term.contains("/dev/pts/"), "not a terminal: {term:?}");
    assert!(
        term.contains("50 132"),
        "the resize did not reach it: {term:?}"
    );
}

#[tokio::test]
async fn a_command_started_earlier_is_listed_and_read_again_from_any_chunk() {
    let mut host = agent().await;
    let started = host
        .request::<m::ExecStart>(&start(&[
            "sh",
            "-c",
            "for i in 1 2 3; do echo $i; sleep 0.1; done",
        ]))
        .await
        .unwrap();
    let listed = host
        .request::<m::ExecList>(&ExecListParams {
            sandbox_id: SID.into(),
        })
        .await
        .unwrap();
    let mine = listed
        .sessions
        .iter()
        .find(|s| s.exec_id == started.exec_id)
        .expect("the command is listed");
    assert_eq!(mine.argv[0], "sh");
    let first = host
        .request::<m::ExecAttach>(&attach(&started.exec_id, "t6"))
        .await
        .unwrap();
    assert_eq!(output_of(&host.notifications, "t6").0, "1\n2\n3\n");
    // Again, from the second chunk: the first line is skipped, the exit is the same.
    let again = host
        .request::<m::ExecAttach>(&ExecAttachParams {
            from_seq: 1,
            ..attach(&started.exec_id, "t7")
        })
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(output_of(&host.notifications, "t7").0, "2\n3\n");
    let listed = host
        .request::<m::ExecList>(&ExecListParams {
            sandbox_id: SID.into(),
        })
        .await
        .unwrap();
    let ended = listed
        .sessions
        .iter()
        .find(|s| s.exec_id == started.exec_id)
        .unwrap();
    assert_eq!(ended.exit.as_ref().map(|e| e.exit_code), Some(0));
    let missing = host
        .request::<m::ExecAttach>(&attach("e-999999", "t8"))
        .await
        .unwrap_err();
    assert!(
        matches!(&missing, CallError::Remote(e) if e.code == ErrorKind::NotFound.code()),
        "{missing:?}"
    );
}

#[tokio::test]
async fn cancelling_an_attach_detaches_and_leaves_the_command_running() {
    let mut host = agent().await;
    let mut params = start(&["sh", "-c", "echo up; sleep 1; echo done"]);
    params.cwd = Some("/".into());
    params.env.insert("GREETING".into(), "hi".into());
    let started = host.request::<m::ExecStart>(&params).await.unwrap();
    let id = host
        .send::<m::ExecAttach>(&attach(&started.exec_id, "t9"))
        .await;
    host.next_message(Duration::from_secs(5)).await.unwrap();
    host.cancel(&id).await;
    let answer = host.answer_to(&id).await.unwrap();
    assert!(answer.get("error").is_some(), "{answer}");
    let exit = host
        .request::<m::ExecAttach>(&attach(&started.exec_id, "t10"))
        .await
        .unwrap();
    assert_eq!(exit.exit_code, 0);
    assert_eq!(output_of(&host.notifications, "t10").0, "up\ndone\n");

    let mut env = start(&["sh", "-c", "pwd; echo $GREETING"]);
    env.cwd = Some("/tmp".into());
    env.env.insert("GREETING".into(), "hi".into());
    run(&mut host, env, "t11").await;
    assert_eq!(output_of(&host.notifications, "t11").0, "/tmp\nhi\n");
}

fn path_params(path: &std::path::Path) -> FsPathParams {
    FsPathParams {
        sandbox_id: SID.into(),
        path: path.display().to_string(),
        service: None,
    }
}

#[tokio::test]
async fn files_are_written_read_in_chunks_listed_renamed_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut host = agent().await;
    let file = dir.path().join("deep/er/notes.txt");
    let write = |data: &[u8], append| FsWriteParams {
        sandbox_id: SID.into(),
        path: file.display().to_string(),
        service: None,
        data: Data(data.to_vec()),
        append,
        mode: Some(0o600),
    };
    host.request::<m::FsWrite>(&write(b"hello ", false))
        .await
        .unwrap();
    let written = host
        .request::<m::FsWrite>(&write(b"world", true))
        .await
        .unwrap();
    assert_eq!(written.size, 11);
    let read = host
        .request::<m::FsRead>(&FsReadParams {
            sandbox_id: SID.into(),
            path: file.display().to_string(),
            service: None,
            offset: 6,
            length: Some(3),
        })
        .await
        .unwrap();
    assert_eq!(
        (read.data.0.as_slice(), read.size, read.eof),
        (&b"wor"[..], 11, false)
    );
    std::os::unix::fs::symlink("notes.txt", dir.path().join("deep/er/latest")).unwrap();
    let listed = host
        .request::<m::FsList>(&path_params(&dir.path().join("deep/er")))
        .await
        .unwrap();
    let names: Vec<_> = listed
        .entries
        .iter()
        .map(|e| (e.name.as_str(), e.kind))
        .collect();
    assert_eq!(
        names,
        [("latest", FileKind::Symlink), ("notes.txt", FileKind::File)]
    );
    assert_eq!(listed.entries[0].link_target.as_deref(), Some("notes.txt"));
    assert_eq!(listed.entries[1].mode, 0o600);
    let moved = dir.path().join("moved.txt");
    host.request::<m::FsRename>(&FsRenameParams {
        sandbox_id: SID.into(),
        from: file.display().to_string(),
        to: moved.display().to_string(),
        service: None,
    })
    .await
    .unwrap();
    assert_eq!(std::fs::read_to_string(&moved).unwrap(), "hello world");
    let not_empty = host
        .request::<m::FsRemove>(&FsRemoveParams {
            sandbox_id: SID.into(),
            path: dir.path().join("deep").display().to_string(),
            service: None,
            recursive: false,
        })
        .await
        .unwrap_err();
    assert!(matches!(not_empty, CallError::Remote(_)));
    host.request::<m::FsRemove>(&FsRemoveParams {
        sandbox_id: SID.into(),
        path: dir.path().join("deep").display().to_string(),
        service: None,
        recursive: true,
    })
    .await
    .unwrap();
    let gone = host
        .request::<m::FsStat>(&path_params(&dir.path().join("deep")))
        .await
        .unwrap_err();
    assert!(
        matches!(&gone, CallError::Remote(e) if e.code == ErrorKind::NotFound.code()),
        "{gone:?}"
    );
}

#[tokio::test]
async fn a_tree_goes_in_and_comes_out_chunk_by_chunk_unchanged() {
    let src = tempfile::tempdir().unwrap();
    let tree = src.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    // Over two chunks, so the stream really is cut.
    let big: Vec<u8> = (0..(MAX_CHUNK + 12345)).map(|i| (i % 251) as u8).collect();
    std::fs::write(tree.join("sub/big.bin"), &big).unwrap();
    std::fs::write(tree.join("small.txt"), "small").unwrap();
    std::os::unix::fs::symlink("small.txt", tree.join("link")).unwrap();
    let mut archive = tar::Builder::new(vec![]);
    archive.follow_symlinks(false);
    archive.append_dir_all("tree", &tree).unwrap();
    let bytes = archive.into_inner().unwrap();

    let dst = tempfile::tempdir().unwrap();
    let mut host = agent().await;
    let into = dst.path().join("in");
    let mut transfer_id = None;
    let chunks: Vec<&[u8]> = bytes.chunks(300_000).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let put = host
            .request::<m::FsTarPut>(&FsTarPutParams {
                sandbox_id: SID.into(),
                path: into.display().to_string(),
                service: None,
                transfer_id: transfer_id.clone(),
                offset: (i * 300_000) as u64,
                data: Data(chunk.to_vec()),
                done: i + 1 == chunks.len(),
                from_socket: None,
            })
            .await
            .unwrap();
        transfer_id = Some(put.transfer_id);
    }
    assert_eq!(std::fs::read(into.join("tree/sub/big.bin")).unwrap(), big);
    assert_eq!(
        std::fs::read_link(into.join("tree/link")).unwrap(),
        std::path::Path::new("small.txt")
    );

    let mut pulled = vec![];
    let mut transfer_id = None;
    let mut calls = 0;
    loop {
        let got = host
            .request::<m::FsTarGet>(&FsTarGetParams {
                sandbox_id: SID.into(),
                path: into.join("tree").display().to_string(),
                service: None,
                transfer_id: transfer_id.clone(),
            })
            .await
            .unwrap();
        calls += 1;
        assert!(got.data.len() <= MAX_CHUNK);
        pulled.extend(got.data.0);
        transfer_id = Some(got.transfer_id);
        if got.eof {
            break;
        }
    }
    assert!(calls >= 2, "a tree over a chunk came in {calls} call");
    let out = tempfile::tempdir().unwrap();
    tar::Archive::new(pulled.as_slice())
        .unpack(out.path())
        .unwrap();
    assert_eq!(
        std::fs::read(out.path().join("tree/sub/big.bin")).unwrap(),
        big
    );
    assert_eq!(
        std::fs::read_to_string(out.path().join("tree/small.txt")).unwrap(),
        "small"
    );

    let stale = host
        .request::<m::FsTarGet>(&FsTarGetParams {
            sandbox_id: SID.into(),
            path: into.display().to_string(),
            service: None,
            transfer_id,
        })
        .await
        .unwrap_err();
    assert!(matches!(stale, CallError::Remote(e) if e.code == ErrorKind::NotFound.code()));
}
