//! Running third-party programs with a time limit, their output captured to
//! files (no pipe can fill up and stall them), and always stopped.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::Error;

/// What a finished program printed.
#[derive(Debug, Clone)]
pub struct Output {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it wrote to standard output.
    pub stdout: String,
    /// Everything it wrote to standard error.
    pub stderr: String,
}

/// A running program that is killed (and reaped) when this is dropped.
#[derive(Debug)]
pub struct Spawned {
    name: String,
    child: Option<Child>,
    log_dir: tempfile::TempDir,
}

impl Spawned {
    /// Starts `command` with its output going to log files.
    pub fn start(name: &str, mut command: Command) -> Result<Self, Error> {
        let log_dir = tempfile::tempdir().map_err(|e| Error::io("creating a log folder", e))?;
        let stdout = File::create(log_dir.path().join("stdout"))
            .map_err(|e| Error::io("creating a log file", e))?;
        let stderr = File::create(log_dir.path().join("stderr"))
            .map_err(|e| Error::io("creating a log file", e))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| Error::Spawn {
                program: name.to_owned(),
                source: e,
            })?;
        Ok(Self {
            name: name.to_owned(),
            child: Some(child),
            log_dir,
        })
    }

    /// The program's process id.
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Everything the program has written to standard output so far.
    pub fn stdout(&self) -> String {
        read_lossy(&self.log_dir.path().join("stdout"))
    }

    /// Everything the program has written to standard error so far.
    pub fn stderr(&self) -> String {
        read_lossy(&self.log_dir.path().join("stderr"))
    }

    /// Waits until `ready(stdout)` is true, the program exits, or `limit` passes.
    pub fn wait_for_output(
        &mut self,
        limit: Duration,
        mut ready: impl FnMut(&str) -> bool,
    ) -> Result<String, Error> {
        let deadline = Instant::now() + limit;
        loop {
            let out = self.stdout();
            if ready(&out) {
                return Ok(out);
            }
            if let Some(status) = self.try_wait()? {
                return Err(self.failed(format!("exited with {status} before it was ready")));
            }
            if Instant::now() >= deadline {
                return Err(self.failed(format!("not ready within {limit:?}")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every line of standard output so far that is a JSON value, in order
    /// (the driver scripts print one JSON event per line).
    pub fn json_events(&self) -> Vec<serde_json::Value> {
        self.stdout()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits up to `limit` for a JSON event line that `matches` and returns
    /// it; fails at once if the program exits first.
    pub fn wait_for_json(
        &mut self,
        limit: Duration,
        matches: impl Fn(&serde_json::Value) -> bool,
    ) -> Result<serde_json::Value, Error> {
        let mut found = None;
        self.wait_for_output(limit, |out| {
            found = out
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .find(&matches);
            found.is_some()
        })?;
        found.ok_or_else(|| self.failed("lost the event it printed".to_owned()))
    }

    /// Waits for the program to exit by itself within `limit`; kills it otherwise.
    pub fn wait(mut self, limit: Duration) -> Result<Output, Error> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_wait()? {
                self.child = None;
                return Ok(Output {
                    status,
                    stdout: self.stdout(),
                    stderr: self.stderr(),
                });
            }
            if Instant::now() >= deadline {
                self.stop();
                return Err(self.failed(format!("still running after {limit:?}; killed")));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills the program now and reaps it. Dropping does the same.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn try_wait(&mut self) -> Result<Option<ExitStatus>, Error> {
        match self.child.as_mut() {
            Some(child) => child
                .try_wait()
                .map_err(|e| Error::io("waiting for a program", e)),
            None => Err(self.failed("already stopped".to_owned())),
        }
    }

    fn failed(&self, what: String) -> Error {
        Error::Program {
            program: self.name.clone(),
            what,
            stdout: tail(&self.stdout()),
            stderr: tail(&self.stderr()),
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs a program to completion within `limit` and insists that it succeeds.
pub fn run(name: &str, command: Command, limit: Duration) -> Result<Output, Error> {
    let out = Spawned::start(name, command)?.wait(limit)?;
    if !out.status.success() {
        return Err(Error::Program {
            program: name.to_owned(),
            what: format!("exited with {}", out.status),
            stdout: tail(&out.stdout),
            stderr: tail(&out.stderr),
        });
    }
    Ok(out)
}

/// The path of `program` when installed, or [`Error::NotInstalled`] naming
/// the Debian package that provides it.
pub fn require(program: &str, package: &'static str) -> Result<PathBuf, Error> {
    let p = Path::new(program);
    if p.is_absolute() && p.is_file() {
        return Ok(p.to_path_buf());
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(program))
                .find(|c| c.is_file())
        })
        .ok_or(Error::NotInstalled {
            program: program.to_owned(),
            package,
        })
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The last lines of a log, enough to explain a failure.
fn tail(log: &str) -> String {
    const KEEP: usize = 4000;
    if log.len() <= KEEP {
        return log.to_owned();
    }
    let mut start = log.len() - KEEP;
    while !log.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &log[start..])
}
