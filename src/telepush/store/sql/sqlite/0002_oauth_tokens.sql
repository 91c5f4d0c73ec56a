-- OAuth2 bearer tokens shared by every process: one per customer, for the customer's
-- revision it was fetched with, encrypted like the customer's secrets. A token row goes
-- with its customer. expires_at is REAL seconds since the epoch (UTC).
CREATE TABLE oauth_tokens (
    customer_id TEXT PRIMARY KEY REFERENCES customers (customer_id) ON DELETE CASCADE,
    revision INTEGER NOT NULL,
    token_ciphertext BLOB NOT NULL,
    expires_at REAL NOT NULL,
    fetched_by TEXT NOT NULL
);
