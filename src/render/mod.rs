//! Renderings for people and machines; every renderer returns text and does no I/O.

pub mod graph;
