//! Starts the pieces of a local cluster as child processes on loopback
//! ports: `redis-server`, `cluster-node`s and Caddy in front of them. Used by
//! the cluster tests (`tests/cluster.rs`, `tests/cluster_faults.rs`) and the
//! cluster benchmark (`src/bin/cluster-bench.rs`); `examples/cluster/run.sh`
//! does the same from a shell.
//!
//! Every process is stopped through its handle: [`Proc`] kills and reaps
//! its child when dropped. Logs go to files in a [`TempDir`].

use std::io::{self, BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A directory removed (with its content) on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new, empty directory under the system's temporary directory.
    pub fn new(label: &str) -> io::Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!("{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Prints the processes' logs (the `*.log` files in `.0`, a test's
/// [`TempDir`]) if the thread panics while it is alive: keep one for the
/// length of a test.
#[derive(Debug)]
pub struct LogsOnPanic<'a>(pub &'a Path);

impl Drop for LogsOnPanic<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let Ok(entries) = std::fs::read_dir(self.0) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "log") {
                let log = std::fs::read_to_string(&path).unwrap_or_default();
                eprintln!("----- {} -----\n{log}", path.display());
            }
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound to port 0, then released).
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until something accepts TCP connections on `127.0.0.1:port`.
pub fn wait_for_port(port: u16, within: Duration) -> io::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("nothing listens on 127.0.0.1:{port} after {within:?}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process, killed and reaped on drop. Its stderr (and stdout,
/// unless piped) goes to `{dir}/{name}.log`.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Spawns `command` with its output in `{dir}/{name}.log` (stdout is
    /// piped instead when `pipe_stdout`).
    pub fn spawn(name: &str, mut command: Command, dir: &Path, pipe_stdout: bool) -> io::Result<Proc> {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log)?;
        command
            .stdin(Stdio::null())
            .stderr(file.try_clone()?)
            .stdout(if pipe_stdout { Stdio::piped() } else { file.into() });
        let program = command.get_program().to_string_lossy().into_owned();
        let child = command
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start {program}: {e}")))?;
        Ok(Proc {
            name: name.to_owned(),
            child,
            log,
        })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child, e.g. to take its piped stdout.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Kills the process (SIGKILL: no goodbye to anyone) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends `signal` (`STOP`, `CONT`, `TERM`, ...) to the process, through `kill`.
    pub fn signal(&self, signal: &str) -> io::Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("kill -{signal} {} failed", self.child.id())))
        }
    }

    /// Stops the process gracefully (SIGTERM) and reaps it; SIGKILL if it
    /// has not exited within `within`.
    pub fn stop(&mut self, within: Duration) {
        if self.signal("TERM").is_ok() {
            let deadline = Instant::now() + within;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.kill();
    }

    /// The log's content so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `redis-server` on a free port with persistence off. Returns the
/// process and its URL.
pub fn start_redis(dir: &Path) -> io::Result<(Proc, String)> {
    let port = free_port()?;
    let proc = start_redis_on(dir, port, false)?;
    Ok((proc, format!("redis://127.0.0.1:{port}/")))
}

/// Starts `redis-server` on `port` (e.g. again on the port of one that was
/// stopped), its files in `dir`. With `persist`, every write goes to an
/// append-only file first, so a restart in the same `dir` keeps the data;
/// without, a restart starts empty.
pub fn start_redis_on(dir: &Path, port: u16, persist: bool) -> io::Result<Proc> {
    let mut command = Command::new("redis-server");
    command.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""]);
    if persist {
        command.args(["--appendonly", "yes", "--appendfsync", "always"]);
    } else {
        command.args(["--appendonly", "no"]);
    }
    command.arg("--dir").arg(dir);
    let proc = Proc::spawn(&format!("redis-{port}"), command, dir, false)?;
    wait_for_port(port, Duration::from_secs(10))?;
    Ok(proc)
}

