//! Docker's side of the plugin: the remote network driver and IPAM driver protocols
//! (`api`), the unix-socket HTTP server Docker calls (`server`), and a small client of
//! the Docker Engine API (`engine`, for `attach --docker` and reconciling at start).
//!
//! This module owns the wire: decoding Docker's requests (which carry no Content-Type),
//! encoding replies (`{}` on success, `Err`/`Error` on failure), and routing each
//! `Subsystem.Method` to the [`Driver`] seam. It holds no state and decides nothing:
//! what a network or an endpoint means is `plugin`'s job, behind that trait, so the
//! protocol is tested against a recording implementation and the behaviour against the
//! real engine.
//!
//! Sources for every field and quirk: `research/docker-plugin.md` in the shared folder
//! (libnetwork's `drivers/remote/api/api.go`, `ipams/remote/api/api.go`).

pub mod api;
pub mod engine;
pub mod server;

pub use server::{dispatch, serve, Reply, Serving};

use api::*;

/// What the plugin does; the protocol calls it and only encodes its answers. Every
/// error is shown to the person who ran the `docker` command, so it says what was wrong
/// and how to fix it.
pub trait Driver: Send + Sync {
    /// Error shown to Docker.
    type Error: std::fmt::Display;

    /// `NetworkDriver.GetCapabilities`.
    fn capabilities(&self) -> Capabilities;
    /// `NetworkDriver.CreateNetwork`.
    fn create_network(&self, req: CreateNetwork) -> Result<(), Self::Error>;
    /// `NetworkDriver.DeleteNetwork`.
    fn delete_network(&self, req: NetworkRef) -> Result<(), Self::Error>;
    /// `NetworkDriver.CreateEndpoint`.
    fn create_endpoint(&self, req: CreateEndpoint) -> Result<CreateEndpointReply, Self::Error>;
    /// `NetworkDriver.DeleteEndpoint`.
    fn delete_endpoint(&self, req: EndpointRef) -> Result<(), Self::Error>;
    /// `NetworkDriver.EndpointOperInfo`.
    fn endpoint_info(&self, req: EndpointRef) -> Result<EndpointInfo, Self::Error>;
    /// `NetworkDriver.Join`.
    fn join(&self, req: Join) -> Result<JoinReply, Self::Error>;
    /// `NetworkDriver.Leave`.
    fn leave(&self, req: EndpointRef) -> Result<(), Self::Error>;
    /// `NetworkDriver.ProgramExternalConnectivity`.
    fn program_external(&self, req: ProgramExternal) -> Result<(), Self::Error>;
    /// `NetworkDriver.RevokeExternalConnectivity`.
    fn revoke_external(&self, req: EndpointRef) -> Result<(), Self::Error>;

    /// `IpamDriver.GetDefaultAddressSpaces`.
    fn address_spaces(&self) -> AddressSpaces;
    /// `IpamDriver.RequestPool`.
    fn request_pool(&self, req: RequestPool) -> Result<PoolReply, Self::Error>;
    /// `IpamDriver.ReleasePool`.
    fn release_pool(&self, req: ReleasePool) -> Result<(), Self::Error>;
    /// `IpamDriver.RequestAddress`.
    fn request_address(&self, req: RequestAddress) -> Result<AddressReply, Self::Error>;
    /// `IpamDriver.ReleaseAddress`.
    fn release_address(&self, req: ReleaseAddress) -> Result<(), Self::Error>;
}
