//! `unix:///path`: UNIX SOCK_SEQPACKET sockets (in progress).
