//! Link, address and route operations over one netlink connection ([`Nl`]), and the
//! one-shot wrappers that run a single operation in a namespace.

use super::{ethtool, in_netns, LinuxError, Netns};
use futures_util::TryStreamExt;
use ipnet::Ipv4Net;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::{Handle, LinkUnspec, LinkVeth, RouteMessageBuilder};
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

/// What the kernel says about one link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkInfo {
    /// Interface index (namespace-local).
    pub index: u32,
    /// Name.
    pub name: String,
    /// MTU.
    pub mtu: Option<u32>,
    /// MAC address, when it has one of six bytes.
    pub mac: Option<[u8; 6]>,
    /// Administratively up.
    pub up: bool,
}

/// Settings to change on a link; `None` leaves a setting as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkSettings {
    /// New name.
    pub rename: Option<String>,
    /// MTU.
    pub mtu: Option<u32>,
    /// MAC address.
    pub mac: Option<[u8; 6]>,
    /// Bring it up (`Some(true)`) or down.
    pub up: Option<bool>,
}

/// A netlink connection inside one namespace (see [`in_netns`]).
pub struct Nl {
    pub(super) handle: Handle,
    pub(super) netns: Netns,
}

impl Nl {
    fn failed(&self, op: &'static str, link: &str, e: rtnetlink::Error) -> LinuxError {
        let errno = match &e {
            rtnetlink::Error::NetlinkError(msg) => msg.to_io().raw_os_error(),
            _ => None,
        };
        LinuxError::Netlink {
            op,
            link: link.to_string(),
            netns: self.netns.clone(),
            cause: e.to_string(),
            errno,
        }
    }

    /// The namespace this connection works in.
    pub fn netns(&self) -> &Netns {
        &self.netns
    }

    /// The link called `name`, if there is one.
    pub async fn link(&self, name: &str) -> Result<Option<LinkInfo>, LinuxError> {
        let mut found = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match found.try_next().await {
            Ok(Some(msg)) => Ok(Some(info(&msg))),
            Ok(None) => Ok(None),
            Err(e) => {
                let err = self.failed("look up", name, e);
                match &err {
                    LinuxError::Netlink {
                        errno: Some(libc::ENODEV),
                        ..
                    } => Ok(None),
                    _ => Err(err),
                }
            }
        }
    }

    /// The link called `name`, or [`LinuxError::NoLink`].
    pub async fn need(&self, name: &str) -> Result<LinkInfo, LinuxError> {
        self.link(name).await?.ok_or_else(|| LinuxError::NoLink {
            link: name.to_string(),
            netns: self.netns.clone(),
        })
    }

    /// Every link in the namespace.
    pub async fn links(&self) -> Result<Vec<LinkInfo>, LinuxError> {
        let mut all = self.handle.link().get().execute();
        let mut out = Vec::new();
        while let Some(msg) = all
            .try_next()
            .await
            .map_err(|e| self.failed("list", "*", e))?
        {
            out.push(info(&msg));
        }
        Ok(out)
    }

    /// Creates a veth pair `name` / `peer`, both with `mtu`.
    pub async fn create_veth(&self, name: &str, peer: &str, mtu: u32) -> Result<(), LinuxError> {
        let msg = LinkVeth::new(name, peer).mtu(mtu).build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(|e| self.failed("create veth", name, e))?;
        // The peer is created with the default MTU; set it too.
        self.set(
            peer,
            &LinkSettings {
                mtu: Some(mtu),
                ..LinkSettings::default()
            },
        )
        .await
    }

    /// Moves `name` into the namespace whose file is `target`.
    pub async fn move_to(&self, name: &str, target: &File) -> Result<(), LinuxError> {
        let msg = LinkUnspec::new_with_name(name)
            .setns_by_fd(target.as_raw_fd())
            .build();
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(|e| self.failed("move to another namespace", name, e))
    }

