#[cfg(feature = "etcd")]
mod conform;
mod expiry;
mod lessor_props;
mod scenarios;
mod sim;
mod traces;
