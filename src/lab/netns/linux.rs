//! The lab's network on Linux: network namespaces, veths, a bridge and
//! qdiscs, made with iproute2.

use super::{Rate, Shape, Subnet};
use anyhow::{anyhow, bail, Context as _};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Prefix of every namespace the lab makes: `p2pdi<pid>r<run>-<node>`.
const PREFIX: &str = "p2pdi";

/// Where `ip netns` keeps its namespaces.
const NETNS_DIR: &str = "/run/netns";

/// Namespaces and processes alive now, for [`cleanup_all`].
static LIVE: Mutex<Live> = Mutex::new(Live {
    namespaces: Vec::new(),
    pids: Vec::new(),
});

struct Live {
    namespaces: Vec<String>,
    pids: Vec<u32>,
}

fn live() -> std::sync::MutexGuard<'static, Live> {
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The lab's network: the hub and one namespace per node (node 0 is the
/// RS, node 1 + i peer i).
#[derive(Debug)]
pub struct Network {
    hub: String,
    nodes: Vec<String>,
    subnet: Subnet,
}

impl Network {
    /// Makes the hub, `peers` + 1 nodes, their addresses and their qdiscs
    /// (the RS's link is not shaped). On failure, removes what it made.
    pub fn create(subnet: Subnet, shapes: &[Shape]) -> anyhow::Result<Network> {
        let peers = shapes.len();
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let tag = format!(
            "{PREFIX}{}r{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        );
        let network = Network {
            hub: format!("{tag}-hub"),
            nodes: (0..=peers).map(|k| format!("{tag}-{k}")).collect(),
            subnet,
        };
        // Recorded before it exists: a failure part-way removes it too.
        {
            let mut live = live();
            live.namespaces.push(network.hub.clone());
            live.namespaces.extend(network.nodes.iter().cloned());
        }
        network.build(shapes)?;
        Ok(network)
    }

    fn build(&self, shapes: &[Shape]) -> anyhow::Result<()> {
        let mut root = format!("netns add {}\n", self.hub);
        for node in &self.nodes {
            root.push_str(&format!("netns add {node}\n"));
        }
        batch("ip", &[], &root)?;
        let mut hub = String::from("link add br0 type bridge\nlink set br0 up\n");
        for (k, node) in self.nodes.iter().enumerate() {
            hub.push_str(&format!(
                "link add v{k} type veth peer name eth0 netns {node}\nlink set v{k} master br0\nlink set v{k} up\n"
            ));
        }
        batch("ip", &["-n", &self.hub], &hub)?;
        let mut downloads = String::new();
        for (k, node) in self.nodes.iter().enumerate() {
            let lines = format!(
                "addr add {}/16 dev eth0\nlink set eth0 up\nlink set lo up\n",
                self.subnet.host(k)
            );
            batch("ip", &["-n", node], &lines)?;
            if k == 0 {
                continue;
            }
            let shape = &shapes[k - 1];
            let mut egress = String::new();
            if shape.needs_netem() {
                let mut netem = String::from("qdisc add dev eth0 root handle 1: netem");
                if let Some(delay) = shape.delay_ms {
                    netem.push_str(&format!(" delay {delay}ms"));
                }
                if let Some(loss) = shape.loss_percent {
                    netem.push_str(&format!(" loss {loss}%"));
                }
                egress.push_str(&netem);
                egress.push('\n');
                if let Some(up) = shape.upload {
                    egress.push_str(&format!(
                        "qdisc add dev eth0 parent 1:1 handle 10: {}\n",
                        up.tbf()
                    ));
                }
            } else if let Some(up) = shape.upload {
                egress.push_str(&format!("qdisc add dev eth0 root {}\n", up.tbf()));
            }
            if !egress.is_empty() {
                batch("tc", &["-n", node], &egress)?;
            }
            if let Some(down) = shape.download {
                downloads.push_str(&format!("qdisc add dev v{k} root {}\n", down.tbf()));
            }
        }
        if !downloads.is_empty() {
            batch("tc", &["-n", &self.hub], &downloads)?;
        }
        Ok(())
    }

    /// Node `k`'s namespace.
    pub fn namespace(&self, k: usize) -> &str {
        &self.nodes[k]
    }

    /// Node `k`'s address.
    pub fn addr(&self, k: usize) -> Ipv4Addr {
        self.subnet.host(k)
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let names: Vec<String> = self
            .nodes
            .iter()
            .chain(std::iter::once(&self.hub))
            .cloned()
            .collect();
        remove_namespaces(&names);
        live().namespaces.retain(|n| !names.contains(n));
    }
}

/// Deletes namespaces (their veths and qdiscs go with them), ignoring
/// those already gone.
fn remove_namespaces(names: &[String]) {
    let lines: String = names
        .iter()
        .filter(|n| Path::new(NETNS_DIR).join(n).exists())
        .map(|n| format!("netns del {n}\n"))
        .collect();
    if !lines.is_empty() {
        // -force: go on past a failed line.
        let _ = batch("ip", &["-force"], &lines);
    }
}

/// Runs `tool ARGS -batch -` with `lines` on its standard input.
fn batch(tool: &str, args: &[&str], lines: &str) -> anyhow::Result<()> {
    let mut child = Command::new(tool)
        .args(args)
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {tool} (install iproute2)"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(lines.as_bytes())?;
    }
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "{tool} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Checks that the lab can make its network: `ip` and `tc` present, the
/// right to make namespaces (CAP_NET_ADMIN), and netem if `netem`. Says
/// exactly what is missing; makes nothing that outlives it.
pub fn preflight(netem: bool) -> anyhow::Result<()> {
    for tool in ["ip", "tc"] {
        let found = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        anyhow::ensure!(
            found,
            "--net netns needs `{tool}` (iproute2) on the PATH; nothing was run"
        );
    }
    let probe = format!("{PREFIX}{}probe", std::process::id());
    live().namespaces.push(probe.clone());
    let made = batch("ip", &[], &format!("netns add {probe}\n"));
    let linked = || batch("ip", &["-n", &probe], "link add probe0 type bridge\n");
    let result = match made {
        Err(err) => Err(anyhow!(
            "--net netns makes network namespaces, which needs CAP_SYS_ADMIN, and links and qdiscs in them, which needs CAP_NET_ADMIN: run the lab as root; `ip netns add` said: {err}; nothing was run"
        )),
        Ok(()) => match linked() {
            Err(err) => Err(anyhow!(
                "--net netns makes links and qdiscs, which needs CAP_NET_ADMIN: run the lab as root; `ip link add` said: {err}; nothing was run"
            )),
            Ok(()) => Ok(()),
        },
    };
    let result = match result {
        Ok(()) if netem => batch(
            "tc",
            &["-n", &probe],
            "qdisc add dev lo root netem delay 1ms\n",
        )
        .map_err(|err| {
            anyhow!(
                "this kernel has no netem qdisc (sch_netem), so `latency_ms` and `loss_percent` cannot be applied ({err}); remove them from the experiment or run on a kernel with netem; nothing was run"
            )
        }),
        other => other,
    };
    remove_namespaces(std::slice::from_ref(&probe));
    live().namespaces.retain(|n| n != &probe);
    result
}

/// Removes namespaces left by a lab that was killed outright (its process
/// is gone), so they do not pile up. Returns how many it removed.
pub fn remove_stale() -> usize {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else {
        return 0;
    };
    let stale: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| {
            let Some(rest) = name.strip_prefix(PREFIX) else {
                return false;
            };
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            match digits.parse::<u32>() {
                Ok(pid) => {
                    pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
                }
                Err(_) => false,
            }
        })
        .collect();
    remove_namespaces(&stale);
    stale.len()
}