    /// Changes the settings of `name` (renaming first, so the rest applies to it).
    pub async fn set(&self, name: &str, settings: &LinkSettings) -> Result<(), LinuxError> {
        let index = self.need(name).await?.index;
        let mut b = LinkUnspec::new_with_index(index);
        if let Some(new) = &settings.rename {
            b = b.name(new.clone());
        }
        if let Some(mtu) = settings.mtu {
            b = b.mtu(mtu);
        }
        if let Some(mac) = settings.mac {
            b = b.address(mac.to_vec());
        }
        b = match settings.up {
            Some(true) => b.up(),
            Some(false) => b.down(),
            None => b,
        };
        self.handle
            .link()
            .set(b.build())
            .execute()
            .await
            .map_err(|e| self.failed("set", name, e))
    }

    /// Adds `address/prefix_len` to `name`.
    pub async fn add_address(
        &self,
        name: &str,
        address: Ipv4Addr,
        prefix_len: u8,
    ) -> Result<(), LinuxError> {
        let index = self.need(name).await?.index;
        self.handle
            .address()
            .add(index, IpAddr::V4(address), prefix_len)
            .execute()
            .await
            .map_err(|e| self.failed("add an address to", name, e))
    }

    /// The IPv4 address messages of the link with index `index` (`name` for errors).
    async fn ipv4_messages(
        &self,
        index: u32,
        name: &str,
    ) -> Result<Vec<AddressMessage>, LinuxError> {
        let mut found = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        let mut out = Vec::new();
        while let Some(msg) = found
            .try_next()
            .await
            .map_err(|e| self.failed("list addresses of", name, e))?
        {
            // The filter is a hint some kernels ignore: check the index ourselves.
            if msg.header.index == index && msg.header.family == AddressFamily::Inet {
                out.push(msg);
            }
        }
        Ok(out)
    }

    /// The IPv4 addresses of `name`, with their prefix lengths.
    pub async fn ipv4_addresses(&self, name: &str) -> Result<Vec<Ipv4Net>, LinuxError> {
        let index = self.need(name).await?.index;
        let messages = self.ipv4_messages(index, name).await?;
        Ok(messages.iter().filter_map(ipv4_net).collect())
    }

    /// Removes `net` from `name`; an address it does not carry is nothing to do.
    pub async fn del_address(&self, name: &str, net: Ipv4Net) -> Result<(), LinuxError> {
        let index = self.need(name).await?.index;
        for msg in self.ipv4_messages(index, name).await? {
            if ipv4_net(&msg) == Some(net) {
                self.handle
                    .address()
                    .del(msg)
                    .execute()
                    .await
                    .map_err(|e| self.failed("remove an address from", name, e))?;
            }
        }
        Ok(())
    }

    /// Removes every IPv4 address of `name`.
    pub async fn flush_addresses(&self, name: &str) -> Result<(), LinuxError> {
        let index = self.need(name).await?.index;
        for msg in self.ipv4_messages(index, name).await? {
            self.handle
                .address()
                .del(msg)
                .execute()
                .await
                .map_err(|e| self.failed("remove an address from", name, e))?;
        }
        Ok(())
    }

    /// Adds the default route via `gateway` out of `name`.
    pub async fn add_default_route(&self, name: &str, gateway: Ipv4Addr) -> Result<(), LinuxError> {
        let index = self.need(name).await?.index;
        let msg = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gateway)
            .output_interface(index)
            .build();
        self.handle
            .route()
            .add(msg)
            .execute()
            .await
            .map_err(|e| self.failed("add the default route via", name, e))
    }

    /// Deletes `name` (for a veth, both ends go). Absent: nothing to do, `false`.
    pub async fn delete(&self, name: &str) -> Result<bool, LinuxError> {
        let Some(link) = self.link(name).await? else {
            return Ok(false);
        };
        match self.handle.link().del(link.index).execute().await {
            Ok(()) => Ok(true),
            Err(e) => match self.failed("delete", name, e) {
                // Gone meanwhile (its namespace went away): the outcome asked for.
                LinuxError::Netlink {
                    errno: Some(libc::ENODEV),
                    ..
                } => Ok(false),
                err => Err(err),
            },
        }
    }

    /// Switches tx checksum offload off on `name` (this thread is in the namespace).
    pub fn tx_offload_off(&self, name: &str) -> Result<(), LinuxError> {
        ethtool::tx_csum_off(name).map_err(|cause| LinuxError::Ethtool {
            link: name.to_string(),
            netns: self.netns.clone(),
            cause: cause.to_string(),
        })
    }
}

