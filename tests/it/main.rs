mod lessor_props;
mod expiry;
mod scenarios;
mod traces;
