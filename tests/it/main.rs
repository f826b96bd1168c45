mod lessor_props;
mod expiry;
mod sim;
mod scenarios;
mod traces;
#[cfg(feature = "etcd")]
mod conform;
