//! The host side of serial module loading: endpoints (unix socket, TCP, pty, serial
//! device), the kx/1 sender, and the interactive console.
#![forbid(unsafe_code)]

pub use kabi::kx as frame;

pub mod attach;
pub mod kx;
pub mod link;

pub use link::{Endpoint, Link, Wire};
