CREATE TABLE photos (id text PRIMARY KEY);