/// Starts Caddy on a free port in front of `upstreams`: `reverse_proxy`
/// with round-robin balancing (so consecutive clients land on different
/// nodes), retrying another upstream for up to 5 s when one does not answer
/// (a dead node). The admin endpoint is off. Returns the process and the
/// `ws://` URL clients use.
pub fn start_caddy(dir: &Path, upstreams: &[SocketAddr]) -> io::Result<(Proc, String)> {
    let port = free_port()?;
    let proc = start_caddy_on(dir, "caddy", port, upstreams, "round_robin")?;
    Ok((proc, format!("ws://127.0.0.1:{port}/")))
}

/// Starts Caddy as `name` on `port` (e.g. again on the port of one that was
/// stopped) in front of `upstreams`, with `lb_policy {policy}`: e.g.
/// `ip_hash`, which sends every connection from one client address to the
/// same upstream (what resumable sessions need). The Caddyfile
/// ([`caddyfile_with_policy`]) is `{dir}/{name}.Caddyfile`, the log
/// `{dir}/{name}.log`.
pub fn start_caddy_on(dir: &Path, name: &str, port: u16, upstreams: &[SocketAddr], policy: &str) -> io::Result<Proc> {
    let config = dir.join(format!("{name}.Caddyfile"));
    std::fs::write(&config, caddyfile_with_policy(port, upstreams, policy))?;
    let mut command = Command::new("caddy");
    command
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&config)
        // Caddy keeps state under these; keep it in the temporary directory.
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("data"));
    let proc = Proc::spawn(name, command, dir, false)?;
    wait_for_port(port, Duration::from_secs(15))?;
    Ok(proc)
}

/// The Caddyfile [`start_caddy`] writes.
pub fn caddyfile(port: u16, upstreams: &[SocketAddr]) -> String {
    caddyfile_with_policy(port, upstreams, "round_robin")
}

/// The Caddyfile [`start_caddy_on`] writes: `reverse_proxy` to `upstreams`
/// with `lb_policy {policy}`, retrying another upstream for up to 5 s.
pub fn caddyfile_with_policy(port: u16, upstreams: &[SocketAddr], policy: &str) -> String {
    let upstreams: Vec<String> = upstreams.iter().map(ToString::to_string).collect();
    format!(
        "{{
\tadmin off
\tauto_https off
}}

http://127.0.0.1:{port} {{
\tbind 127.0.0.1
\treverse_proxy {} {{
\t\tlb_policy {policy}
\t\tlb_try_duration 5s
\t\tlb_try_interval 100ms
\t}}
}}
",
        upstreams.join(" ")
    )
}

/// A running `cluster-node`.
#[derive(Debug)]
pub struct Node {
    /// The process.
    pub proc: Proc,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its node id in the cluster (0 without Redis).
    pub node: u64,
}

impl Node {
    /// `ws://{addr}/`.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }
}

/// Starts the `cluster-node` binary `exe` as `name` (listening on `listen`,
/// e.g. `127.0.0.1:0`) and waits for its `listening ws://ADDR/ node N` line.
pub fn start_node(exe: &Path, dir: &Path, name: &str, listen: &str, args: &[&str]) -> io::Result<Node> {
    let mut command = Command::new(exe);
    command.args(["--listen", listen, "--name", name]).args(args);
    let mut proc = Proc::spawn(name, command, dir, true)?;
    let stdout = proc.child().stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
    let parsed = line
        .strip_prefix("listening ws://")
        .and_then(|rest| rest.trim().split_once("/ node "))
        .and_then(|(addr, node)| Some((addr.parse().ok()?, node.parse().ok()?)));
    match parsed {
        Some((addr, node)) => Ok(Node { proc, addr, node }),
        None => Err(io::Error::other(format!(
            "{name} did not start (first line {line:?}); its log:\n{}",
            proc.log()
        ))),
    }
}

/// The `cluster-node` binary next to the running executable (both are
/// built into the same target directory), or `CLUSTER_NODE` if set.
pub fn node_exe() -> PathBuf {
    if let Some(path) = std::env::var_os("CLUSTER_NODE") {
        return PathBuf::from(path);
    }
    let me = std::env::current_exe().expect("the current executable");
    let dir = me.parent().expect("a directory");
    // Binaries sit in target/<profile>/, tests in target/<profile>/deps/.
    [dir.join("cluster-node"), dir.join("../cluster-node")]
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| dir.join("cluster-node"))
}
