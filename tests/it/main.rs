mod lessor_props;
mod expiry;
