//! The deterministic simulation (see the simulation issue): a seeded world of clocks, network,
//! raft cluster, clients and faults. Built on the core, never the reverse.