/// Kills every daemon the lab started and removes every namespace it
/// made: the last thing done on a second Ctrl-C, before exiting.
pub fn cleanup_all() {
    let (namespaces, pids) = {
        let mut live = live();
        (
            std::mem::take(&mut live.namespaces),
            std::mem::take(&mut live.pids),
        )
    };
    for pid in pids {
        signal(pid, libc::SIGKILL);
    }
    remove_namespaces(&namespaces);
}

fn signal(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) on a child we started.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// A daemon the lab started in a namespace; stopped (SIGTERM, then
/// SIGKILL after a grace time) when dropped.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    /// Its log (JSON lines).
    pub log: std::path::PathBuf,
}

impl Daemon {
    /// Starts `p2p-di ARGS` in namespace `ns`, its log in `log`.
    pub fn start(ns: &str, args: &[&str], log: &Path) -> anyhow::Result<Daemon> {
        let binary = std::env::current_exe().context("finding the p2p-di binary")?;
        let file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(&binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting p2p-di {} in {ns}", args.join(" ")))?;
        live().pids.push(child.id());
        Ok(Daemon {
            child,
            log: log.to_owned(),
        })
    }

    /// Kills it at once (SIGKILL): no LEAVE, its sockets closed by the
    /// kernel.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks it to stop (SIGTERM: a peer sends LEAVE) and waits up to
    /// `grace`, then kills it.
    pub fn stop(&mut self, grace: Duration) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        signal(self.child.id(), libc::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
    }

    /// Whether it has exited, and how.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(3));
        let id = self.child.id();
        live().pids.retain(|&p| p != id);
    }
}

