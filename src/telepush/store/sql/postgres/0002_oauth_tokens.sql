-- OAuth2 bearer tokens shared by every process: one per customer, for the customer's
-- revision it was fetched with, encrypted like the customer's secrets. A token row goes
-- with its customer.
CREATE TABLE oauth_tokens (
    customer_id text PRIMARY KEY REFERENCES customers (customer_id) ON DELETE CASCADE,
    revision integer NOT NULL,
    token_ciphertext bytea NOT NULL,
    expires_at timestamptz NOT NULL,
    fetched_by text NOT NULL
);
