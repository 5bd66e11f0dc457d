//! The stand-in for the TCSS endpoint: real HTTP on loopback, TC3 verification, faults.
