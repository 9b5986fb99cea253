-- PostgreSQL announces wallet changes to every server (LISTEN/NOTIFY triggers).
-- SQLite has one server per database file, which learns of its own writes
-- directly: nothing to create here.
select 1;