/// A TCP connection to `addr` made from inside namespace `ns` (a thread
/// of ours enters it, connects and ends; the socket stays in `ns`).
pub fn connect_in(ns: &str, addr: SocketAddr, timeout: Duration) -> std::io::Result<TcpStream> {
    let path = Path::new(NETNS_DIR).join(ns);
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let netns = File::open(&path)?;
                // SAFETY: setns(2) on this thread only, with a descriptor
                // we hold for the call; the thread ends right after.
                if unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                TcpStream::connect_timeout(&addr, timeout)
            })
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the connecting thread panicked")))
    })
}

/// One HTTP/1.1 exchange with a daemon's admin endpoint inside `ns`:
/// the status and the body.
pub fn http(
    ns: &str,
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> anyhow::Result<(u16, String)> {
    let timeout = Duration::from_secs(30);
    let mut stream = connect_in(ns, addr, Duration::from_secs(5))
        .with_context(|| format!("connecting to {addr} in {ns}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let body = body.map(serde_json::Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .with_context(|| format!("{method} {path} on {addr} in {ns}"))?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("{method} {path}: no HTTP response"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("{method} {path}: bad status line"))?;
    Ok((status, body.to_owned()))
}

impl Subnet {
    /// The address of node `k` (0: the RS): base + 1 + k.
    fn host(self, k: usize) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) + 1 + k as u32)
    }
}

impl Rate {
    /// The `tbf` parameters, as `tc` takes them.
    fn tbf(self) -> String {
        // The queue holds half a second of traffic: enough that TCP fills
        // the link, not so much that a run measures queueing.
        let limit = (self.bytes_per_sec / 2).max(self.burst).max(64 * 1024);
        format!(
            "tbf rate {}bit burst {} limit {}",
            self.bytes_per_sec * 8,
            self.burst,
            limit
        )
    }
}

impl Shape {
    /// Whether it needs netem.
    pub fn needs_netem(&self) -> bool {
        self.delay_ms.is_some() || self.loss_percent.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_addresses_count_from_the_subnet() {
        let subnet: Subnet = "10.9.0.0/16".parse().unwrap();
        assert_eq!(subnet.host(0), Ipv4Addr::new(10, 9, 0, 1));
        assert_eq!(subnet.host(300), Ipv4Addr::new(10, 9, 1, 45));
    }

    #[test]
    fn a_rate_becomes_tbf_parameters() {
        let rate = Rate {
            bytes_per_sec: 4_000_000,
            burst: 400_000,
        };
        assert_eq!(
            rate.tbf(),
            "tbf rate 32000000bit burst 400000 limit 2000000"
        );
    }
}