fn info(msg: &LinkMessage) -> LinkInfo {
    let mut out = LinkInfo {
        index: msg.header.index,
        name: String::new(),
        mtu: None,
        mac: None,
        up: msg.header.flags.contains(LinkFlags::Up),
    };
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(name) => out.name.clone_from(name),
            LinkAttribute::Mtu(mtu) => out.mtu = Some(*mtu),
            LinkAttribute::Address(bytes) => out.mac = <[u8; 6]>::try_from(bytes.as_slice()).ok(),
            _ => {}
        }
    }
    out
}

/// The address of an IPv4 address message, with its prefix length.
fn ipv4_net(m: &AddressMessage) -> Option<Ipv4Net> {
    m.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(IpAddr::V4(ip)) | AddressAttribute::Address(IpAddr::V4(ip)) => {
            Ipv4Net::new(*ip, m.header.prefix_len).ok()
        }
        _ => None,
    })
}

/// The link `name` in `netns`, if any.
pub fn link(netns: &Netns, name: &str) -> Result<Option<LinkInfo>, LinuxError> {
    let name = name.to_string();
    in_netns(netns, move |nl| async move { nl.link(&name).await })
}

/// Whether `name` exists in `netns`.
pub fn link_exists(netns: &Netns, name: &str) -> Result<bool, LinuxError> {
    Ok(link(netns, name)?.is_some())
}

/// Every link in `netns`.
pub fn links(netns: &Netns) -> Result<Vec<LinkInfo>, LinuxError> {
    in_netns(netns, |nl| async move { nl.links().await })
}

/// Creates a veth pair `name` / `peer` in `netns`, both ends with `mtu`.
pub fn create_veth(netns: &Netns, name: &str, peer: &str, mtu: u32) -> Result<(), LinuxError> {
    let (name, peer) = (name.to_string(), peer.to_string());
    in_netns(netns, move |nl| async move {
        nl.create_veth(&name, &peer, mtu).await
    })
}

/// Moves link `name` from `netns` into `target`.
pub fn move_link(netns: &Netns, name: &str, target: &Netns) -> Result<(), LinuxError> {
    let file = target_file(target)?;
    let name = name.to_string();
    in_netns(
        netns,
        move |nl| async move { nl.move_to(&name, &file).await },
    )
}

/// The namespace file of `target`; for the current namespace, this thread's own.
pub(crate) fn target_file(target: &Netns) -> Result<File, LinuxError> {
    match target.open()? {
        Some(file) => Ok(file),
        None => File::open("/proc/thread-self/ns/net").map_err(|e| LinuxError::NoNamespace {
            netns: target.clone(),
            cause: e.to_string(),
        }),
    }
}

/// Changes settings of `name` in `netns`.
pub fn set_link(netns: &Netns, name: &str, settings: &LinkSettings) -> Result<(), LinuxError> {
    let (name, settings) = (name.to_string(), settings.clone());
    in_netns(
        netns,
        move |nl| async move { nl.set(&name, &settings).await },
    )
}

/// Adds `address/prefix_len` to `name` in `netns`.
pub fn add_address(
    netns: &Netns,
    name: &str,
    address: Ipv4Addr,
    prefix_len: u8,
) -> Result<(), LinuxError> {
    let name = name.to_string();
    in_netns(netns, move |nl| async move {
        nl.add_address(&name, address, prefix_len).await
    })
}

/// Adds the default route via `gateway` out of `name` in `netns`.
pub fn add_default_route(netns: &Netns, name: &str, gateway: Ipv4Addr) -> Result<(), LinuxError> {
    let name = name.to_string();
    in_netns(netns, move |nl| async move {
        nl.add_default_route(&name, gateway).await
    })
}

/// Deletes `name` in `netns`; `false` when it was not there.
pub fn delete_link(netns: &Netns, name: &str) -> Result<bool, LinuxError> {
    let name = name.to_string();
    in_netns(netns, move |nl| async move { nl.delete(&name).await })
}
