mod expiry;
