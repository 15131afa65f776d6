//! `tcp://HOST:PORT`: TCP with length-prefixed frames (in progress).
