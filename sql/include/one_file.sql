-- Included by the regression tests (psql \i, from the repository's root,
-- where pg_regress runs psql): a fresh directory :dir holding one.mid, a
-- one-note format-0 file, written by the server (lo_export).
SELECT format('cat >/dev/null; rm -rf %s && mkdir -p %s', :'dir', :'dir') AS cmd \gset
COPY (SELECT 1) TO PROGRAM :'cmd';
SELECT lo_from_bytea(0, decode('4d54686400000006000000010060' || '4d54726b00000013'
                               || '00ff510307a120' || '00903c64' || '60803c00' || '00ff2f00',
                               'hex')) AS lo \gset
SELECT lo_export(:lo, :'dir' || '/one.mid') AS exported;
SELECT lo_unlink(:lo) AS unlinked;
