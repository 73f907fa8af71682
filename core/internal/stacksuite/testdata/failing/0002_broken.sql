CREATE TABLE half_done (id integer);
ALTER TABLE photos ADD COLUMN title text;
SELECT no_such_function();
