//! What the node does, whatever asked: the operations that REST, WSX and other nodes reach
//! alike, and the one error they answer with. Transports (`http`, `wsx`) stay thin around it.

pub mod error;
