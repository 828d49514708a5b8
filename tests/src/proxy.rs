//! A TCP proxy the test controls, to cut a node off from PostgreSQL or from its peers while its
//! process runs: [`TcpProxy::cut`] closes every open connection and holds new ones without
//! answering (a blackhole); [`TcpProxy::restore`] forwards again.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Links {
    cut: bool,
    /// Both sockets of every forwarded connection (closed by a cut).
    open: Vec<TcpStream>,
    /// Connections accepted during a cut: nothing read, nothing answered (closed on restore).
    held: Vec<TcpStream>,
}

pub struct TcpProxy {
    pub port: u16,
    links: Arc<Mutex<Links>>,
    stop: Arc<AtomicBool>,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards every connection to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().unwrap().port();
        let links: Arc<Mutex<Links>> = Arc::default();
        let stop: Arc<AtomicBool> = Arc::default();
        let (upstream, accepted_links, accept_stop) = (upstream.to_owned(), links.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if accept_stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let mut links = accepted_links.lock().unwrap();
                if links.cut {
                    links.held.push(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else { continue };
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else { continue };
                links.open.extend([c2, s2]);
                drop(links);
                let (Ok(c3), Ok(s3)) = (client.try_clone(), server.try_clone()) else { continue };
                std::thread::spawn(move || pump(client, server));
                std::thread::spawn(move || pump(s3, c3));
            }
        });
        TcpProxy { port, links, stop }
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Closes every open connection (both ways) and holds new ones unanswered.
    pub fn cut(&self) {
        let mut links = self.links.lock().unwrap();
        links.cut = true;
        for s in links.open.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Forwards new connections again; the ones held during the cut are closed.
    pub fn restore(&self) {
        let mut links = self.links.lock().unwrap();
        links.cut = false;
        for s in links.held.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Copies `from` → `to` until either side ends, then closes both.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr());
        let mut links = self.links.lock().unwrap();
        let Links { open, held, .. } = &mut *links;
        for s in open.drain(..).chain(held.drain(..)) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}
