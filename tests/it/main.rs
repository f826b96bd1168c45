#[cfg(feature = "etcd")]
mod conform;
mod expiry;
mod lessor_props;
mod locks;
mod scenarios;
mod show;
mod sim;
mod traces;
