//! Two network namespaces joined by a veth pair, so that two programs on one
//! machine see each other at ordinary (non-loopback) addresses.
//!
//! Some peers refuse loopback addresses (transmission never connects out to
//! 127.0.0.0/8). [`NetnsPair::create`] makes namespaces `A` and `B`, each
//! with its loopback up, and one veth pair between them with the addresses
//! `10.X.Y.1/24` (in `A`) and `10.X.Y.2/24` (in `B`). There is no default
//! route and nothing is added to the host's own namespace: the veth is
//! created inside `A` and its other end moved straight into `B`. Both
//! namespaces are deleted when the pair is dropped (also when a test
//! panics), which deletes the veth with them.
//!
//! It needs `ip` (Debian package `iproute2`) and the right to create
//! namespaces (root). Names include the process id and a counter, so tests
//! running in parallel threads or processes do not collide.
//!
//! ```no_run
//! use bitswarm_testkit::netns::{NetnsPair, Side};
//!
//! let pair = NetnsPair::create("demo")?;
//! // A program in B reaches one in A at pair.addr(Side::A).
//! let mut route = pair.command(Side::B, "ip");
//! route.arg("route").arg("get").arg(pair.addr(Side::A).to_string());
//! bitswarm_testkit::process::run("ip", route, std::time::Duration::from_secs(10))?;
//! # Ok::<(), bitswarm_testkit::Error>(())
//! ```

use std::ffi::OsStr;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::Error;
use crate::process::{require, run};

/// How long one `ip` command may take.
const IP_LIMIT: Duration = Duration::from_secs(10);

/// Pairs made by this process so far, for unique names and subnets.
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// One of the two namespaces of a [`NetnsPair`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The namespace with address `10.X.Y.1`.
    A,
    /// The namespace with address `10.X.Y.2`.
    B,
}

/// Two namespaces joined by a veth pair; both deleted on drop.
#[derive(Debug)]
pub struct NetnsPair {
    ip: PathBuf,
    names: [String; 2],
    addrs: [Ipv4Addr; 2],
    /// Which namespaces exist (were added and not yet deleted).
    created: [bool; 2],
}

impl NetnsPair {
    /// Creates the namespaces `bs-<tag>-<pid>-<n>-a` and `...-b` (the tag
    /// cut to keep names short), joined by a veth pair, loopback and veth up.
    pub fn create(tag: &str) -> Result<Self, Error> {
        let ip = require("ip", "iproute2")?;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let tag: String = tag
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(12)
            .collect();
        let base = format!("bs-{tag}-{pid}-{n}");
        // The subnet only needs to differ between pairs for readable logs:
        // the pairs are isolated from each other and from the host.
        let x = ((pid >> 8) & 0xff) as u8;
        let y = ((pid & 0xff) as u8).wrapping_add(n as u8);
        let mut pair = Self {
            ip,
            names: [format!("{base}-a"), format!("{base}-b")],
            addrs: [Ipv4Addr::new(10, x, y, 1), Ipv4Addr::new(10, x, y, 2)],
            created: [false, false],
        };
        pair.set_up()?;
        Ok(pair)
    }

    fn set_up(&mut self) -> Result<(), Error> {
        for i in 0..2 {
            self.ip(&["netns", "add", &self.names[i]])?;
            self.created[i] = true;
        }
        let [a, b] = self.names.clone();
        self.ip(&[
            "-n", &a, "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b", "netns",
            &b,
        ])?;
        for (ns, dev, addr) in [(&a, "veth-a", self.addrs[0]), (&b, "veth-b", self.addrs[1])] {
            self.ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev])?;
            self.ip(&["-n", ns, "link", "set", "lo", "up"])?;
            self.ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(())
    }

    fn ip(&self, args: &[&str]) -> Result<(), Error> {
        let mut cmd = Command::new(&self.ip);
        cmd.args(args);
        run("ip", cmd, IP_LIMIT).map(drop)
    }

    /// The namespace's name (for `ip netns exec`).
    pub fn name(&self, side: Side) -> &str {
        &self.names[index(side)]
    }

    /// The namespace's address on the veth.
    pub fn addr(&self, side: Side) -> Ipv4Addr {
        self.addrs[index(side)]
    }

    /// A command that runs `program` inside the namespace
    /// (`ip netns exec NAME program`); add its arguments. `ip` executes the
    /// program in its own place, so the process id is the program's and
    /// killing it kills the program.
    pub fn command(&self, side: Side, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(&self.ip);
        cmd.arg("netns")
            .arg("exec")
            .arg(self.name(side))
            .arg(program);
        cmd
    }
}

fn index(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end inside it, and with it
        // the other end. A program still running inside keeps its namespace
        // alive (unnamed) until it exits.
        for i in 0..2 {
            if self.created[i] {
                let _ = self.ip(&["netns", "delete", &self.names[i]]);
                self.created[i] = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[ignore = "needs iproute2 and root: run scripts/test-all"]
    fn a_pair_routes_between_its_ends_and_is_deleted_on_drop() {
        let pair = NetnsPair::create("unit").unwrap();
        let a = pair.addr(Side::A).to_string();
        let mut route = pair.command(Side::B, "ip");
        route.args(["route", "get", &a]);
        let out = run("ip route get", route, IP_LIMIT).unwrap();
        assert!(out.stdout.contains("veth-b"), "{}", out.stdout);
        let mut default = pair.command(Side::A, "ip");
        default.args(["route", "show", "default"]);
        assert_eq!(run("ip route show", default, IP_LIMIT).unwrap().stdout, "");
        let names = [pair.name(Side::A).to_owned(), pair.name(Side::B).to_owned()];
        drop(pair);
        let list = run(
            "ip netns list",
            {
                let mut c = Command::new("ip");
                c.args(["netns", "list"]);
                c
            },
            IP_LIMIT,
        )
        .unwrap()
        .stdout;
        for name in names {
            assert!(!list.contains(&name), "{name} still listed:\n{list}");
        }
    }
}
