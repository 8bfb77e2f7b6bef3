//! Story tests of the simulator.
