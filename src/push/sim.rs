//! A many-peer simulation of block push (written next).
