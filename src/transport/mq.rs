//! `mq://NAME`: POSIX message queues (in progress).
