//! A command under a pseudo-terminal: the child gets the terminal's far end as
//! stdin, stdout and stderr and as its controlling terminal (a session of its
//! own); the agent keeps the near end to read output, write input, resize and
//! find the foreground process group.

use sandboxer_ext_protocol::TerminalSize;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

/// The terminal type a command gets when its environment names none.
const DEFAULT_TERM: &str = "xterm-256color";

/// The near end of a command's terminal.
pub struct Terminal {
    master: File,
    writer: tokio::sync::Mutex<tokio::fs::File>,
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn winsize(size: TerminalSize) -> libc::winsize {
    libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

impl Terminal {
    /// Starts `command` under a new terminal of `size`.
    pub fn spawn(
        mut command: tokio::process::Command,
        size: TerminalSize,
    ) -> io::Result<(Terminal, tokio::process::Child)> {
        let (mut master, mut slave) = (0, 0);
        let ws = winsize(size);
        // SAFETY: openpty writes two descriptors into the given integers; the
        // name, termios and winsize pointers are null or point to live values.
        check(unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &ws,
            )
        })?;
        // SAFETY: both descriptors were just opened and are owned only here.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        // SAFETY: fcntl on a descriptor we own.
        check(unsafe { libc::fcntl(master.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
        if !command.as_std().get_envs().any(|(k, _)| k == "TERM") {
            command.env("TERM", DEFAULT_TERM);
        }
        command
            .stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave));
        // SAFETY: only async-signal-safe calls (setsid, ioctl) between fork and
        // exec.
        unsafe {
            command.pre_exec(|| {
                check(libc::setsid())?;
                check(libc::ioctl(0, libc::TIOCSCTTY, 0))?;
                Ok(())
            });
        }
        let child = command.spawn()?;
        // The command's copies of the far end are closed with the Command, so
        // that reading the near end ends once the command's side is gone.
        drop(command);
        let master = File::from(master);
        let writer = tokio::fs::File::from_std(master.try_clone()?);
        Ok((
            Terminal {
                master,
                writer: tokio::sync::Mutex::new(writer),
            },
            child,
        ))
    }

    /// The terminal's output, read until the command's side closes.
    pub fn reader(&self) -> tokio::fs::File {
        tokio::fs::File::from_std(
            self.master
                .try_clone()
                .expect("the terminal's descriptor dups"),
        )
    }

    pub async fn write(&self, bytes: &[u8]) -> io::Result<()> {
        let mut w = self.writer.lock().await;
        w.write_all(bytes).await?;
        w.flush().await
    }

    pub fn resize(&self, size: TerminalSize) -> io::Result<()> {
        let ws = winsize(size);
        // SAFETY: TIOCSWINSZ reads one winsize from a live value.
        check(unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) })?;
        Ok(())
    }

    /// The process group in the terminal's foreground.
    pub fn foreground_group(&self) -> Option<i32> {
        // SAFETY: tcgetpgrp only reads the descriptor's state.
        let group = unsafe { libc::tcgetpgrp(self.master.as_raw_fd()) };
        (group > 0).then_some(group)
    }

    /// The character that ends input at the start of a line (Ctrl-D unless
    /// the command changed it).
    pub fn eof_char(&self) -> u8 {
        // SAFETY: tcgetattr fills a termios we own.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(self.master.as_raw_fd(), &mut t) } == 0 {
            t.c_cc[libc::VEOF]
        } else {
            4
        }
    }
}
