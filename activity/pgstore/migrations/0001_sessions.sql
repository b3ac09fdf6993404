-- The sessions of package activity, one row per namespace and name. The
-- primary key's index leads with the namespace: it serves List (one
-- namespace, in name order), Get and the batched activity updates.
CREATE TABLE sessionkit_activity_sessions (
	namespace     text COLLATE "C" NOT NULL,
	name          text COLLATE "C" NOT NULL,
	state         text NOT NULL,
	idle_timeout  bigint NOT NULL, -- nanoseconds: 0 inherits the Tracker's default, < 0 never idle
	last_activity timestamptz,     -- NULL: no activity recorded yet
	created_at    timestamptz NOT NULL,
	version       bigint NOT NULL CHECK (version > 0), -- the compare-and-set token
	PRIMARY KEY (namespace, name)
);
