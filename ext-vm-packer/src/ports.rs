//! Free ports for a machine's forwarded endpoints on the forward address: asked of
//! the kernel (bind to port 0) and released just before QEMU binds them; a lost
//! race makes QEMU fail to start, and the start is tried again with new ports.

use std::net::{Ipv4Addr, TcpListener};

/// `count` distinct free ports on `address`.
pub fn free_ports(address: Ipv4Addr, count: usize) -> std::io::Result<Vec<u16>> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind((address, 0)))
        .collect::<Result<_, _>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ports_are_distinct_and_bindable() {
        let ports = super::free_ports(std::net::Ipv4Addr::LOCALHOST, 3).unwrap();
        assert_eq!(ports.len(), 3);
        assert!(ports[0] != ports[1] && ports[1] != ports[2] && ports[0] != ports[2]);
        std::net::TcpListener::bind(("127.0.0.1", ports[0])).unwrap();
    }
}
