//! The naive reference model of SPEC §2–3 (simple maps, linear scans, no cleverness), used by the
//! property tests to judge the lessor's replies. Filled in by the property-test work.
