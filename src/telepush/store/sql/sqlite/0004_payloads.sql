-- Payloads move out of the delivery row into their own table, written once at enqueue and
-- deleted when erased: claiming and recording then rewrite only a small delivery row, never
-- the document. A delivery with no payloads row has had its payload erased (superseded,
-- customer deleted, retention).
CREATE TABLE payloads (
    seq INTEGER PRIMARY KEY REFERENCES deliveries (seq) ON DELETE CASCADE,
    body BLOB NOT NULL
);

INSERT INTO payloads (seq, body) SELECT seq, payload FROM deliveries WHERE payload IS NOT NULL;

-- payload is in no index, constraint, view or trigger, so SQLite (3.35+) can drop it in
-- place; the store runs with secure_delete on, so the old bytes are overwritten.
ALTER TABLE deliveries DROP COLUMN payload;
