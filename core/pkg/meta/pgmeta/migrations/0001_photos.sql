-- Photos, the thumbnail index and the outbox of events for NATS JetStream.

-- IDs sort by creation time byte for byte (COLLATE "C"), which is what
-- pagination relies on. The unique sha256 is how concurrent uploads of the
-- same bytes, on any replica, yield one photo.
CREATE TABLE photos (
    id           text COLLATE "C" PRIMARY KEY,
    filename     text        NOT NULL,
    content_type text        NOT NULL,
    size_bytes   bigint      NOT NULL CHECK (size_bytes >= 0),
    sha256       text        NOT NULL UNIQUE,
    width        integer     NOT NULL,
    height       integer     NOT NULL,
    created_at   timestamptz NOT NULL
);

-- A thumbnail is recorded after its object is stored; the foreign key
-- refuses thumbnails of deleted photos, and deleting a photo drops its rows.
CREATE TABLE thumbnails (
    photo_id   text COLLATE "C" NOT NULL REFERENCES photos (id) ON DELETE CASCADE,
    size       integer     NOT NULL CHECK (size > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (photo_id, size)
);

-- Events written in the same transaction as the change they describe, and
-- removed once JetStream has stored them.
CREATE TABLE outbox (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id   text        NOT NULL UNIQUE,
    kind       text        NOT NULL,
    payload    bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
