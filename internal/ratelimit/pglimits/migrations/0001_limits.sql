-- The state of ratelimit's limiters, shared by every replica. Times are
-- unix nanoseconds (bigint), from the clocks of the replicas, which pass
-- them in; keys are bytes, because limiter keys hold names and client IDs
-- as the client sent them, which need not be UTF-8.

-- One row per key of a window (GCRA): tat is when its bucket is full
-- again, after which the row is the same as none and may go.
CREATE TABLE ratelimit_windows (
	limiter text    NOT NULL,
	key     bytea   NOT NULL,
	tat     bigint  NOT NULL,
	-- The answer of the last AllowN: RETURNING sees only the new row
	-- (before PostgreSQL 18), and a refusal leaves tat as it was.
	allowed boolean NOT NULL,
	PRIMARY KEY (limiter, key)
);
CREATE INDEX ratelimit_windows_tat ON ratelimit_windows (tat);

-- One row per key of a backoff: its failures since the last success
-- (forgotten once the last is Forget old), and its attempts in flight, as
-- a JSON object of each attempt's token and the end of its lease (so that
-- a replica that dies mid-attempt holds the slot for a lease at most).
-- expires is when the row is the same as none and may go: the later of
-- its last failure's forgetting and its last lease's end.
CREATE TABLE ratelimit_backoffs (
	limiter      text    NOT NULL,
	key          bytea   NOT NULL,
	failures     integer NOT NULL,
	last_failure bigint  NOT NULL,
	attempts     jsonb   NOT NULL,
	expires      bigint  NOT NULL,
	PRIMARY KEY (limiter, key)
);
CREATE INDEX ratelimit_backoffs_expires ON ratelimit_backoffs (expires);
