-- Payloads move out of the delivery row into their own table, written once at enqueue and
-- deleted when erased: claiming and recording then write a new version of a small delivery
-- row, never of the document. A delivery with no payloads row has had its payload erased
-- (superseded, customer deleted, retention).
CREATE TABLE payloads (
    seq bigint PRIMARY KEY REFERENCES deliveries (seq) ON DELETE CASCADE,
    body bytea NOT NULL
);

INSERT INTO payloads (seq, body) SELECT seq, payload FROM deliveries WHERE payload IS NOT NULL;

ALTER TABLE deliveries DROP COLUMN payload;
