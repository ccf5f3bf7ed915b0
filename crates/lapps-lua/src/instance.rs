//! Loading a service into a VM and calling its callbacks (spec §3.2, §3.4, §3.5).
