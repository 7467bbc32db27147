//! The [`Ports`] seam implemented by the attach library: the one way ovsnet plugs a
//! container. An IPAM RequestAddress becomes an `attach` with
//! [`Placement::LeaveInHost`]: veth, port and address in one transaction, the inner end
//! left for Docker under a name chosen here. Docker looks that name up in *its own*
//! network namespace, which is not the switch's in the lab (a lab host's switch runs in
//! the lab host's namespace, the engine in the root one): the inner end is then moved
//! into the engine's namespace at once, the only thing the plugin ever creates there,
//! and Docker moves it into the container a moment later.

use super::{Plugged, Ports};
use crate::attach::{self, AttachError, AttachRequest, Identity, Placement, Selector};
use crate::linux::{self, Netns};
use crate::ovsdb::Client;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Where the switch and the engine live.
#[derive(Debug, Clone)]
pub struct AttachPorts {
    /// The namespace ovs-vswitchd runs in (outer veth ends).
    pub host_netns: Netns,
    /// The engine's namespace, where Docker expects the inner end (`Current` when the
    /// plugin runs beside dockerd).
    pub engine_netns: Netns,
    /// Deadline for OVSDB, the switch and allocation races.
    pub timeout: Duration,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A token unique to this process and call, for the pending port's identity and veth.
fn token() -> String {
    use sha2::{Digest, Sha256};
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let digest = Sha256::digest(format!("{}:{n}:{nanos}", std::process::id()).as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

impl Ports for AttachPorts {
    fn plug(
        &self,
        ovsdb: &str,
        vlan: &str,
        address: Option<Ipv4Addr>,
        _marks: &BTreeMap<String, String>,
    ) -> Result<Plugged, String> {
        let mut client = Client::connect(ovsdb, self.timeout).map_err(|e| e.to_string())?;
        let token = token();
        // `ovd` + 12 hex: 15 bytes, the interface name limit.
        let veth = format!("ovd{token}");
        let req = AttachRequest {
            vlan: vlan.to_string(),
            // The container is not known yet (the protocol never names it); the reconciler
            // writes its ID once Docker lists the endpoint.
            identity: Identity::Docker {
                container: format!("pending-{token}"),
                endpoint: String::new(),
                network: String::new(),
            },
            placement: Placement::LeaveInHost(veth.clone()),
            host_netns: self.host_netns.clone(),
            ip: address,
            mac: None,
            ifname: "eth0".into(),
            timeout: self.timeout,
        };
        let attached = attach::attach(&mut client, &req).map_err(|e| e.to_string())?;
        if self.engine_netns != self.host_netns {
            if let Err(e) = linux::move_link(&self.host_netns, &veth, &self.engine_netns) {
                let _ = self.unplug(ovsdb, &attached.port);
                return Err(format!(
                    "cannot move `{veth}` where the Docker engine sees it: {e}"
                ));
            }
        }
        Ok(Plugged {
            port: attached.port,
            address: attached.address,
            veth,
        })
    }

    fn unplug(&self, ovsdb: &str, port: &str) -> Result<(), String> {
        let mut client = Client::connect(ovsdb, self.timeout).map_err(|e| e.to_string())?;
        match attach::detach(
            &mut client,
            &self.host_netns,
            &Selector::Port(port.to_string()),
        ) {
            Ok(_) | Err(AttachError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}
