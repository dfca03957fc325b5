-- The authorization server's token-signing keys (RS256).
--
-- A key is published in the JWKS from the moment its row exists, and signs
-- from active_at until the next key (in active_at, id order) becomes active.
-- When it retires is therefore not stored but derived from its successor:
-- a pending key that is superseded before it ever signs is simply deleted,
-- and its predecessor's retirement moves with it. A retired key stays
-- published for the access-token lifetime plus a margin, so that every
-- token it signed can still be verified until it expires.
--
-- private_key is the PKCS#8 DER of the private key when encrypted = 0, or,
-- when encrypted = 1, the AES-256-GCM nonce (12 bytes) followed by the
-- ciphertext and tag of that DER, sealed with the kid as associated data
-- (so a blob cannot be moved to another row). public_key is the key's
-- PKIX (SubjectPublicKeyInfo) DER, kept beside it in the clear so that the
-- JWKS and the resource server's verifier never need the encryption key.
--
-- Timestamps are INTEGER unix nanoseconds (UTC), like the other tables.

CREATE TABLE signing_keys (
    -- id orders keys that become active at the same instant (a rotation
    -- with --now in the same nanosecond as the previous activation): the
    -- later row wins.
    id          INTEGER PRIMARY KEY,
    kid         TEXT    NOT NULL UNIQUE CHECK (kid <> ''),
    alg         TEXT    NOT NULL CHECK (alg = 'RS256'),
    private_key BLOB    NOT NULL,
    encrypted   INTEGER NOT NULL CHECK (encrypted IN (0, 1)),
    public_key  BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    active_at   INTEGER NOT NULL CHECK (active_at >= created_at)
) STRICT;

-- Signing order: the signer is the last key whose active_at has passed.
CREATE INDEX signing_keys_by_activation ON signing_keys (active_at, id);
