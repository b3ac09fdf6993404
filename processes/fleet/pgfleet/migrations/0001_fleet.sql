-- The registry: one row per host. seats counts the session records that
-- hold a seat (pending, running, terminating); the placement query reads
-- it with the capacity.
CREATE TABLE sessionkit_fleet_hosts (
	id             text COLLATE "C" PRIMARY KEY,
	cluster_id     text NOT NULL,
	cluster_name   text NOT NULL,
	region         text NOT NULL,
	platform       text NOT NULL,
	capacity       int NOT NULL,
	addr           text NOT NULL,
	connected      boolean NOT NULL,
	sessions       int NOT NULL DEFAULT 0,
	seats          int NOT NULL DEFAULT 0 CHECK (seats >= 0),
	beats          bigint NOT NULL DEFAULT 0,
	last_heartbeat timestamptz NOT NULL,
	registered_at  timestamptz NOT NULL
);

-- One row per placed session: where it lives and in which state.
CREATE TABLE sessionkit_fleet_sessions (
	id           text COLLATE "C" PRIMARY KEY,
	workspace_id text NOT NULL,
	host_id      text COLLATE "C" NOT NULL,
	state        text NOT NULL,
	reason       text NOT NULL DEFAULT '',
	created_at   timestamptz NOT NULL,
	updated_at   timestamptz NOT NULL
);
CREATE INDEX sessionkit_fleet_sessions_host ON sessionkit_fleet_sessions (host_id, state);
CREATE INDEX sessionkit_fleet_sessions_open ON sessionkit_fleet_sessions (state)
	WHERE state IN ('pending', 'running', 'terminating', 'exited');

-- The durable commands: pending → sent → ack → completed | failed. seq
-- orders them. Only partial indexes cover seq, so that a claim can use
-- no other index than its own (a host's sent commands, oldest first) and
-- never walks past acknowledged rows; the recovery reads the pending
-- commands and the leased ones by their lease.
CREATE TABLE sessionkit_fleet_commands (
	id          text COLLATE "C" PRIMARY KEY,
	seq         bigint GENERATED ALWAYS AS IDENTITY,
	host_id     text COLLATE "C" NOT NULL,
	session_id  text COLLATE "C" NOT NULL,
	kind        text NOT NULL,
	payload     bytea,
	state       text NOT NULL,
	attempts    int NOT NULL DEFAULT 0,
	error       text NOT NULL DEFAULT '',
	result      bytea,
	created_at  timestamptz NOT NULL,
	sent_at     timestamptz,
	acked_at    timestamptz,
	done_at     timestamptz,
	lease_until timestamptz
);
CREATE INDEX sessionkit_fleet_commands_claim ON sessionkit_fleet_commands (host_id, seq) WHERE state = 'sent';
CREATE INDEX sessionkit_fleet_commands_pending ON sessionkit_fleet_commands (seq) WHERE state = 'pending';
CREATE INDEX sessionkit_fleet_commands_leased ON sessionkit_fleet_commands (lease_until) WHERE state IN ('sent', 'ack');
CREATE INDEX sessionkit_fleet_commands_session ON sessionkit_fleet_commands (session_id);
