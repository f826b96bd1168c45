mod lessor_props;
mod expiry;
mod scenarios;
