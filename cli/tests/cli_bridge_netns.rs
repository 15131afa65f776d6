//! `ipcring bridge` across two hosts: the project's own test hosts A and B are two network
//! namespaces joined by a veth pair (`common::nats::Netns`: made without privileges inside a
//! user namespace, `10.77.0.1` and `10.77.0.2`, nothing else reachable from either). Host A
//! runs `nats-server` on its veth address, the C producer, ring IN and the bridge IN →
//! `nats://10.77.0.1:PORT/CHAN`; host B runs the bridge `nats://10.77.0.1:PORT/CHAN` → ring OUT
//! and the consumer, which checks every sequence number and checksum (the same pipeline and
//! checker as `cli_bridge.rs`, `common::nats::run_pipeline`). B reaches A only over the veth
//! pair. The count is `IPCRING_NATS_NETNS_N` (default 200,000).
//!
//! Where the machine refuses the namespaces (no `unshare`, `ip` or `nsenter`; user or network
//! namespaces denied; no veth), the test says why on stderr (past the harness's capture) and
//! passes as SKIPPED; `IPCRING_REQUIRE_NETNS=1` makes that a failure. Any other failure fails.
#![cfg(unix)]

#[path = "../../tests/common/mod.rs"]
mod common;

use common::nats::{run_pipeline, NatsServer, Netns, NETNS_IP_A};
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_ipcring");

#[test]
fn child_entry() {
    common::child_entry(common::nats::pipeline_role);
}

#[test]
fn c_to_shm_to_nats_to_shm_to_rust_across_network_namespaces() {
    let _g = common::serial();
    let n = common::env_u64("IPCRING_NATS_NETNS_N", 200_000);
    // Dropped last (declared first): the namespaces outlive every process in them.
    let ns = match Netns::create() {
        Ok(ns) => ns,
        Err(why) => {
            let required = std::env::var("IPCRING_REQUIRE_NETNS").is_ok_and(|v| v == "1");
            assert!(!required, "IPCRING_REQUIRE_NETNS=1 but the machine refuses: {why}");
            common::raw_stderr(&format!(
                "SKIPPED cli_bridge_netns: this machine refuses network namespaces: {why}\n"
            ));
            return;
        }
    };
    let srv = NatsServer::start_on(ns.a.clone(), NETNS_IP_A);
    let run = run_pipeline(Path::new(BIN), &srv, &ns.a, &ns.b, n, "netns A->B");
    assert_eq!(run.n, n);
}
